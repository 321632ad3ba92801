"""The Hogwild runtime (A3C, Mnih et al., 2016): worker processes update one shared model.

Each worker owns its envs and a local model copy. Per rollout it copies the shared weights
into the local model, collects ``n_steps`` steps, computes the loss and gradients locally and
applies them to the shared parameters with the optimizer (whose statistics are shared by all
workers, or the worker's own with ``--no-shared-optimizer``). Gradients are passed to the
optimizer explicitly (``opt.step(shared_params, local_grads)``), so the hand-off is fresh on
every step. Each update also measures its policy lag: how many other workers' updates were counted
between this worker's sync and its own update (approximate: an update is counted after its
optimizer step, so one in flight during the sync is counted as lag). The parent process only supervises:
it logs episodes and metrics, runs the test process, writes checkpoints, and stops the workers; a worker
that raises or dies ends the run. Workers stop themselves at the step budget and wait when the parent is
behind with their reports (a bounded queue), so the parent always gets back to its stop checks.
"""

from __future__ import annotations

import json
import queue
import sys
import time
import traceback

import numpy as np
import torch

from asyncrl.algos import get_algorithm
from asyncrl.algos.actor_critic import A3C
from asyncrl.algos.base import Algorithm
from asyncrl.config import RunConfig, config_json, tree_from_flat
from asyncrl.nn.build import make_model
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.normalize import observe_rollout, synced_tensors
from asyncrl.optim.grads import TrainStep
from asyncrl.runtime.control import NonFiniteGuard, TrainingControl, mean_stats
from asyncrl.runtime.procs import TrainingDiverged, WorkerFailed, child_preamble, get_context, stop_processes
from asyncrl.runtime.rollout import RolloutCollector
from asyncrl.runtime.schedule import LrSchedule
from asyncrl.runtime.setup import RunSetup, optimizer_for, train_collector, train_envs


def hogwild_step(local: PolicyNet, shared: PolicyNet, optimizer, collector: RolloutCollector,
                 cfg: RunConfig, lr: float, algo: Algorithm = A3C,
                 generator: torch.Generator | None = None) -> tuple[int, dict[str, float]]:
    """One A3C worker iteration: sync, roll out, compute gradients, update the shared model.

    ``algo`` gives the update rule (default: A3C's actor-critic loss) with the hyperparameters of ``cfg``; its
    gradients, computed on ``local``, are applied to the parameters of ``shared``, and the rollout is merged
    into ``shared``'s normalisers (if any; without a lock, as the parameters: a merge racing another worker's
    can lose one of the two).
    Returns the number of env steps taken and the update's statistics.
    """
    with torch.no_grad():
        torch._foreach_copy_(synced_tensors(local), synced_tensors(shared))  # weights and normaliser statistics
    rollout = collector.collect()
    step = TrainStep(list(local.parameters()), optimizer, cfg.optim.max_grad_norm, apply_to=list(shared.parameters()),
                     lr=lr)
    stats = algo.update(local, rollout, cfg, step, generator or torch.Generator())
    observe_rollout(shared, rollout)
    return rollout.num_steps, {**stats, "lr": lr}


def worker_seed(seed: int, rank: int, env_steps: int) -> int:
    """Distinct, collision-free seeds per (run seed, worker, resume point)."""
    return int(np.random.SeedSequence([seed, rank, env_steps]).generate_state(1)[0])


class HogwildWorker:
    """One Hogwild worker without its process: its envs, a local model copy and its optimizer.

    :meth:`step` syncs the local copy from the shared model, collects ``n_steps`` and applies the
    algorithm's update to the shared parameters. The process runtime (:func:`run_hogwild`) runs one per
    process; the serial runtime (:func:`asyncrl.runtime.serial.run_hogwild_serial`) takes turns with them
    in one process.
    """

    def __init__(self, cfg: RunConfig, algo: Algorithm, shared: PolicyNet, optimizer, seed: int):
        torch.manual_seed(seed)
        self.cfg, self.algo, self.optimizer = cfg, algo, optimizer
        self.local, self.shared = make_model(shared.spec), shared
        self.venv = train_envs(cfg, seed)
        self.collector = train_collector(cfg, algo, self.venv, self.local, seed)
        self.generator = torch.Generator().manual_seed(seed)

    def step(self, lr: float) -> tuple[int, dict[str, float]]:
        """One rollout and one update of the shared model at ``lr``: ``(env steps, statistics)``."""
        return hogwild_step(self.local, self.shared, self.optimizer, self.collector, self.cfg, lr, self.algo,
                            self.generator)

    def take_episodes(self) -> list[tuple[float, int]]:
        """The episodes ``(return, length)`` finished since the last call."""
        finished, self.collector.finished = self.collector.finished, []
        return finished

    def close(self) -> None:
        self.venv.close()


def _worker_main(rank: int, cfg_json: str, shared: PolicyNet, optimizer, schedule: LrSchedule,
                 step_counter, update_counter, ready, stop_event, out_q) -> None:
    child_preamble()
    try:
        cfg = tree_from_flat(json.loads(cfg_json))
        worker = HogwildWorker(cfg, get_algorithm(cfg.algo), shared, optimizer,
                               worker_seed(cfg.run.seed, rank, step_counter.get_obj().value))
        guard = NonFiniteGuard()
        stats: dict[str, list[float]] = {}
        # Start together: under spawn a worker takes seconds to import torch, and an early one
        # would otherwise spend a small step budget alone.
        with ready.get_lock():
            ready.value += 1
        while ready.value < cfg.runtime.workers and not stop_event.is_set():
            time.sleep(0.005)
        last_report = time.perf_counter()
        steps = step_counter.value
        budget = cfg.run.total_steps
        while not stop_event.is_set() and (budget is None or steps < budget):
            lr = schedule(steps)
            synced_at = update_counter.get_obj().value  # the shared model's version this rollout acts with
            n, s = worker.step(lr)
            with update_counter.get_lock():  # policy lag: other workers' updates since this one synced
                s["policy_lag_mean"] = s["policy_lag_max"] = float(update_counter.value - synced_at)
                update_counter.value += 1
            with step_counter.get_lock():
                step_counter.value += n
                steps = step_counter.value
            if finished := worker.take_episodes():
                _put(out_q, ("episodes", rank, steps, finished), stop_event)
            for k, v in s.items():
                stats.setdefault(k, []).append(v)
            if time.perf_counter() - last_report >= 1.0:
                _put(out_q, ("metrics", rank, len(stats["lr"]), worker_stats(stats)), stop_event)
                stats.clear()
                last_report = time.perf_counter()
            guard.update(s["skipped_updates"] > 0)
        if stats:
            _put(out_q, ("metrics", rank, len(stats["lr"]), worker_stats(stats)), stop_event, patience=1.0)
        worker.close()
    except Exception as e:
        tb = str(e) if isinstance(e, TrainingDiverged) else traceback.format_exc()
        print(f"asyncrl worker {rank} failed:\n{tb}", file=sys.stderr, flush=True)
        _put(out_q, ("diverged" if isinstance(e, TrainingDiverged) else "error", rank, tb), None, patience=10.0)
        out_q.close()
        out_q.join_thread()
        sys.exit(1)


def _put(out_q, msg, stop_event, patience: float = 0.0) -> bool:
    """Put ``msg`` on the bounded queue, waiting while it is full (backpressure: a worker that finishes
    episodes faster than the parent can log them slows down instead of piling them up). Gives up when
    ``stop_event`` is set, or after ``patience`` seconds once it is (or at once without a ``stop_event``)."""
    deadline = None
    while True:
        try:
            out_q.put(msg, timeout=0.1)
            return True
        except queue.Full:
            if stop_event is None or stop_event.is_set():
                deadline = deadline or time.monotonic() + patience
                if time.monotonic() >= deadline:
                    return False


def worker_optimizers(cfg: RunConfig, params: list[torch.Tensor], saved: dict | None) -> list:
    """The optimizer of each worker, all created (and their state put in shared memory) before any worker starts.

    With ``shared_optimizer`` every worker gets the same object (the paper's shared statistics); without
    it each worker gets its own, still in shared memory, so that the parent can checkpoint each worker's
    statistics and a resume restores them (``{"workers": [state_0, state_1, ...]}``). A resume with more
    workers than were saved gives worker ``r`` the state of saved worker ``r mod n``.
    """
    def build():
        return optimizer_for(cfg.optim, params, shared=True)

    if cfg.optim.shared_optimizer:
        opt = build()
        if saved:
            opt.load_state_dict(saved["workers"][0] if "workers" in saved else saved)
        return [opt] * cfg.runtime.workers
    opts = [build() for _ in range(cfg.runtime.workers)]
    if saved:
        states = saved["workers"] if "workers" in saved else [saved]
        for r, opt in enumerate(opts):
            opt.load_state_dict(states[r % len(states)])
    return opts


def optimizers_state(cfg: RunConfig, opts: list) -> dict:
    """What a checkpoint holds of :func:`worker_optimizers`: one state, or one per worker."""
    if cfg.optim.shared_optimizer:
        return opts[0].state_dict()
    return {"workers": [o.state_dict() for o in opts]}


MAX_QUEUED = 64
"""Messages (each one rollout's episodes, or a metrics row) waiting for the parent, per worker."""


def run_hogwild(setup: RunSetup) -> None:
    """Start ``workers`` processes, each a :class:`HogwildWorker`; supervise, log and stop them."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    ctx = get_context(cfg.runtime.start_method)
    model.share_memory()
    shared_params: list[torch.Tensor] = list(model.parameters())
    optimizers = worker_optimizers(cfg, shared_params, setup.optimizer_state)

    def opt_state_fn() -> dict:
        return optimizers_state(cfg, optimizers)

    c = control.counters
    step_counter = ctx.Value("q", c.env_steps)
    update_counter = ctx.Value("q", c.updates)
    ready = ctx.Value("i", 0)
    stop_event = ctx.Event()
    out_q = ctx.Queue(maxsize=MAX_QUEUED * cfg.runtime.workers)
    procs = [ctx.Process(target=_worker_main, name=f"asyncrl-worker-{r}", daemon=True,
                         args=(r, config_json(cfg), model, optimizers[r], control.schedule, step_counter,
                               update_counter, ready, stop_event, out_q))
             for r in range(cfg.runtime.workers)]
    pending: dict[int, tuple[int, dict[str, float]]] = {}
    last_metrics = time.perf_counter()
    failure: str | None = None
    diverged = False
    try:
        for p in procs:
            p.start()
        while failure is None:
            failure, diverged = _drain(out_q, control, pending, timeout=0.05)
            c.env_steps = step_counter.get_obj().value  # lock-free read: a killed worker may hold the lock
            if failure is None and (dead := _dead_worker(procs)):
                failure, diverged = _drain(out_q, control, pending, timeout=0.5)
                failure = failure or dead  # prefer the traceback
            if time.perf_counter() - last_metrics >= 1.0 and pending:
                control.metrics(_merge(pending))
                c.updates += sum(n for n, _ in pending.values())
                pending.clear()
                last_metrics = time.perf_counter()
            if failure is None and control.tick(model.state_dict, opt_state_fn):
                break
    finally:
        stop_event.set()
        deadline = time.monotonic() + 5.0
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            f, d = _drain(out_q, control, pending, timeout=0.05)
            failure, diverged = (f, d) if f is not None else (failure, diverged)
        stop_processes(procs, timeout=1.0)
        f, d = _drain(out_q, control, pending, timeout=0.0)  # what exited workers left behind
        failure, diverged = (f, d) if f is not None else (failure, diverged)
        out_q.cancel_join_thread()
        c.env_steps = step_counter.get_obj().value
        if pending:
            control.metrics(_merge(pending))
            c.updates += sum(n for n, _ in pending.values())
    if failure is not None:
        control.save("latest", model.state_dict(), opt_state_fn())
        control.logger.end_progress()
        raise (TrainingDiverged if diverged else WorkerFailed)(failure)
    control.finish(model.state_dict, opt_state_fn)


def _drain(out_q, control: TrainingControl, pending: dict, timeout: float,
           budget_s: float = 0.05) -> tuple[str | None, bool]:
    """Handle the messages waiting in ``out_q`` for at most about ``budget_s`` seconds, so the caller always
    gets back to its stop checks and signals however fast the workers report.

    Returns a failure description (or ``None``) and whether it is a divergence (not a crash).
    """
    block = True
    deadline = time.perf_counter() + timeout + budget_s
    while time.perf_counter() < deadline:
        try:
            msg = out_q.get(timeout=timeout) if block and timeout > 0 else out_q.get_nowait()
        except queue.Empty:
            return None, False
        block = False
        kind, rank = msg[0], msg[1]
        if kind == "episodes":
            control.episodes(msg[2], msg[3], rank)
        elif kind == "metrics":
            n, values = msg[2], msg[3]
            pending[rank] = (pending.get(rank, (0, {}))[0] + n, values)
        elif kind == "error":
            return f"worker {rank} raised an exception:\n{msg[2]}", False
        elif kind == "diverged":
            return f"worker {rank}: {msg[2]}", True
    return None, False


def _dead_worker(procs) -> str | None:
    """A worker that died or failed (one that returned at the step budget exits with 0 and is not)."""
    for r, p in enumerate(procs):
        if p.exitcode is not None and p.exitcode != 0:
            how = f"was killed by signal {-p.exitcode}" if p.exitcode < 0 else f"exited with code {p.exitcode}"
            return f"worker {r} (pid {p.pid}) {how}"
    return None


def worker_stats(stats: dict[str, list[float]]) -> dict[str, float]:
    """One worker's statistics since its last report: means, and the maximum of ``policy_lag_max``."""
    out = mean_stats(stats)
    out["policy_lag_max"] = max(stats["policy_lag_max"])
    return out


def _merge(pending: dict[int, tuple[int, dict[str, float]]]) -> dict[str, float]:
    keys = set().union(*(v.keys() for _, v in pending.values()))
    reduce = {"policy_lag_max": np.max}
    return {k: float(reduce.get(k, np.mean)([v[k] for _, v in pending.values() if k in v])) for k in sorted(keys)}
