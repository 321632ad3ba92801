"""The loop kernel every runtime drives: one statistics window and one update step (and one throttle,
:class:`asyncrl.logger.Every`, which the logs share).

A runtime only moves data. What each of its loops does besides (the once-a-second ``metrics.csv`` row, the
reduction of update statistics between rows, the learning step with the scheduled lr and the normalisers'
update, the stop checks, evaluations and checkpoints of :class:`~asyncrl.runtime.control.TrainingControl`)
is written here once.
"""

from __future__ import annotations

from typing import Any

import torch

from asyncrl.algos.base import Algorithm
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import RunConfig
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.normalize import observe_rollout
from asyncrl.optim.grads import TrainStep

MAX_KEYS = frozenset({"policy_lag_max"})
"""Statistics reduced by their maximum over a window."""
SUM_KEYS = frozenset({"skipped_updates"})
"""Statistics summed over a window (counts of events)."""
TOTAL_KEYS = frozenset({"dropped_samples"})
"""Statistics summed over the whole run (running totals)."""
RULES = {**dict.fromkeys(MAX_KEYS, "max"), **dict.fromkeys(SUM_KEYS, "sum"), **dict.fromkeys(TOTAL_KEYS, "total")}


class MetricsWindow:
    """Update statistics between two ``metrics.csv`` rows, reduced by one rule for every runtime: the mean
    (weighted by updates), the maximum of :data:`MAX_KEYS`, the sum of :data:`SUM_KEYS`, and the run's running
    total of :data:`TOTAL_KEYS`. :meth:`row` is a ``metrics.csv`` row (running totals included). A worker
    process keeps its own window and sends :meth:`reduce`'s row (its totals' increments) with its update count;
    the parent :meth:`merge`\\ s it."""

    def __init__(self) -> None:
        self._sum: dict[str, float] = {}
        self._n: dict[str, int] = {}
        self.totals: dict[str, float] = {}
        """The run's running totals of :data:`TOTAL_KEYS`."""
        self._added: dict[str, float] = {}  # (their increments since the last reduce)
        self.updates = 0
        """Updates added since the last row."""

    def add(self, stats: dict[str, float]) -> None:
        """One update's statistics."""
        self.merge(stats, 1)

    def merge(self, row: dict[str, float], n: int) -> None:
        """A row that :meth:`reduce` made of ``n`` updates (``n = 1``: one update's statistics)."""
        self.updates += n
        sums, counts = self._sum, self._n
        for k, v in row.items():
            rule = RULES.get(k)
            if rule is None:  # the mean, weighted by updates
                sums[k] = sums.get(k, 0.0) + v * n
                counts[k] = counts.get(k, 0) + n
            elif rule == "total":
                self.totals[k] = self.totals.get(k, 0.0) + v
                self._added[k] = self._added.get(k, 0.0) + v
            else:
                sums[k] = v if k not in sums else max(sums[k], v) if rule == "max" else sums[k] + v
                counts[k] = 1

    def __bool__(self) -> bool:
        return bool(self._sum) or bool(self.updates)

    def mean(self, key: str) -> float | None:
        """The window's value of ``key`` so far (``None`` if absent)."""
        return self._sum[key] / self._n[key] if key in self._sum else None

    def reduce(self) -> dict[str, float]:
        """The window's statistics with the increments of the totals (what a worker sends), and a new window."""
        out = {k: v / self._n[k] for k, v in self._sum.items()}
        out.update(self._added)
        self._sum, self._n, self._added, self.updates = {}, {}, {}, 0
        return out

    def row(self) -> dict[str, float]:
        """The window's ``metrics.csv`` row: its statistics and the running totals; a new window."""
        return {**self.reduce(), **self.totals}


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


def apply_gradient(model: PolicyNet, batch: Rollout, step: TrainStep, grads: list[torch.Tensor], lr: float) -> None:
    """The update of an algorithm whose actors compute the gradients (a3c-ps): one optimizer step of ``step`` with
    ``grads`` (computed and clipped on ``batch`` by an actor) at ``lr``, then ``batch`` merged into ``model``'s
    normalisers, as :func:`learn` does."""
    step.lr = lr
    step.apply(grads)
    observe_rollout(model, batch)


def lag_free(stats: dict[str, Any]) -> dict[str, float]:
    """``stats`` of an update whose samples came from the weights being updated (policy lag 0)."""
    return {**stats, "policy_lag_mean": 0.0, "policy_lag_max": 0.0}
