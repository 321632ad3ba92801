"""The actors of an actor-learner run, whatever carries them (processes or Ray): their reports, failures, the
restart policy and the runners given up.

The transport (``runtime/actor_learner.py``, ``runtime/ray_runtime.py``) starts and stops one actor given its
rank and seed; :class:`ActorPool` decides what happens when one fails: without ``--restart-actors`` the run
ends; an actor that fails before delivering its first rollout is not restarted either (a start-up failure
would only repeat); otherwise it is restarted with a fresh seed and counted. An actor that cannot be started
(Ray: no free CPU for the replacement) is given up after its deadline: the run goes on with the others, or
ends when too few are left to fill a batch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from asyncrl.runtime.actor import ActorReport, actor_seed
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.loop import MetricsWindow
from asyncrl.runtime.slots import SlotLedger


class ActorPool:
    """``workers`` actors by rank; ``start(rank, seed)`` is the transport's (see the module docstring)."""

    def __init__(
        self,
        control: TrainingControl,
        ledger: SlotLedger,
        window: MetricsWindow,
        workers: int,
        restart: bool,
        batch_rollouts: int,
        start: Callable[[int, int], None],
    ):
        self.control, self.ledger, self.window = control, ledger, window
        self.restart, self.batch_rollouts, self._start = restart, batch_rollouts, start
        self.live = list(range(workers))
        """The ranks still in the run (an actor given up leaves it)."""
        self.delivered = [0] * workers
        """Rollouts received from each actor's current incarnation."""
        self.restarts = 0

    def start(self, rank: int) -> None:
        """Start actor ``rank`` (again) with the seed of this moment; the slots its predecessor held are its."""
        self.delivered[rank] = 0
        self.ledger.reclaim(rank)
        c = self.control.counters
        self._start(rank, actor_seed(self.control.cfg.run.seed, rank, c.env_steps, self.restarts))

    def report(self, rank: int, slot: int, rep: ActorReport) -> None:
        """A full ``slot`` from actor ``rank``: count its env steps, log its episodes and statistics."""
        c = self.control.counters
        c.env_steps += rep.env_steps
        self.control.episodes(c.env_steps, rep.episodes, rank)
        if rep.stats:
            self.window.add(rep.stats)
        self.ledger.filled(slot)
        self.delivered[rank] += 1

    def failed(self, rank: int, desc: str) -> str | None:
        """Actor ``rank`` raised or died (``desc``): the run's failure, or ``None`` once it is restarted."""
        if not self.restart:
            return desc
        if self.delivered[rank] == 0:
            return f"{desc}\n(not restarted: it failed before delivering its first rollout)"
        self.restarts += 1
        note(
            self.control.cfg.run.run_dir,
            f"{desc.splitlines()[0]} ({last_line(desc)}); restarting it (restart {self.restarts})",
            f"restart {self.restarts}: {desc}",
        )
        self.start(rank)
        return None

    def give_up(self, rank: int, why: str) -> str | None:
        """Actor ``rank`` cannot be started (``why``): go on without it, or the run's failure when the actors left
        cannot fill a batch of ``batch_rollouts`` slots."""
        self.live.remove(rank)
        self.ledger.reclaim(rank)
        capacity = len(self.live) * self.ledger.k
        if not self.live or capacity < self.batch_rollouts:
            left = f"{len(self.live)} actor(s) with {capacity} slot(s) left, a batch takes {self.batch_rollouts}"
            return f"{why}; given up, and the run cannot go on ({left})"
        note(
            self.control.cfg.run.run_dir,
            f"{why}; given up, going on with {len(self.live)} actor(s)",
            f"given up: {why}",
        )
        return None

    def gauges(self) -> dict[str, float]:
        """The pool's columns of a ``metrics.csv`` row."""
        return {"queue_depth": float(len(self.ledger.ready)), "actor_restarts": float(self.restarts)}


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else text


def note(run_dir: str, line: str, log: str) -> None:
    """One line on stderr, and the whole story in the run's ``error.log``."""
    print(f"\nasyncrl: {line}", file=sys.stderr, flush=True)
    with open(os.path.join(run_dir, "error.log"), "a") as f:
        f.write(f"{log}\n")
