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

import queue
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from asyncrl import limits as L
from asyncrl.algos import get_algorithm
from asyncrl.algos.base import Algorithm
from asyncrl.core.sections import RunConfig, check_batch_size
from asyncrl.core.settings import setting
from asyncrl.logger import Every
from asyncrl.nn.build import make_model
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.normalize import synced_tensors
from asyncrl.optim.grads import TrainStep
from asyncrl.runtime.base import Processes, Runtime, register_runtime
from asyncrl.runtime.control import NonFiniteGuard, TrainingControl
from asyncrl.runtime.loop import MetricsWindow, lag_free, learn
from asyncrl.runtime.procs import TrainingDiverged, WorkerFailed, child_preamble, get_context, stop_processes
from asyncrl.runtime.rollout import RolloutCollector
from asyncrl.runtime.schedule import LrSchedule
from asyncrl.runtime.setup import RunSetup, optimizer_for, train_collector, train_envs


@dataclass(kw_only=True)
class HogwildConfig(Processes):
    """Hogwild worker processes updating one shared model (A3C)."""

    shared_optimizer: bool = setting(True)
    """One optimizer state in shared memory for all workers, the paper's shared statistics (else one per worker)."""


def hogwild_step(
    local: PolicyNet,
    shared: PolicyNet,
    optimizer,
    collector: RolloutCollector,
    cfg: RunConfig,
    lr: float,
    algo: Algorithm | None = None,
    generator: torch.Generator | None = None,
) -> tuple[int, dict[str, float]]:
    """One A3C worker iteration: sync, roll out, compute gradients, update the shared model.

    ``algo`` gives the update rule (default: the config's algorithm) with the hyperparameters of ``cfg``; its
    gradients, computed on ``local``, are applied to the parameters of ``shared``, and the rollout is merged
    into ``shared``'s normalisers (if any; without a lock, as the parameters: a merge racing another worker's
    can lose one of the two).
    Returns the number of env steps taken and the update's statistics.
    """
    with torch.no_grad():
        torch._foreach_copy_(synced_tensors(local), synced_tensors(shared))  # weights and normaliser statistics
    rollout = collector.collect()
    step = TrainStep(list(local.parameters()), optimizer, cfg.optim.max_grad_norm, apply_to=list(shared.parameters()))
    stats = learn(
        algo or get_algorithm(cfg.algo),
        local,
        rollout,
        cfg,
        step,
        lr,
        generator or torch.Generator(),
        statistics_of=shared,
    )
    return rollout.num_steps, stats


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
        return hogwild_step(
            self.local, self.shared, self.optimizer, self.collector, self.cfg, lr, self.algo, self.generator
        )

    def take_episodes(self) -> list[tuple[float, int]]:
        """The episodes ``(return, length)`` finished since the last call."""
        finished, self.collector.finished = self.collector.finished, []
        return finished

    def close(self) -> None:
        self.venv.close()


@dataclass
class WorkerArgs:
    """What a worker process is given (pickled under spawn, inherited under fork): the resolved config and the
    shared objects."""

    rank: int
    cfg: RunConfig
    shared: PolicyNet
    optimizer: Any
    schedule: LrSchedule
    step_counter: Any
    """Env steps of all workers together (``multiprocessing.Value``)."""
    update_counter: Any
    """Updates of all workers together: the shared model's version (``multiprocessing.Value``)."""
    ready: Any
    stop_event: Any
    out_q: Any


def _worker_main(a: WorkerArgs) -> None:
    child_preamble()
    try:
        worker = HogwildWorker(
            a.cfg,
            get_algorithm(a.cfg.algo),
            a.shared,
            a.optimizer,
            worker_seed(a.cfg.run.seed, a.rank, a.step_counter.get_obj().value),
        )
        # Start together: under spawn a worker takes seconds to import torch, and an early one
        # would otherwise spend a small step budget alone.
        with a.ready.get_lock():
            a.ready.value += 1
        while a.ready.value < a.cfg.runtime.workers and not a.stop_event.is_set():
            time.sleep(0.005)
        _work(a, worker)
        worker.close()
    except Exception as e:
        tb = str(e) if isinstance(e, TrainingDiverged) else traceback.format_exc()  # (the parent reports it)
        _put(a.out_q, ("diverged" if isinstance(e, TrainingDiverged) else "error", a.rank, tb), None, patience=10.0)
        a.out_q.close()
        a.out_q.join_thread()
        sys.exit(1)


def _work(a: WorkerArgs, worker: HogwildWorker) -> None:
    """Step until the budget or the parent's stop, reporting episodes after each rollout and the window's
    statistics once a second."""
    guard, window, every = NonFiniteGuard(), MetricsWindow(), Every(1.0)
    steps, budget = a.step_counter.value, a.cfg.run.total_steps
    while not a.stop_event.is_set() and (budget is None or steps < budget):
        synced_at = a.update_counter.get_obj().value  # the shared model's version this rollout acts with
        n, s = worker.step(a.schedule(steps))
        with a.update_counter.get_lock():  # policy lag: other workers' updates since this one synced
            s["policy_lag_mean"] = s["policy_lag_max"] = float(a.update_counter.value - synced_at)
            a.update_counter.value += 1
        with a.step_counter.get_lock():
            a.step_counter.value += n
            steps = a.step_counter.value
        if finished := worker.take_episodes():
            _put(a.out_q, ("episodes", a.rank, steps, finished), a.stop_event)
        window.add(s)
        if every.due():
            _put(a.out_q, ("metrics", a.rank, window.updates, window.reduce()), a.stop_event)
        guard.update(s["skipped_updates"] > 0)
    if window:
        _put(a.out_q, ("metrics", a.rank, window.updates, window.reduce()), a.stop_event, patience=1.0)


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

    if cfg.runtime.shared_optimizer:
        opt = build()
        if saved:
            opt.load_state_dict(saved["workers"][0] if "workers" in saved else saved)
        return [opt] * cfg.runtime.workers
    opts = [build() for _ in range(cfg.runtime.workers)]
    if saved:
        states = saved.get("workers", [saved])
        for r, opt in enumerate(opts):
            opt.load_state_dict(states[r % len(states)])
    return opts


def optimizers_state(cfg: RunConfig, opts: list) -> dict:
    """What a checkpoint holds of :func:`worker_optimizers`: one state, or one per worker."""
    if cfg.runtime.shared_optimizer:
        return opts[0].state_dict()
    return {"workers": [o.state_dict() for o in opts]}


MAX_QUEUED = 64
"""Messages (each one rollout's episodes, or a metrics row) waiting for the parent, per worker."""


def run_hogwild(setup: RunSetup) -> None:
    """Start ``workers`` processes, each a :class:`HogwildWorker`; supervise, log and stop them."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    ctx = get_context(cfg.runtime.start_method)
    model.share_memory()
    optimizers = worker_optimizers(cfg, list(model.parameters()), setup.optimizer_state)

    def opt_state_fn() -> dict:
        return optimizers_state(cfg, optimizers)

    c = control.counters
    step_counter, update_counter = ctx.Value("q", c.env_steps), ctx.Value("q", c.updates)
    ready, stop_event = ctx.Value("i", 0), ctx.Event()
    out_q = ctx.Queue(maxsize=MAX_QUEUED * cfg.runtime.workers)
    procs = [
        ctx.Process(
            target=_worker_main,
            name=f"asyncrl-worker-{r}",
            daemon=True,
            args=(
                WorkerArgs(
                    r,
                    cfg,
                    model,
                    optimizers[r],
                    control.schedule,
                    step_counter,
                    update_counter,
                    ready,
                    stop_event,
                    out_q,
                ),
            ),
        )
        for r in range(cfg.runtime.workers)
    ]
    failure: tuple[str, bool] | None = None
    try:
        for p in procs:
            p.start()
        failure = _supervise(procs, out_q, control, step_counter, lambda: control.tick(model.state_dict, opt_state_fn))
    finally:
        stop_event.set()
        failure = _wind_down(procs, out_q, control, failure)
        out_q.cancel_join_thread()
        c.env_steps = step_counter.get_obj().value
    if failure is not None:
        control.failed(model.state_dict(), opt_state_fn())
        raise (TrainingDiverged if failure[1] else WorkerFailed)(failure[0])
    control.finish(model.state_dict, opt_state_fn)


def _supervise(procs, out_q, control: TrainingControl, step_counter, tick) -> tuple[str, bool] | None:
    """The parent's loop: log the workers' reports, watch for a dead one, and tick the control until it says
    stop (``None``) or a worker fails (its description, and whether it diverged rather than crashed)."""
    c = control.counters
    while True:
        failure = _drain(out_q, control, timeout=0.05)
        c.env_steps = step_counter.get_obj().value  # lock-free read: a killed worker may hold the lock
        if failure is None and (dead := _dead_worker(procs)):
            failure = _drain(out_q, control, timeout=0.5) or (dead, False)  # prefer the traceback
        if failure is not None or tick():
            return failure


def _wind_down(procs, out_q, control: TrainingControl, failure: tuple[str, bool] | None) -> tuple[str, bool] | None:
    """Stop the workers (they drain what they have) and take their last reports; the first failure found."""
    deadline = time.monotonic() + 5.0
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        failure = _drain(out_q, control, timeout=0.05) or failure
    stop_processes(procs, timeout=1.0)
    return _drain(out_q, control, timeout=0.0) or failure  # (what exited workers left behind)


def _drain(out_q, control: TrainingControl, timeout: float, budget_s: float = 0.05) -> tuple[str, bool] | None:
    """Handle the messages waiting in ``out_q`` for at most about ``budget_s`` seconds, so the caller always
    gets back to its stop checks and signals however fast the workers report.

    Returns a failure's description and whether it is a divergence (not a crash), or ``None``.
    """
    block = True
    deadline = time.perf_counter() + timeout + budget_s
    while time.perf_counter() < deadline:
        try:
            msg = out_q.get(timeout=timeout) if block and timeout > 0 else out_q.get_nowait()
        except queue.Empty:
            return None
        block = False
        kind, rank = msg[0], msg[1]
        if kind == "episodes":
            control.episodes(msg[2], msg[3], rank)
        elif kind == "metrics":  # a worker's window: its update count and its row
            control.window.merge(msg[3], msg[2])
            control.counters.updates += msg[2]
        elif kind == "error":
            return f"worker {rank} raised an exception:\n{msg[2]}", False
        elif kind == "diverged":
            return f"worker {rank}: {msg[2]}", True
    return None


def _dead_worker(procs) -> str | None:
    """A worker that died or failed (one that returned at the step budget exits with 0 and is not)."""
    for r, p in enumerate(procs):
        if p.exitcode is not None and p.exitcode != 0:
            how = f"was killed by signal {-p.exitcode}" if p.exitcode < 0 else f"exited with code {p.exitcode}"
            return f"worker {r} (pid {p.pid}) {how}"
    return None


def run_hogwild_serial(setup: RunSetup) -> None:
    """``--serial``: the workers take turns in one process, each syncing, collecting one rollout and updating the
    shared model (for debugging and determinism: the same seed gives the same run, bit for bit; with one worker
    this is exactly what the process runtime computes)."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    c = control.counters
    optimizers = worker_optimizers(cfg, list(model.parameters()), setup.optimizer_state)
    workers = [
        HogwildWorker(cfg, setup.algo, model, optimizers[r], worker_seed(cfg.run.seed, r, c.env_steps))
        for r in range(cfg.runtime.workers)
    ]

    def opt_state_fn() -> dict:
        return optimizers_state(cfg, optimizers)

    try:
        with control.saved_if_the_env_crashes(model.state_dict, opt_state_fn):
            stop = False
            while not stop:
                for rank, worker in enumerate(workers):
                    n, s = worker.step(control.schedule(c.env_steps))
                    c.env_steps += n
                    c.updates += 1
                    control.episodes(c.env_steps, worker.take_episodes(), rank)
                    control.update_done(lag_free(s))  # each worker syncs right before its update
                    if control.tick(model.state_dict, opt_state_fn):  # (the step budget among the reasons)
                        stop = True
                        break
    finally:
        for worker in workers:
            worker.close()
    control.finish(model.state_dict, opt_state_fn)


def check_hogwild(cfg: RunConfig) -> None:
    check_batch_size(cfg.rollout.num_envs, cfg.rollout.n_steps, 1)


register_runtime(
    Runtime(
        "hogwild",
        HogwildConfig,
        run_hogwild,
        run_serial=run_hogwild_serial,
        about="worker processes updating one shared model (A3C)",
        default_workers=lambda algo: L.usable_cores(),
        check=check_hogwild,
    )
)
