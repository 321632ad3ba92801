"""The actor-learner runtime (IMPALA, APPO, a3c-ps): actor processes fill shared-memory trajectory
slots, the learner (in the main process) consumes them and publishes versioned weights.

Transport only; the logic lives in :class:`~asyncrl.runtime.actor.Actor` and
:class:`~asyncrl.runtime.learner.Learner`, and the restart policy in :class:`~asyncrl.runtime.pool.ActorPool`.
Each actor owns ``slots_per_actor`` slots and talks to the learner over its own pipe: the learner sends it the
index of a free slot, the actor fills that slot and sends back the index with its finished episodes. Only
indices and episode summaries are pickled, never observations. An actor with no free slot waits
(backpressure), so nothing grows without bound. The learner takes ``batch_rollouts`` full slots in arrival
order, updates, publishes the new weights and returns the slots to their actors.

An actor that raises or dies ends the run within a second (exit code 1 and the actor's traceback), or, with
``restart_actors``, is restarted with a fresh seed while training goes on (unless it failed before delivering
its first rollout: a start-up failure would only repeat). ``--serial`` runs the same actors and learner in one
process, taking turns (for debugging and determinism: the same seed gives the same run, bit for bit).
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from asyncrl.algos import get_algorithm
from asyncrl.core.sections import RunConfig
from asyncrl.nn.normalize import synced_tensors
from asyncrl.nn.spec import ModelSpec
from asyncrl.runtime.actor import Actor, ActorReport, actor_seed
from asyncrl.runtime.base import Processes, Runtime, register_runtime
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.learner import (
    LEARNER_COLUMNS,
    Learner,
    LearnerConfig,
    check_learner,
    learn_full_slots,
    learner_slots,
    learner_workers,
)
from asyncrl.runtime.pool import ActorPool
from asyncrl.runtime.procs import WorkerFailed, child_preamble, get_context, stop_processes
from asyncrl.runtime.setup import RunSetup
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots, build_slots
from asyncrl.runtime.weights import WeightStore


@dataclass(kw_only=True)
class ActorLearnerConfig(LearnerConfig, Processes):
    """Actor processes on this machine and a learner in the main process (IMPALA, APPO, a3c-ps)."""


def _actor_main(
    rank: int,
    seed: int,
    cfg: RunConfig,
    spec: ModelSpec,
    slots: TrajectorySlots,
    weights: WeightStore,
    conn,
    stop_event,
) -> None:
    child_preamble()
    try:
        actor = Actor(cfg, get_algorithm(cfg.algo), spec, slots, weights, seed)
        while not stop_event.is_set():
            try:
                if not conn.poll(0.1):
                    continue
                slot = conn.recv()
            except (EOFError, OSError):
                break  # the learner closed our pipe: it is shutting down
            if slot is None:
                break
            rep = actor.step(slot)
            try:
                conn.send(("full", slot, rep.env_steps, rep.episodes, rep.stats))
            except OSError:
                break
        actor.close()
    except Exception:
        tb = traceback.format_exc()  # (the learner reports it: one line, the whole traceback in error.log)
        try:
            conn.send(("error", tb))
        except OSError:
            pass
        sys.exit(1)


class _Processes:
    """The transport: one process and one pipe per actor."""

    def __init__(self, setup: RunSetup, slots: TrajectorySlots, weights: WeightStore, ledger: SlotLedger):
        self.ctx = get_context(setup.cfg.runtime.start_method)
        self.setup, self.slots, self.weights, self.ledger = setup, slots, weights, ledger
        self.stop_event = self.ctx.Event()
        n = setup.cfg.runtime.workers
        self.procs: list[Any] = [None] * n
        self.conns: list[Any] = [None] * n
        self.errors: list[str | None] = [None] * n

    def start(self, rank: int, seed: int) -> None:
        parent_conn, child_conn = self.ctx.Pipe()
        args = (
            rank,
            seed,
            self.setup.cfg,
            self.setup.model.spec,
            self.slots,
            self.weights,
            child_conn,
            self.stop_event,
        )
        self.procs[rank] = self.ctx.Process(target=_actor_main, name=f"asyncrl-actor-{rank}", daemon=True, args=args)
        self.procs[rank].start()
        child_conn.close()
        self.conns[rank], self.errors[rank] = parent_conn, None
        self.hand_back(rank)

    def hand_back(self, rank: int) -> None:
        """Give actor ``rank`` the slots it has free."""
        try:
            for s in self.ledger.hand_out(rank):
                self.conns[rank].send(s)
        except OSError:
            pass  # a dead actor: its slots go to its replacement

    def receive(self, rank: int, pool: ActorPool) -> None:
        try:
            while self.conns[rank].poll():
                msg = self.conns[rank].recv()
                if msg[0] == "full":
                    _, slot, steps, episodes, stats = msg
                    pool.report(rank, slot, ActorReport(steps, episodes, stats))
                elif msg[0] == "error":
                    self.errors[rank] = msg[1]
        except (EOFError, OSError):
            pass  # the actor is gone; its exit code tells how

    def failure(self, rank: int) -> str:
        """What happened to the exited actor ``rank``."""
        p = self.procs[rank]
        if self.errors[rank]:
            return f"actor {rank} raised an exception:\n{self.errors[rank]}"
        how = f"was killed by signal {-p.exitcode}" if p.exitcode < 0 else f"exited with code {p.exitcode}"
        return f"actor {rank} (pid {p.pid}) {how}"

    def retire(self, rank: int) -> None:
        self.procs[rank].join(1.0)
        self.conns[rank].close()

    def close(self) -> None:
        self.stop_event.set()
        for conn in self.conns:
            if conn is not None:
                try:
                    conn.send(None)
                except OSError:
                    pass
        stop_processes([p for p in self.procs if p is not None], timeout=5.0)
        for conn in self.conns:
            if conn is not None:
                conn.close()


def run_actor_learner(setup: RunSetup) -> None:
    """Start ``workers`` actor processes; learn from their slots in this one until the control says stop."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    slots = build_slots(cfg, setup.algo, model, setup.obs_dtype)
    weights = WeightStore(synced_tensors(model))
    learner = Learner(
        cfg,
        setup.algo,
        model,
        slots,
        weights,
        control.schedule,
        version=control.counters.updates,
        optimizer_state=setup.optimizer_state,
    )
    ledger = SlotLedger(cfg.runtime.workers, cfg.runtime.slots_per_actor)
    transport = _Processes(setup, slots, weights, ledger)
    pool = ActorPool(
        control,
        ledger,
        control.window,
        cfg.runtime.workers,
        cfg.runtime.restart_actors,
        cfg.runtime.batch_rollouts,
        transport.start,
    )
    control.gauges = pool.gauges
    control.extra_progress = lambda: progress(control, len(ledger.ready))
    failure: str | None = None
    try:
        for rank in range(cfg.runtime.workers):
            pool.start(rank)
        while failure is None:
            failure = _serve(transport, pool)
            if failure is None:
                learn_full_slots(cfg, learner, ledger, control, transport.hand_back)
                if control.tick(learner.model_state, learner.optimizer_state):
                    break
    finally:
        transport.close()
    end_run(control, learner, failure)


def _serve(transport: _Processes, pool: ActorPool) -> str | None:
    """Take the actors' full slots (waiting up to 50 ms for one) and handle the actors that exited: the run's
    failure, or ``None``."""
    for conn in wait([transport.conns[r] for r in pool.live], timeout=0.05):
        transport.receive(transport.conns.index(conn), pool)
    for rank in list(pool.live):
        if transport.procs[rank].exitcode is None:
            continue
        transport.receive(rank, pool)
        desc = transport.failure(rank)
        transport.retire(rank)
        if (failure := pool.failed(rank, desc)) is not None:
            return failure
    return None


def progress(control: TrainingControl, queue_depth: int) -> str:
    """The progress line's policy lag (mean/max of the window so far) and queue depth."""
    lag, lag_max = control.window.mean("policy_lag_mean"), control.window.mean("policy_lag_max")
    lag_s = f"{lag:.1f}/{lag_max:.0f}" if lag is not None and lag_max is not None else "-"
    return f" | lag {lag_s} | queue {queue_depth}"


def end_run(control: TrainingControl, learner: Learner, failure: str | None) -> None:
    """The end of an actor-learner run (processes or Ray): the final evaluation and checkpoints, or, after an
    actor's failure, ``latest.pt`` and :class:`WorkerFailed`."""
    if failure is not None:
        control.failed(learner.model_state(), learner.optimizer_state())
        raise WorkerFailed(failure)
    control.finish(learner.model_state, learner.optimizer_state)


def run_actor_learner_serial(setup: RunSetup) -> None:
    """``--serial``: the actors take turns filling one of their free slots; the learner updates as soon as
    ``batch_rollouts`` slots are full and frees them (see the module docstring)."""
    cfg, model, control = setup.cfg, setup.model, setup.control
    c = control.counters
    slots = build_slots(cfg, setup.algo, model, setup.obs_dtype)
    weights = WeightStore(synced_tensors(model))
    learner = Learner(
        cfg,
        setup.algo,
        model,
        slots,
        weights,
        control.schedule,
        version=c.updates,
        optimizer_state=setup.optimizer_state,
    )
    actors = [
        Actor(cfg, setup.algo, model.spec, slots, weights, actor_seed(cfg.run.seed, r, c.env_steps))
        for r in range(cfg.runtime.workers)
    ]
    ledger = SlotLedger(cfg.runtime.workers, cfg.runtime.slots_per_actor)
    pool = ActorPool(
        control, ledger, control.window, cfg.runtime.workers, False, cfg.runtime.batch_rollouts, lambda rank, seed: None
    )
    free = [ledger.hand_out(r) for r in range(cfg.runtime.workers)]  # each actor's free slots, oldest first
    control.gauges = pool.gauges
    control.extra_progress = lambda: progress(control, len(ledger.ready))

    def hand_back(rank: int) -> None:
        free[rank] += ledger.hand_out(rank)

    try:
        with control.saved_if_the_env_crashes(learner.model_state, learner.optimizer_state):
            stop = False
            while not stop:
                for rank, actor in enumerate(actors):
                    if free[rank]:
                        slot = free[rank].pop(0)
                        pool.report(rank, slot, actor.step(slot))
                    learn_full_slots(cfg, learner, ledger, control, hand_back)
                    if control.tick(learner.model_state, learner.optimizer_state):
                        stop = True
                        break
    finally:
        for actor in actors:
            actor.close()
    control.finish(learner.model_state, learner.optimizer_state)


register_runtime(
    Runtime(
        "actor-learner",
        ActorLearnerConfig,
        run_actor_learner,
        run_serial=run_actor_learner_serial,
        about="actor processes fill shared-memory slots, a learner updates (IMPALA, APPO, a3c-ps)",
        default_workers=learner_workers,
        derived=learner_slots,
        check=check_learner,
        metrics=LEARNER_COLUMNS,
        resumes=("ray",),
    )
)
