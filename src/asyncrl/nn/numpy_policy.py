"""The acting path of a feed-forward :class:`~asyncrl.nn.model.ActorCritic` in numpy.

On a few envs a torch forward costs ~10 us per op in dispatch alone, which dominates the
step time of a small MLP. This evaluates the same torso and policy head with numpy on
*views* of the torch parameters (``param.detach().numpy()`` shares memory), so every in-place
update of the model (optimizer steps, copies from the shared model) is seen at once.
``tests/test_numpy_policy.py`` checks it against the torch forward: head outputs and ``act_logp``
against torch's ``log_prob`` (categorical and Gaussian heads, each activation), sample frequencies
against the policy's distribution, and in-place updates (the observation normaliser's statistics included).
LSTM models and one-hot observations act
through torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeGuard

import numpy as np
from torch import nn

from asyncrl.nn.model import ActorCritic
from asyncrl.nn.normalize import EPS

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0, out=x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
}


class NumpyPolicy:
    """``act(obs [B, *obs_shape]) -> actions [B] (int64) or [B, A] (float32, unclipped)``."""

    def __init__(self, model: ActorCritic, seed: int | None = None):
        if not self.supports(model):
            raise ValueError("NumpyPolicy needs a feed-forward model over Box observations")
        linears = [m for m in model.torso.modules() if isinstance(m, nn.Linear)]
        self.layers = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]
        self.head = (model.policy_head.weight.detach().numpy().T, model.policy_head.bias.detach().numpy())
        self.activation = _ACTIVATIONS[model.spec.activation]
        self.discrete = model.spec.action_kind == "discrete"
        self.log_std = np.zeros(0, np.float32) if self.discrete else model.log_std.detach().numpy()
        self.rng = np.random.default_rng(seed)
        bounds = model.mean_bounds
        self.bounds = None if bounds is None else tuple(b.numpy().astype(np.float32) for b in bounds)
        """The Gaussian mean's bounds (``spec.bounded_mean``), or ``None``."""
        norm = model.obs_norm
        self.norm = None if norm is None else (norm.mean.numpy(), norm.var.numpy(), np.float32(norm.clip))
        """Views of the observation normaliser's statistics (updated in place by training), or ``None``."""

    @staticmethod
    def supports(model: object) -> TypeGuard[ActorCritic]:
        return (
            isinstance(model, ActorCritic)
            and model.core is None
            and not model.spec.obs_discrete_n
            and model.spec.torso == "mlp"
            and model.spec.action_kind in ("discrete", "continuous")  # (factorised heads act through torch)
        )

    def params(self, obs: np.ndarray) -> np.ndarray:
        """Head outputs ``[B, A]``: logits or Gaussian means."""
        x = obs.reshape(obs.shape[0], -1).astype(np.float32, copy=False)
        if self.norm is not None:
            mean, var, clip = self.norm
            x = np.clip((x - mean) / np.sqrt(var + np.float32(EPS)), -clip, clip)
        for w, b in self.layers:
            x = self.activation(x @ w + b)
        w, b = self.head
        p = x @ w + b
        if self.bounds is not None:
            low, high = self.bounds
            p = low + (high - low) * (np.tanh(p) + np.float32(1.0)) * np.float32(0.5)
        return p

    def act_logp(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sampled actions and their log-probabilities ``[B]`` (float32) under this policy."""
        p = self.params(obs)
        a = self._sample(p)
        if self.discrete:
            m = p.max(-1, keepdims=True)
            log_z = m[:, 0] + np.log(np.exp(p - m).sum(-1))
            logp = np.take_along_axis(p, a[:, None], -1)[:, 0] - log_z
        else:
            z = (a - p) * np.exp(-self.log_std)
            logp = (-0.5 * z * z - self.log_std - np.float32(0.5 * np.log(2 * np.pi))).sum(-1)
        return a, logp.astype(np.float32)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        p = self.params(obs)
        if deterministic:
            return p.argmax(-1) if self.discrete else p
        return self._sample(p)

    def _sample(self, p: np.ndarray) -> np.ndarray:
        if self.discrete:
            e = np.exp(p - p.max(-1, keepdims=True))
            cdf = np.cumsum(e, -1)
            u = self.rng.random((p.shape[0], 1), dtype=np.float32) * cdf[:, -1:]
            return np.minimum((cdf <= u).sum(-1), p.shape[-1] - 1).astype(np.int64)
        noise = self.rng.standard_normal(p.shape, dtype=np.float32)
        return (p + np.exp(self.log_std) * noise).astype(np.float32)
