"""Gradients for explicit-gradient optimizers: computed fresh, clipped, never accumulated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch


def backward_and_clip(
    params: list[torch.Tensor], loss: torch.Tensor, max_grad_norm: float
) -> tuple[list[torch.Tensor], float]:
    """Fresh gradients of ``loss`` w.r.t. ``params`` (never accumulated into old ones), clipped
    to ``max_grad_norm`` (0: no clipping) as ``clip_grad_norm_`` does. Returns the gradients (also
    left in ``.grad``) and their norm before clipping."""
    grads = list(torch.autograd.grad(loss, params, allow_unused=True))
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if max_grad_norm > 0:
        torch._foreach_mul_(grads, torch.clamp(max_grad_norm / (norm + 1e-6), max=1.0).item())
    for p, g in zip(params, grads):
        p.grad = g
    return grads, float(norm)


def grad_views(flat: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """Views of a flat gradient ``[P]`` shaped like ``params``."""
    return [v.view_as(p) for v, p in zip(flat.split([p.numel() for p in params]), params)]


@dataclass
class TrainStep:
    """The one optimizer step every runtime shares: ``step(loss) -> {"grad_norm", "skipped_updates"}``.

    Fresh gradients of ``loss`` w.r.t. ``params`` (:func:`backward_and_clip`), and unless their norm is
    not finite (then the update is skipped, so NaN or inf never reaches the weights), one step of
    ``optimizer`` at learning rate ``lr`` on ``apply_to``: the same parameters, or for Hogwild the shared
    model's, which the gradients of a worker's local copy update. ``lr`` is the one channel of the learning rate
    into the optimizer: the runtimes set it before each update from the run's schedule
    (:func:`asyncrl.runtime.loop.learn`); a step before it is set raises.
    """

    params: list[torch.Tensor]
    optimizer: Any
    max_grad_norm: float
    apply_to: list[torch.Tensor] | None = None
    lr: float = math.nan

    def __call__(self, loss: torch.Tensor) -> dict[str, float]:
        grads, norm = backward_and_clip(self.params, loss, self.max_grad_norm)
        skipped = not math.isfinite(norm)
        if not skipped:
            self.apply(grads)
        return {"grad_norm": norm, "skipped_updates": float(skipped)}

    def apply(self, grads: list[torch.Tensor]) -> None:
        """One optimizer step with gradients already computed and clipped (a3c-ps: an actor's)."""
        if not math.isfinite(self.lr):
            raise ValueError("TrainStep.lr is not set: set it from the run's schedule before each update")
        self.optimizer.step(self.params if self.apply_to is None else self.apply_to, grads, self.lr)
