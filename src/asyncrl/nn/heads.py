"""Action distributions as small pure functions (faster than ``torch.distributions`` on tiny batches).

Categorical heads take ``logits [..., n]``; diagonal-Gaussian heads take ``mean [..., d]`` and a
``log_std [d]`` that broadcasts over the leading dimensions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


def categorical_sample(logits: Tensor, deterministic: bool = False) -> Tensor:
    """``logits [..., n]`` -> actions ``[...]`` (int64): argmax or a sample."""
    if deterministic:
        return logits.argmax(dim=-1)
    # Inverse-CDF sampling: much cheaper than torch.multinomial on tiny batches.
    cdf = torch.softmax(logits, dim=-1).cumsum(-1)
    u = torch.rand(logits.shape[:-1] + (1,), dtype=cdf.dtype)
    return (cdf <= u * cdf[..., -1:]).sum(-1).clamp_(max=logits.shape[-1] - 1)


def categorical_log_prob_entropy(logits: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
    """``logits [..., n]``, ``actions [...]`` -> ``(log_prob [...], entropy [...])``."""
    logp = torch.log_softmax(logits, dim=-1)
    log_prob = logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return log_prob, entropy


def bounded_mean(raw: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """A Gaussian mean squashed into the action bounds: ``low + (high - low) * (tanh(raw) + 1) / 2``.
    ``raw [..., A]``, ``low``/``high [A]`` finite -> ``[..., A]`` within the bounds. The samples drawn
    around it are still clipped by the env's bounds; the log-probability is that of the Gaussian, as without it."""
    return low + (high - low) * (torch.tanh(raw) + 1.0) * 0.5


def gaussian_sample(mean: Tensor, log_std: Tensor, deterministic: bool = False) -> Tensor:
    """``mean [..., d]`` -> actions ``[..., d]`` (unclipped; the env wrapper clips to bounds)."""
    if deterministic:
        return mean
    return mean + log_std.exp() * torch.randn_like(mean)


def gaussian_log_prob_entropy(mean: Tensor, log_std: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
    """Diagonal Gaussian: ``mean [..., d]``, ``log_std [d]`` (or ``[..., d]``: gSDE's), ``actions [..., d]`` ->
    ``(log_prob [...], entropy [...])``, summed over the action dimensions."""
    z = (actions - mean) * torch.exp(-log_std)
    log_prob = (-0.5 * z.pow(2) - log_std - 0.5 * _LOG_2PI).sum(-1)
    entropy = (0.5 + 0.5 * _LOG_2PI + log_std).sum(-1).expand(log_prob.shape)
    return log_prob, entropy


# ---- generalised state-dependent exploration (gSDE; Raffin, Kober & Stulp, CoRL 2021) ------------------------
# The exploration noise is a linear function of the policy's latent features ``z [..., k]``: ``eps = z @ W`` with
# ``W [k, A]`` drawn from ``N(0, exp(log_std)^2)`` and held for several steps, so an env's noise changes smoothly
# with its state instead of at every step. Given ``z``, the action is Gaussian around the mean with the std below
# (the log-probability the losses use); ``z`` is detached there, as in the paper's default.

SDE_EPS = 1e-6
"""Added to the gSDE variance (as Stable-Baselines3 does): a latent of zeros still gives a proper Gaussian."""


def sde_log_std(latent: Tensor, log_std: Tensor) -> Tensor:
    """gSDE's per-sample log-std: ``latent [..., k]``, ``log_std [k, A]`` -> ``[..., A]``, half the log of
    ``latent^2 @ exp(log_std)^2 + SDE_EPS`` (the variance of ``latent @ W`` over ``W``)."""
    return 0.5 * torch.log(latent.pow(2) @ torch.exp(2.0 * log_std) + SDE_EPS)


def sde_weights(log_std: Tensor, batch: int) -> Tensor:
    """Fresh exploration matrices ``[batch, k, A]``, one per env: ``W ~ N(0, exp(log_std)^2)``."""
    return torch.randn((batch, *log_std.shape), dtype=log_std.dtype) * log_std.exp()


def sde_sample(mean: Tensor, latent: Tensor, weights: Tensor) -> Tensor:
    """``mean [B, A]`` plus each env's noise ``latent [B, k] @ weights [B, k, A]`` -> actions ``[B, A]``."""
    return mean + torch.einsum("bk,bka->ba", latent, weights)


# ---- factorised heads: MultiDiscrete (one categorical per factor) and MultiBinary (one Bernoulli per bit) -----


def multi_categorical_sample(logits: Tensor, nvec: list[int], deterministic: bool = False) -> Tensor:
    """``logits [..., sum(nvec)]`` (the factors' logits side by side) -> actions ``[..., F]`` (int64), one category
    of each factor ``f`` from ``0`` to ``nvec[f] - 1``."""
    return torch.stack([categorical_sample(part, deterministic) for part in torch.split(logits, nvec, dim=-1)], dim=-1)


def multi_categorical_log_prob_entropy(logits: Tensor, nvec: list[int], actions: Tensor) -> tuple[Tensor, Tensor]:
    """``logits [..., sum(nvec)]``, ``actions [..., F]`` -> ``(log_prob [...], entropy [...])``, summed over the
    factors (independent categoricals: the joint log-probability and entropy are the sums)."""
    log_prob, entropy = zip(
        *(
            categorical_log_prob_entropy(part, actions[..., f])
            for f, part in enumerate(torch.split(logits, nvec, dim=-1))
        )
    )
    return torch.stack(log_prob, -1).sum(-1), torch.stack(entropy, -1).sum(-1)


def bernoulli_sample(logits: Tensor, deterministic: bool = False) -> Tensor:
    """``logits [..., F]`` (log-odds of each bit being 1) -> bits ``[..., F]`` (int64)."""
    if deterministic:
        return (logits > 0).long()
    return (torch.rand_like(logits) < torch.sigmoid(logits)).long()


def bernoulli_log_prob_entropy(logits: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
    """``logits [..., F]``, bits ``actions [..., F]`` -> ``(log_prob [...], entropy [...])``, summed over the bits:
    ``log p(1) = -softplus(-l)``, ``log p(0) = -softplus(l)``."""
    log_p1, log_p0 = -torch.nn.functional.softplus(-logits), -torch.nn.functional.softplus(logits)
    log_prob = torch.where(actions.bool(), log_p1, log_p0).sum(-1)
    entropy = -(log_p1.exp() * log_p1 + log_p0.exp() * log_p0).sum(-1)
    return log_prob, entropy


def masked_logits(logits: Tensor, mask: Tensor | None) -> Tensor:
    """``logits [..., n]`` with the actions ``mask [..., n]`` forbids (``False``) pushed to a large negative value,
    so that they are never sampled and their probability (and share of the entropy) is zero; ``mask=None``:
    ``logits`` as they are. A factorised head's mask is its factors' masks side by side."""
    return logits if mask is None else logits.masked_fill(~mask, -1e9)
