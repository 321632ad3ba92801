"""The actor-learner runtime (IMPALA, APPO, a3c-ps): actor processes fill shared-memory trajectory
slots, the learner (in the main process) consumes them and publishes versioned weights.

Transport only; the logic lives in :class:`~asyncrl.runtime.actor.Actor` and
:class:`~asyncrl.runtime.learner.Learner`, which :mod:`asyncrl.runtime.serial` also runs in one
process. Each actor owns ``slots_per_actor`` slots and talks to the learner over its own pipe:
the learner sends it the index of a free slot, the actor fills that slot and sends back the index
with its finished episodes. Only indices and episode summaries are pickled, never observations.
An actor with no free slot waits (backpressure), so nothing grows without bound. The learner
takes ``batch_rollouts`` full slots in arrival order, updates, publishes the new weights and
returns the slots to their actors.

An actor that raises or dies ends the run within a second (exit code 1 and the actor's traceback),
or, with ``restart_actors``, is restarted with a fresh seed while training goes on (unless it failed
before delivering its first rollout: a start-up failure would only repeat).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from multiprocessing.connection import wait
from typing import Any

from asyncrl.algos import get_algorithm
from asyncrl.config import config_json, tree_from_flat
from asyncrl.nn.normalize import synced_tensors
from asyncrl.nn.spec import ModelSpec
from asyncrl.runtime.actor import Actor, ActorReport, actor_seed
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.learner import Learner, learn_full_slots
from asyncrl.runtime.procs import WorkerFailed, child_preamble, get_context, stop_processes
from asyncrl.runtime.setup import RunSetup
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots, build_slots
from asyncrl.runtime.stats import StatsWindow, record_report
from asyncrl.runtime.weights import WeightStore


def _actor_main(rank: int, seed: int, cfg_json: str, spec_json: str, slots: TrajectorySlots, weights: WeightStore,
                conn, stop_event) -> None:
    child_preamble()
    actor = None
    try:
        cfg = tree_from_flat(json.loads(cfg_json))
        actor = Actor(cfg, get_algorithm(cfg.algo), ModelSpec(**json.loads(spec_json)), slots, weights, seed)
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
        tb = traceback.format_exc()
        print(f"asyncrl actor {rank} failed:\n{tb}", file=sys.stderr, flush=True)
        try:
            conn.send(("error", tb))
        except OSError:
            pass
        sys.exit(1)


class _ActorHandle:
    def __init__(self, rank: int):
        self.rank = rank
        self.proc: Any = None
        """Its process (set by ``start``)."""
        self.conn: Any = None
        """The learner's end of its pipe (set by ``start``)."""
        self.error: str | None = None
        self.delivered = 0
        """Rollouts received from the current process (0: it failed while starting up)."""


def run_actor_learner(setup: RunSetup) -> None:
    """Start ``workers`` actor processes; learn from their slots in this one until the control says stop."""
    cfg, model, control, spec_json = setup.cfg, setup.model, setup.control, setup.control.spec_json
    ctx = get_context(cfg.runtime.start_method)
    c = control.counters
    slots = build_slots(cfg, setup.algo, model, setup.obs_dtype)
    weights = WeightStore(synced_tensors(model))
    learner = Learner(cfg, setup.algo, model, slots, weights, version=c.updates, optimizer_state=setup.optimizer_state,
                      schedule=control.schedule)
    stop_event = ctx.Event()
    handles = [_ActorHandle(r) for r in range(cfg.runtime.workers)]
    ledger = SlotLedger(cfg.runtime.workers, cfg.runtime.slots_per_actor)
    window = StatsWindow()
    cfg_json = config_json(cfg)

    def start(h: _ActorHandle) -> None:
        parent_conn, child_conn = ctx.Pipe()
        seed = actor_seed(cfg.run.seed, h.rank, c.env_steps, window.restarts)
        h.proc = ctx.Process(target=_actor_main, name=f"asyncrl-actor-{h.rank}", daemon=True,
                             args=(h.rank, seed, cfg_json, spec_json, slots, weights, child_conn, stop_event))
        h.proc.start()
        child_conn.close()
        h.conn, h.error, h.delivered = parent_conn, None, 0
        ledger.reclaim(h.rank)  # slots a dead predecessor was filling
        for s in ledger.hand_out(h.rank):
            parent_conn.send(s)

    def receive(h: _ActorHandle) -> None:
        try:
            while h.conn.poll():
                msg = h.conn.recv()
                if msg[0] == "full":
                    _, slot, steps, episodes, stats = msg
                    record_report(control, window, h.rank, ActorReport(steps, episodes, stats))
                    ledger.filled(slot)
                    h.delivered += 1
                elif msg[0] == "error":
                    h.error = msg[1]
        except (EOFError, OSError):
            pass  # the actor is gone; its exit code tells how

    def hand_back(rank: int) -> None:
        try:
            for s in ledger.hand_out(rank):
                handles[rank].conn.send(s)
        except OSError:
            pass  # a dead actor: its slots go to its replacement

    failure: str | None = None
    try:
        for h in handles:
            start(h)
        control.extra_progress = lambda: window.progress(len(ledger.ready))
        while failure is None:
            for conn in wait([h.conn for h in handles], timeout=0.05):
                receive(next(h for h in handles if h.conn is conn))
            for h in handles:
                if h.proc.exitcode is None:
                    continue
                receive(h)
                how = (f"was killed by signal {-h.proc.exitcode}" if h.proc.exitcode < 0
                       else f"exited with code {h.proc.exitcode}")
                desc = f"actor {h.rank} (pid {h.proc.pid}) {how}"
                if h.error:
                    desc = f"actor {h.rank} raised an exception:\n{h.error}"
                if not cfg.runtime.restart_actors:
                    failure = desc
                    break
                if h.delivered == 0:  # a start-up failure would only repeat: no restart loop
                    failure = f"{desc}\n(not restarted: it failed before delivering its first rollout)"
                    break
                window.restarts += 1
                note_restart(cfg.run.run_dir, desc, window.restarts)
                h.proc.join(1.0)
                h.conn.close()
                start(h)
            if failure is None:
                learn_full_slots(cfg, learner, ledger, window, c, hand_back)
            window.log(control, len(ledger.ready))
            if failure is None and control.tick(learner.model_state, learner.optimizer_state):
                break
    finally:
        stop_event.set()
        for h in handles:
            if h.conn is not None:
                try:
                    h.conn.send(None)
                except OSError:
                    pass
        stop_processes([h.proc for h in handles if h.proc is not None], timeout=5.0)
        for h in handles:
            if h.conn is not None:
                h.conn.close()
        window.log(control, len(ledger.ready), force=True)
    end_run(control, learner, failure)


def end_run(control: TrainingControl, learner: Learner, failure: str | None) -> None:
    """The end of an actor-learner run (processes or Ray): the final evaluation and checkpoints, or, after an
    actor's failure, ``latest.pt`` and :class:`WorkerFailed` (a ``TrainingDiverged`` from the learner saves in
    ``train()``)."""
    if failure is not None:
        control.save("latest", learner.model_state(), learner.optimizer_state())
        control.logger.end_progress()
        raise WorkerFailed(failure)
    control.finish(learner.model_state, learner.optimizer_state)


def note_restart(run_dir: str, desc: str, n: int) -> None:
    first = desc.strip().splitlines()[-1] if desc.strip() else desc
    print(f"\nasyncrl: {desc.splitlines()[0]} ({first}); restarting it (restart {n})", file=sys.stderr, flush=True)
    with open(os.path.join(run_dir, "error.log"), "a") as f:
        f.write(f"restart {n}: {desc}\n")
