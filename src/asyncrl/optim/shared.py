"""RMSprop and Adam with explicit gradients and state that can live in shared memory.

A3C's workers compute gradients on local model copies and apply them to the shared model.
These optimizers take the gradients as an argument, ``opt.step(params, grads)``, instead of
reading ``param.grad``: the hand-off cannot go stale when ``zero_grad()`` sets gradients to
``None``, and no per-process ``.grad`` link has to be kept alive. All state, the step count
included, is created eagerly in ``__init__`` and, with ``shared=True``, moved to shared memory
before any worker starts, so every worker updates the same statistics (the paper's
"shared RMSProp"). With ``shared=False`` each worker builds its own instance.

The update rules equal ``torch.optim.RMSprop`` (no momentum, not centered) and
``torch.optim.Adam`` (no weight decay, no amsgrad); tests check this step by step.
:class:`RMSpropTF` is RMSProp as TensorFlow computes it, the form the A3C paper writes (Mnih et
al., 2016, "Optimization": ``theta -= lr * g / sqrt(v + eps)``) and Stable-Baselines3's
``RMSpropTFLike`` (used by RL Zoo's Atari A2C): epsilon inside the square root and the running
average of squared gradients starting at 1 instead of 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class _SharedStateOptimizer:
    """Common state handling: named lists of tensors plus one step counter."""

    kind = ""
    slots: tuple[str, ...] = ()
    initial_value = 0.0
    """What every state tensor starts at."""

    def __init__(self, params: Sequence[Tensor], lr: float | None, shared: bool):
        if lr is not None and lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = lr
        """The learning rate of a :meth:`step` that names none (``None``: every step must name one, as the
        runtimes do with the scheduled lr)."""
        self.state: dict[str, list[Tensor]] = {
            name: [torch.full_like(p, self.initial_value, memory_format=torch.preserve_format) for p in params]
            for name in self.slots
        }
        self.step_count = torch.zeros((), dtype=torch.float64)
        if shared:
            for tensors in self.state.values():
                for t in tensors:
                    t.share_memory_()
            self.step_count.share_memory_()

    @torch.no_grad()
    def step(self, params: Sequence[Tensor], grads: Sequence[Tensor | None], lr: float | None = None) -> None:
        """Apply one update of ``params`` (in place) with ``grads`` at ``lr`` (default: the constructor's);
        ``None`` grads are skipped."""
        lr = self.lr if lr is None else lr
        if lr is None:
            raise ValueError("no learning rate: pass lr to step() or to the constructor")
        self.step_count += 1
        idx = [i for i, g in enumerate(grads) if g is not None]
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
        if idx:
            state = {k: [v[i] for i in idx] for k, v in self.state.items()}
            self._update([params[i] for i in idx], [g for g in grads if g is not None], state, lr)

    def _update(self, ps: list[Tensor], gs: list[Tensor], state: dict[str, list[Tensor]], lr: float) -> None:
        """Update the parameters ``ps`` in place (``torch._foreach_*``: one kernel call per op)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Plain tensors only (safe for ``torch.load(weights_only=True)``)."""
        return {
            "kind": self.kind,
            "step": self.step_count.clone(),
            **{k: [t.clone() for t in v] for k, v in self.state.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Copy saved state in place (shared tensors stay shared)."""
        if state.get("kind") != self.kind:
            raise ValueError(f"optimizer state is for {state.get('kind')!r}, not {self.kind!r}")
        self.step_count.copy_(state["step"])
        for k, tensors in self.state.items():
            for t, s in zip(tensors, state[k], strict=True):
                t.copy_(s)


class RMSprop(_SharedStateOptimizer):
    """``v = alpha * v + (1 - alpha) * g^2``; ``p -= lr * g / (sqrt(v) + eps)``."""

    kind = "rmsprop"
    slots = ("square_avg",)

    def __init__(
        self, params: Sequence[Tensor], lr: float | None, alpha: float = 0.99, eps: float = 1e-5, shared: bool = True
    ):
        super().__init__(params, lr, shared)
        self.alpha, self.eps = alpha, eps

    def _update(self, ps: list[Tensor], gs: list[Tensor], state: dict[str, list[Tensor]], lr: float) -> None:
        v = state["square_avg"]
        torch._foreach_mul_(v, self.alpha)
        torch._foreach_addcmul_(v, gs, gs, value=1.0 - self.alpha)
        torch._foreach_addcdiv_(ps, gs, self._denominator(v), value=-lr)

    def _denominator(self, v: list[Tensor]) -> list[Tensor]:
        denom = list(torch._foreach_sqrt(v))
        torch._foreach_add_(denom, self.eps)
        return denom


class RMSpropTF(RMSprop):
    """TensorFlow-style RMSProp: ``v = alpha * v + (1 - alpha) * g^2`` with ``v`` starting at 1;
    ``p -= lr * g / sqrt(v + eps)``.

    Epsilon inside the square root bounds the step of a parameter whose gradients are tiny by
    ``lr * |g| / sqrt(eps)`` (torch's form allows up to ``lr * |g| / eps``), and starting at 1 makes
    the first updates small instead of ``lr * sign(g) / sqrt(1 - alpha)``.
    """

    kind = "rmsprop-tf"
    initial_value = 1.0

    def _denominator(self, v: list[Tensor]) -> list[Tensor]:
        denom = list(torch._foreach_add(v, self.eps))
        torch._foreach_sqrt_(denom)
        return denom


class Adam(_SharedStateOptimizer):
    """Adam (Kingma and Ba, 2015) with bias correction, as ``torch.optim.Adam`` computes it."""

    kind = "adam"
    slots = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float | None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        shared: bool = True,
    ):
        super().__init__(params, lr, shared)
        self.betas, self.eps = betas, eps

    def _update(self, ps: list[Tensor], gs: list[Tensor], state: dict[str, list[Tensor]], lr: float) -> None:
        b1, b2 = self.betas
        m, v = state["exp_avg"], state["exp_avg_sq"]
        step = float(self.step_count)
        torch._foreach_lerp_(m, gs, 1.0 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, gs, gs, value=1.0 - b2)
        bias1 = 1.0 - b1**step
        bias2_sqrt = (1.0 - b2**step) ** 0.5
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(ps, m, denom, value=-lr / bias1)


def make_optimizer(
    name: str, params: Sequence[Tensor], lr: float | None, shared: bool, eps: float | None = None, alpha: float = 0.99
) -> _SharedStateOptimizer:
    """``name`` is ``"rmsprop"``, ``"rmsprop-tf"`` or ``"adam"``; ``eps`` defaults to each one's usual value."""
    params = list(params)
    if name == "rmsprop":
        return RMSprop(params, lr, alpha=alpha, eps=1e-5 if eps is None else eps, shared=shared)
    if name == "rmsprop-tf":
        return RMSpropTF(params, lr, alpha=alpha, eps=1e-5 if eps is None else eps, shared=shared)
    if name == "adam":
        return Adam(params, lr, eps=1e-8 if eps is None else eps, shared=shared)
    raise ValueError(f"optimizer {name!r} is not supported (allowed: rmsprop, rmsprop-tf, adam)")
