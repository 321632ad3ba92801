"""The loop kernel every runtime drives: one throttle, one statistics window, one update step.

A runtime only moves data. What each of its loops does besides (the once-a-second ``metrics.csv`` row, the
reduction of update statistics between rows, the learning step with the scheduled lr and the normalisers'
update, the stop checks, evaluations and checkpoints of :class:`~asyncrl.runtime.control.TrainingControl`)
is written here once.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from asyncrl.algos.base import Algorithm
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import RunConfig
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.normalize import observe_rollout
from asyncrl.optim.grads import TrainStep


class Every:
    """A throttle: :meth:`due` is true at most once per ``seconds`` (and then restarts the period)."""

    def __init__(self, seconds: float = 1.0):
        self.seconds = seconds
        self._last = time.perf_counter()

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


MAX_KEYS = frozenset({"policy_lag_max"})
"""Statistics reduced by their maximum over a window."""
SUM_KEYS = frozenset({"skipped_updates"})
"""Statistics summed over a window (counts of events)."""
TOTAL_KEYS = frozenset({"dropped_samples"})
"""Statistics summed over the whole run (running totals)."""


class MetricsWindow:
    """Update statistics between two ``metrics.csv`` rows, reduced by one rule for every runtime: the mean
    (weighted by updates), the maximum of :data:`MAX_KEYS`, the sum of :data:`SUM_KEYS`, and the run's running
    total of :data:`TOTAL_KEYS`. A worker process keeps its own window and sends :meth:`reduce`'s row with its
    update count; the parent :meth:`merge`\\ s it."""

    def __init__(self) -> None:
        self._sum: dict[str, float] = {}
        self._n: dict[str, int] = {}
        self.totals: dict[str, float] = {}
        self.updates = 0
        """Updates added since the last row."""

    def add(self, stats: dict[str, float]) -> None:
        """One update's statistics."""
        self.merge(stats, 1)

    def merge(self, row: dict[str, float], n: int) -> None:
        """A row that :meth:`reduce` made of ``n`` updates (``n = 1``: one update's statistics)."""
        self.updates += n
        for k, v in row.items():
            if k in TOTAL_KEYS:
                self.totals[k] = self.totals.get(k, 0.0) + v
            elif k in MAX_KEYS:
                self._sum[k] = max(self._sum.get(k, v), v)
                self._n[k] = 1
            elif k in SUM_KEYS:
                self._sum[k] = self._sum.get(k, 0.0) + v
                self._n[k] = 1
            else:
                self._sum[k] = self._sum.get(k, 0.0) + v * n
                self._n[k] = self._n.get(k, 0) + n

    def __bool__(self) -> bool:
        return bool(self._sum) or bool(self.updates)

    def mean(self, key: str) -> float | None:
        """The window's value of ``key`` so far (``None`` if absent)."""
        return self._sum[key] / self._n[key] if key in self._sum else None

    def reduce(self) -> dict[str, float]:
        """The window's row (the running totals included), and a new window."""
        out = {k: v / self._n[k] for k, v in self._sum.items()}
        out.update(self.totals)
        self._sum, self._n, self.updates = {}, {}, 0
        return out


def learn(
    algo: Algorithm,
    model: PolicyNet,
    batch: Rollout,
    cfg: RunConfig,
    step: TrainStep,
    lr: float,
    generator: torch.Generator,
    statistics_of: PolicyNet | None = None,
) -> dict[str, float]:
    """One update of every runtime: the algorithm's update on ``batch`` with ``step`` at learning rate ``lr``,
    then the rollout merged into the normalisers' statistics of ``statistics_of`` (default ``model``; Hogwild:
    the shared model). The statistics are updated after the loss, so the loss sees those the actors acted with.
    Returns the update's statistics with ``lr``."""
    step.lr = lr
    stats = algo.update(model, batch, cfg, step, generator)
    observe_rollout(statistics_of if statistics_of is not None else model, batch)
    return {**stats, "lr": lr}


def lag_free(stats: dict[str, Any]) -> dict[str, float]:
    """``stats`` of an update whose samples came from the weights being updated (policy lag 0)."""
    return {**stats, "policy_lag_mean": 0.0, "policy_lag_max": 0.0}
