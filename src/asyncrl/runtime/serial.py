"""The serial runtimes (``--serial``): the components of a process runtime, scheduled in one process.

For debugging (one stack, breakpoints work) and determinism: the same seed gives the same run, bit for bit.

- actor-learner algorithms: the :class:`~asyncrl.runtime.actor.Actor` objects take turns, each filling
  one of its free slots; the :class:`~asyncrl.runtime.learner.Learner` updates as soon as
  ``batch_rollouts`` slots are full and frees them.
- Hogwild algorithms: the :class:`~asyncrl.runtime.hogwild.HogwildWorker` objects take turns, each
  syncing, collecting one rollout and updating the shared model. With one worker this is exactly
  what the process runtime computes.
"""

from __future__ import annotations

import time

import torch

from asyncrl.nn.normalize import synced_tensors
from asyncrl.runtime.actor import Actor, actor_seed
from asyncrl.runtime.control import NonFiniteGuard
from asyncrl.runtime.hogwild import HogwildWorker, optimizers_state, worker_optimizers, worker_seed, worker_stats
from asyncrl.runtime.learner import Learner, learn_full_slots
from asyncrl.runtime.setup import RunSetup
from asyncrl.runtime.slots import SlotLedger, build_slots
from asyncrl.runtime.stats import StatsWindow, record_report
from asyncrl.runtime.weights import WeightStore


def run_serial(setup: RunSetup) -> None:
    """The actor-learner algorithms in one process (see the module docstring)."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    c = control.counters
    slots = build_slots(cfg, setup.algo, model, setup.obs_dtype)
    weights = WeightStore(synced_tensors(model))
    learner = Learner(cfg, setup.algo, model, slots, weights, version=c.updates,
                      optimizer_state=setup.optimizer_state, schedule=control.schedule)
    actors = [Actor(cfg, setup.algo, model.spec, slots, weights, actor_seed(cfg.run.seed, r, c.env_steps))
              for r in range(cfg.runtime.workers)]
    ledger = SlotLedger(cfg.runtime.workers, cfg.runtime.slots_per_actor)
    free = [ledger.hand_out(r) for r in range(cfg.runtime.workers)]  # each actor's free slots, oldest first
    window = StatsWindow()
    control.extra_progress = lambda: window.progress(len(ledger.ready))

    def hand_back(rank: int) -> None:
        free[rank] += ledger.hand_out(rank)

    try:
        stop = False
        while not stop:
            for rank, actor in enumerate(actors):
                if free[rank]:
                    slot = free[rank].pop(0)
                    record_report(control, window, rank, actor.step(slot))
                    ledger.filled(slot)
                learn_full_slots(cfg, learner, ledger, window, c, hand_back)
                window.log(control, len(ledger.ready))
                if control.tick(learner.model_state, learner.optimizer_state):
                    stop = True
                    break
        window.log(control, len(ledger.ready), force=True)
    finally:
        for actor in actors:
            actor.close()
    control.finish(learner.model_state, learner.optimizer_state)


def run_hogwild_serial(setup: RunSetup) -> None:
    """The Hogwild algorithms in one process: the workers take turns (see the module docstring)."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    c = control.counters
    params: list[torch.Tensor] = list(model.parameters())
    optimizers = worker_optimizers(cfg, params, setup.optimizer_state)
    workers = [HogwildWorker(cfg, setup.algo, model, optimizers[r], worker_seed(cfg.run.seed, r, c.env_steps))
               for r in range(cfg.runtime.workers)]
    guard = NonFiniteGuard()
    stats: dict[str, list[float]] = {}
    last_metrics = time.perf_counter()

    def opt_state_fn() -> dict:
        return optimizers_state(cfg, optimizers)

    try:
        stop = False
        while not stop:
            for rank, worker in enumerate(workers):
                n, s = worker.step(control.schedule(c.env_steps))
                s["policy_lag_mean"] = s["policy_lag_max"] = 0.0  # each worker syncs right before its update
                c.env_steps += n
                c.updates += 1
                control.episodes(c.env_steps, worker.take_episodes(), rank)
                for k, v in s.items():
                    stats.setdefault(k, []).append(v)
                if time.perf_counter() - last_metrics >= 1.0:
                    control.metrics(worker_stats(stats))
                    stats.clear()
                    last_metrics = time.perf_counter()
                guard.update(s["skipped_updates"] > 0)
                if control.tick(model.state_dict, opt_state_fn):  # (the step budget among the reasons)
                    stop = True
                    break
        if stats:
            control.metrics(worker_stats(stats))
    finally:
        for worker in workers:
            worker.close()
    control.finish(model.state_dict, opt_state_fn)
