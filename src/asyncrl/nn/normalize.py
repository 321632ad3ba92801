"""Running normalisation of observations and of rewards, as model state (buffers).

Two statistics, as users know them from Stable-Baselines3's ``VecNormalize`` and Sample Factory's
``--normalize_input``:

- **observations**: the running mean and variance of every observation element; the network sees
  ``clip((obs - mean) / sqrt(var + eps), -clip, clip)``. Of a Dict or Tuple observation, the elements of its Box
  entries, each with its own statistics (:class:`EntryNorm`); images and Discrete entries are not normalised.
- **rewards**: the running variance of the discounted return ``R_t = gamma R_{t-1} + r_t`` (reset at each
  episode end); actors scale rewards by ``1 / sqrt(var + eps)`` and clip them before they enter a rollout.

Both live in the model as buffers (:class:`RunningNorm`), so they travel wherever the weights go: they are
published to actors with every weight version, shared by Hogwild workers, saved in checkpoints and restored
on resume, and applied, frozen, by ``eval``, ``record``, the periodic tests and ``Policy.predict`` (which
therefore takes raw observations). Only training updates them, from every rollout the run learns from
(:func:`observe_rollout`), so a run has one set of statistics however many actors feed it.

The merge of a batch into the running statistics is Chan et al.'s parallel algorithm (1979): exact for any
split of the data, checked against a direct mean and variance in ``tests/test_normalize.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from asyncrl.core.batch import Rollout

EPS = 1e-8
"""Added to the variance before the square root (as ``VecNormalize``)."""


class RunningNorm(nn.Module):
    """Running ``mean``, population ``var`` and ``count`` of vectors of ``shape`` (buffers, float32)."""

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0):
        super().__init__()
        self.clip = float(clip)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.zeros(()))

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Merge a batch ``x [N, *shape]`` into the statistics, in place (views of the buffers stay valid)."""
        n = x.shape[0]
        if n == 0:
            return
        x = x.detach().to(self.mean.device, torch.float64)
        b_mean = x.mean(0)
        b_var = x.var(0, unbiased=False)
        count, mean, var = self.count.double(), self.mean.double(), self.var.double()
        total = count + n
        delta = b_mean - mean
        new_mean = mean + delta * (n / total)
        m2 = var * count + b_var * n + delta.square() * (count * n / total)
        self.mean.copy_(new_mean)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def forward(self, x: Tensor) -> Tensor:
        """``x [N, *shape]`` standardised with the current statistics and clipped to ``[-clip, clip]``."""
        return ((x - self.mean) * torch.rsqrt(self.var + EPS)).clamp(-self.clip, self.clip)

    def scale(self) -> float:
        """``1 / sqrt(var + eps)`` of a scalar statistic (the reward scale of a return normaliser)."""
        return float(torch.rsqrt(self.var + EPS))


class EntryNorm(RunningNorm):
    """A :class:`RunningNorm` of some elements of ``[N, size]`` vectors: the ``positions`` of a flattened Dict or
    Tuple observation's Box entries (``VecNormalize``'s per-key statistics, as one vector). The other elements
    (image pixels, Discrete indices) pass unchanged."""

    def __init__(self, positions: list[int], clip: float = 10.0):
        super().__init__((len(positions),), clip)
        self.positions = torch.tensor(positions, dtype=torch.long)  # (not a buffer: the spec gives it)

    def update(self, x: Tensor) -> None:
        super().update(x[:, self.positions.to(x.device)])

    def forward(self, x: Tensor) -> Tensor:
        positions = self.positions.to(x.device)
        return x.index_copy(1, positions, super().forward(x.index_select(1, positions)))


def obs_normalizer(positions: list[int] | None, size: int, clip: float) -> RunningNorm:
    """The observation normaliser of ``[N, size]`` inputs: of every element, or (``positions``) of some."""
    return RunningNorm((size,), clip) if positions is None else EntryNorm(positions, clip)


class Network(Protocol):
    """What these functions read of a network (an ``nn.Module``, or a :class:`~asyncrl.nn.model.PolicyNet`)."""

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]: ...


def normalizers(model: Any) -> tuple[RunningNorm | None, RunningNorm | None]:
    """``(observation normaliser, return normaliser)`` of ``model``; ``None`` where it has none."""
    return getattr(model, "obs_norm", None), getattr(model, "return_norm", None)


def synced_tensors(model: Network) -> list[Tensor]:
    """What an actor or worker copies from the learner's or shared model: the parameters, then the buffers
    (the normalisers' statistics)."""
    return [*model.parameters(), *model.buffers()]


@torch.no_grad()
def observe_rollout(model: Network, rollout: Rollout) -> None:
    """Update ``model``'s normalisers from a rollout the run learns from: its observations ``obs[:T]``
    (``obs[T]`` is the next rollout's first) and its discounted returns ``returns [T, B]``."""
    obs_norm, return_norm = normalizers(model)
    if obs_norm is not None:
        obs = rollout.obs[:-1]
        obs_norm.update(obs.reshape(obs.shape[0] * obs.shape[1], -1).float())
    if return_norm is not None and rollout.returns is not None:
        return_norm.update(rollout.returns.reshape(-1))
