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
import time
import traceback
from multiprocessing.connection import wait

import torch

from asyncrl.config import TrainConfig
from asyncrl.nn.model import ActorCritic, ModelSpec
from asyncrl.runtime.actor import Actor, ActorReport, actor_seed
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.learner import Learner
from asyncrl.runtime.procs import WorkerFailed, child_preamble, get_context, stop_processes
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots
from asyncrl.runtime.weights import WeightStore

METRIC_COLUMNS = ["dropped_samples", "queue_depth", "actor_restarts",
                  "vtrace/rho_mean", "appo/clip_fraction", "appo/approx_kl"]
"""Columns of ``metrics.csv`` besides the foundation's, for the actor-learner algorithms."""


def build_slots(cfg: TrainConfig, model: ActorCritic, obs_dtype: torch.dtype) -> TrajectorySlots:
    grad_size = sum(p.numel() for p in model.parameters()) if cfg.algo == "a3c-ps" else 0
    return TrajectorySlots(model.spec, cfg.workers * cfg.slots_per_actor, cfg.n_steps, cfg.num_envs, obs_dtype,
                           grad_size)


class StatsWindow:
    """Learner and actor statistics between two ``metrics.csv`` rows, plus the run's running totals."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}
        self.dropped_total = 0.0
        self.restarts = 0
        self._last_row = time.perf_counter()

    def add(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            if k == "dropped_samples":
                self.dropped_total += v
            else:
                self.values.setdefault(k, []).append(v)

    def row(self, queue_depth: int) -> dict[str, float]:
        """Means over the window (maxima for ``policy_lag_max``, sums for ``skipped_updates``)."""
        out = {}
        for k, v in self.values.items():
            if v:
                out[k] = max(v) if k == "policy_lag_max" else sum(v) if k == "skipped_updates" else sum(v) / len(v)
        out.update(dropped_samples=self.dropped_total, queue_depth=float(queue_depth),
                   actor_restarts=float(self.restarts))
        self.values = {}
        return out

    def log(self, control: TrainingControl, queue_depth: int, force: bool = False) -> None:
        """Write a ``metrics.csv`` row about once a second (or now, with ``force``) if there is anything new."""
        if self.values and (force or time.perf_counter() - self._last_row >= 1.0):
            control.metrics(self.row(queue_depth))
            self._last_row = time.perf_counter()

    def progress(self, queue_depth: int) -> str:
        lag = self.values.get("policy_lag_mean")
        lag_max = self.values.get("policy_lag_max")
        lag_s = f"{sum(lag) / len(lag):.1f}/{max(lag_max):.0f}" if lag else "-"
        return f" | lag {lag_s} | queue {queue_depth}"


def record_report(control: TrainingControl, window: StatsWindow, rank: int, rep: ActorReport) -> None:
    """Count an arrived rollout's env steps and log its finished episodes."""
    c = control.counters
    c.env_steps += rep.env_steps
    control.episodes(c.env_steps, rep.episodes, rank)
    if rep.stats:
        window.add(rep.stats)


def learn_full_slots(cfg: TrainConfig, learner: Learner, ledger: SlotLedger, window: StatsWindow,
                     counters, hand_back) -> None:
    """While ``batch_rollouts`` slots are full: one learner update on the oldest of them, then each is
    released and ``hand_back(rank)`` gives its actor the slots it now has free."""
    while len(ledger.ready) >= cfg.batch_rollouts:
        batch = ledger.take(cfg.batch_rollouts)
        stats = learner.step(batch, counters.env_steps)
        window.add(stats)
        counters.updates = learner.version
        learner.guard.update(stats.get("skipped_updates", 0.0) > 0)
        for s in batch:
            ledger.release(s)
            hand_back(ledger.owner(s))


def _actor_main(rank: int, seed: int, cfg_json: str, spec_json: str, slots: TrajectorySlots, weights: WeightStore,
                conn, stop_event) -> None:
    child_preamble()
    actor = None
    try:
        cfg = TrainConfig(**json.loads(cfg_json))
        actor = Actor(cfg, ModelSpec(**json.loads(spec_json)), slots, weights, seed)
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
        self.proc = None
        self.conn = None
        self.error: str | None = None
        self.delivered = 0
        """Rollouts received from the current process (0: it failed while starting up)."""


def run_actor_learner(cfg: TrainConfig, model: ActorCritic, control: TrainingControl,
                      optimizer_state: dict | None, spec_json: str, obs_dtype: torch.dtype) -> None:
    ctx = get_context(cfg.start_method)
    c = control.counters
    slots = build_slots(cfg, model, obs_dtype)
    weights = WeightStore(list(model.parameters()))
    learner = Learner(cfg, model, slots, weights, version=c.updates, optimizer_state=optimizer_state,
                      schedule=control.schedule)
    stop_event = ctx.Event()
    handles = [_ActorHandle(r) for r in range(cfg.workers)]
    ledger = SlotLedger(cfg.workers, cfg.slots_per_actor)
    window = StatsWindow()
    cfg_json = cfg.to_json()

    def start(h: _ActorHandle) -> None:
        parent_conn, child_conn = ctx.Pipe()
        seed = actor_seed(cfg.seed, h.rank, c.env_steps, window.restarts)
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
                if not cfg.restart_actors:
                    failure = desc
                    break
                if h.delivered == 0:  # a start-up failure would only repeat: no restart loop
                    failure = f"{desc}\n(not restarted: it failed before delivering its first rollout)"
                    break
                window.restarts += 1
                _note_restart(cfg.run_dir, desc, window.restarts)
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
    if failure is not None:  # (a TrainingDiverged from the learner saves in train())
        control.save("latest", learner.model_state(), learner.optimizer_state())
        control.logger.end_progress()
        raise WorkerFailed(failure)
    control.finish(learner.model_state, learner.optimizer_state)


def _note_restart(run_dir: str, desc: str, n: int) -> None:
    first = desc.strip().splitlines()[-1] if desc.strip() else desc
    print(f"\nasyncrl: {desc.splitlines()[0]} ({first}); restarting it (restart {n})", file=sys.stderr, flush=True)
    with open(os.path.join(run_dir, "error.log"), "a") as f:
        f.write(f"restart {n}: {desc}\n")
