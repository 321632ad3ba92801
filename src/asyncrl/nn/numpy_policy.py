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

from asyncrl.nn.heads import SDE_EPS
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.normalize import EPS

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0, out=x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
}


class NumpyPolicy:
    """``act(obs [B, *obs_shape]) -> actions [B] (int64) or [B, A] (float32, unclipped)``. With gSDE
    (``spec.sde``) the caller holds each env's noise matrix ``[B, K, A]`` (:meth:`sde_weights`) and passes it."""

    def __init__(self, model: ActorCritic, seed: int | None = None):
        if not self.supports(model):
            raise ValueError("NumpyPolicy needs a feed-forward model over Box observations")
        linears = [m for m in model.torso.modules() if isinstance(m, nn.Linear)]
        self.layers = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]
        self.head = (model.policy_head.weight.detach().numpy().T, model.policy_head.bias.detach().numpy())
        self.activation = _ACTIVATIONS[model.spec.activation]
        self.discrete = model.spec.action_kind == "discrete"
        self.log_std = np.zeros(0, np.float32) if self.discrete else model.log_std.detach().numpy()
        """``[A]``, or gSDE's ``[K, A]``."""
        self.sde = model.sde_features > 0
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
        """Head outputs ``[B, A]``: logits or Gaussian means (gSDE: ``[B, A + K]``, the means then the features,
        as the torch model gives them)."""
        x, p = self._features_mean(obs)
        return np.concatenate([p, x], -1) if self.sde else p

    def _features_mean(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The policy head's input ``[B, K]`` and its outputs ``[B, A]``."""
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
        return x, p

    def _log_std(self, x: np.ndarray) -> np.ndarray:
        """The Gaussian's log-std: ``[A]``, or gSDE's ``[B, A]`` from the features ``x [B, K]``
        (:func:`asyncrl.nn.heads.sde_log_std`)."""
        if not self.sde:
            return self.log_std
        return np.float32(0.5) * np.log((x * x) @ np.exp(np.float32(2.0) * self.log_std) + np.float32(SDE_EPS))

    def sde_weights(self, batch: int) -> np.ndarray:
        """gSDE: fresh noise matrices ``[batch, K, A]`` drawn from ``N(0, exp(log_std)^2)``."""
        shape = (batch, *self.log_std.shape)
        return self.rng.standard_normal(shape, dtype=np.float32) * np.exp(self.log_std)

    def act_logp(self, obs: np.ndarray, sde_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sampled actions and their log-probabilities ``[B]`` (float32) under this policy."""
        x, p = self._features_mean(obs)
        a = self._sample(x, p, sde_weights)
        if self.discrete:
            m = p.max(-1, keepdims=True)
            log_z = m[:, 0] + np.log(np.exp(p - m).sum(-1))
            logp = np.take_along_axis(p, a[:, None], -1)[:, 0] - log_z
        else:
            log_std = self._log_std(x)
            z = (a - p) * np.exp(-log_std)
            logp = (-0.5 * z * z - log_std - np.float32(0.5 * np.log(2 * np.pi))).sum(-1)
        return a, logp.astype(np.float32)

    def act(self, obs: np.ndarray, deterministic: bool = False, sde_weights: np.ndarray | None = None) -> np.ndarray:
        x, p = self._features_mean(obs)
        if deterministic:
            return p.argmax(-1) if self.discrete else p
        return self._sample(x, p, sde_weights)

    def _sample(self, x: np.ndarray, p: np.ndarray, sde_weights: np.ndarray | None = None) -> np.ndarray:
        if self.discrete:
            e = np.exp(p - p.max(-1, keepdims=True))
            cdf = np.cumsum(e, -1)
            u = self.rng.random((p.shape[0], 1), dtype=np.float32) * cdf[:, -1:]
            return np.minimum((cdf <= u).sum(-1), p.shape[-1] - 1).astype(np.int64)
        if sde_weights is not None:
            return (p + np.einsum("bk,bka->ba", x, sde_weights)).astype(np.float32)
        noise = self.rng.standard_normal(p.shape, dtype=np.float32)
        return (p + np.exp(self._log_std(x)) * noise).astype(np.float32)
