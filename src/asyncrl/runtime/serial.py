"""The serial runtime: the actor-learner algorithms' :class:`~asyncrl.runtime.actor.Actor` and
:class:`~asyncrl.runtime.learner.Learner` objects, scheduled in one process (``--serial``).

For debugging (one stack, breakpoints work) and determinism: the actors take turns, each filling
one of its free slots; the learner updates as soon as ``batch_rollouts`` slots are full and frees
them. The same seed gives the same run, bit for bit.
"""

from __future__ import annotations

import torch

from asyncrl.config import TrainConfig
from asyncrl.nn.model import ActorCritic
from asyncrl.runtime.actor import Actor, actor_seed
from asyncrl.runtime.actor_learner import StatsWindow, build_slots, learn_full_slots, record_report
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.learner import Learner
from asyncrl.runtime.slots import SlotLedger
from asyncrl.runtime.weights import WeightStore


def run_serial(cfg: TrainConfig, model: ActorCritic, control: TrainingControl, optimizer_state: dict | None,
               obs_dtype: torch.dtype) -> None:
    c = control.counters
    slots = build_slots(cfg, model, obs_dtype)
    weights = WeightStore(list(model.parameters()))
    learner = Learner(cfg, model, slots, weights, version=c.updates, optimizer_state=optimizer_state,
                      schedule=control.schedule)
    actors = [Actor(cfg, model.spec, slots, weights, actor_seed(cfg.seed, r, c.env_steps)) for r in range(cfg.workers)]
    ledger = SlotLedger(cfg.workers, cfg.slots_per_actor)
    free = [ledger.hand_out(r) for r in range(cfg.workers)]  # each actor's free slots, oldest first
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
