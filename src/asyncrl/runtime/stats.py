"""Statistics of the actor-learner runtimes between two ``metrics.csv`` rows (process and serial alike)."""

from __future__ import annotations

import time

from asyncrl.runtime.actor import ActorReport
from asyncrl.runtime.control import TrainingControl

METRIC_COLUMNS = ["dropped_samples", "queue_depth", "actor_restarts",
                  "vtrace/rho_mean", "appo/clip_fraction", "appo/approx_kl"]
"""Columns of ``metrics.csv`` besides the foundation's, for the actor-learner algorithms."""



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
        lag_s = f"{sum(lag) / len(lag):.1f}/{max(lag_max):.0f}" if lag and lag_max else "-"
        return f" | lag {lag_s} | queue {queue_depth}"


def record_report(control: TrainingControl, window: StatsWindow, rank: int, rep: ActorReport) -> None:
    """Count an arrived rollout's env steps and log its finished episodes."""
    c = control.counters
    c.env_steps += rep.env_steps
    control.episodes(c.env_steps, rep.episodes, rank)
    if rep.stats:
        window.add(rep.stats)
