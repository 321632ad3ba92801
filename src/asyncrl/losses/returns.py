"""Discounted returns and advantages as pure functions of time-major tensors.

Conventions (as in rlax): index ``t`` runs over a rollout of ``T`` steps and ``B`` parallel
envs. ``r_t`` is the reward received after acting at step ``t``; ``discount_t`` multiplies
everything that comes after step ``t`` (``gamma`` while the episode goes on, ``0`` where it
terminated at step ``t``). Truncation (a time limit) is *not* a zero discount by itself: the
caller folds the value of the final observation into the reward with
:func:`fold_truncation_bootstrap` and cuts the trace there. Terminated and truncated therefore
stay separate all the way to the loss.
"""

from __future__ import annotations

import torch
from torch import Tensor


def fold_truncation_bootstrap(
    r_t: Tensor, discount_t: Tensor, truncated_t: Tensor, v_final_t: Tensor, gamma: float | Tensor
) -> tuple[Tensor, Tensor]:
    """Bootstrap truncated episodes from the value of their final observation.

    Where ``truncated_t`` is set, the episode was cut by a time limit after step ``t``: the
    next observation in the rollout belongs to a new episode, so the return must continue
    from ``V(final_obs_t)`` instead. This returns ``r_t + gamma * v_final_t`` there and a zero
    discount (so nothing from the next episode leaks in); other steps are unchanged.

    Args:
        r_t: ``[T, B]`` rewards.
        discount_t: ``[T, B]`` discounts (``gamma`` or ``0`` where terminated).
        truncated_t: ``[T, B]`` bool, truncated (and not terminated) after step ``t``.
        v_final_t: ``[T, B]`` value of the final observation (read only where truncated).
        gamma: the discount factor.

    Every argument may also carry a trailing axis of ``K`` critics (``[T, B, K]``, ``gamma [K]``;
    ``truncated_t [T, B, 1]``), as FeUdal's Manager and Worker with their own discounts.

    Returns:
        ``(r_t, discount_t)``, both ``[T, B]`` (or ``[T, B, K]``).
    """
    trunc = truncated_t.to(r_t.dtype)
    r = r_t + trunc * gamma * v_final_t
    d = discount_t * (1.0 - trunc)
    return r, d


def n_step_returns(r_t: Tensor, discount_t: Tensor, bootstrap: Tensor) -> Tensor:
    """n-step (truncated-at-rollout-end) discounted returns, as in A3C.

    ``G_t = r_t + discount_t * G_{t+1}`` with ``G_T = bootstrap``: every step's return uses
    all rewards up to the end of the rollout and bootstraps from the value there.

    Args:
        r_t: ``[T, B]`` rewards.
        discount_t: ``[T, B]`` discounts.
        bootstrap: ``[B]`` value of the observation after the last step, ``V(s_T)``.

    Returns:
        ``[T, B]`` returns.
    """
    returns = torch.empty_like(r_t)
    g = bootstrap
    for t in range(r_t.shape[0] - 1, -1, -1):
        g = r_t[t] + discount_t[t] * g
        returns[t] = g
    return returns


def gae_advantages(r_t: Tensor, discount_t: Tensor, v_t: Tensor, bootstrap: Tensor, lambda_: float) -> Tensor:
    """Generalized advantage estimation (Schulman et al., 2016).

    ``delta_t = r_t + discount_t * V(s_{t+1}) - V(s_t)`` and
    ``A_t = delta_t + discount_t * lambda * A_{t+1}`` with ``A_T = 0``. With ``lambda = 1``
    ``A_t + V(s_t)`` equals :func:`n_step_returns`; with ``lambda = 0`` ``A_t = delta_t``.

    Args:
        r_t: ``[T, B]`` rewards.
        discount_t: ``[T, B]`` discounts.
        v_t: ``[T, B]`` values ``V(s_t)`` of the rollout's observations.
        bootstrap: ``[B]`` value ``V(s_T)``.
        lambda_: the GAE lambda in ``[0, 1]``.

    Returns:
        ``[T, B]`` advantages; the value targets are ``advantages + v_t``.
    """
    v_tp1 = torch.cat([v_t[1:], bootstrap.unsqueeze(0)], dim=0)
    delta = r_t + discount_t * v_tp1 - v_t
    adv = torch.empty_like(r_t)
    a = torch.zeros_like(bootstrap)
    for t in range(r_t.shape[0] - 1, -1, -1):
        a = delta[t] + discount_t[t] * lambda_ * a
        adv[t] = a
    return adv


def advantages_and_returns(
    r_t: torch.Tensor,
    discount_t: torch.Tensor,
    v_t: torch.Tensor,
    bootstrap: torch.Tensor,
    gae_lambda: float,
    normalize: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages, returns)``, both ``[T, B]``, from detached values ``v_t [T, B]`` and ``bootstrap [B]``:
    n-step returns for ``gae_lambda == 1`` (A3C), GAE otherwise; the advantages standardised if
    ``normalize`` (the returns, the value targets, never are)."""
    if gae_lambda == 1.0:
        returns = n_step_returns(r_t, discount_t, bootstrap)
        adv = returns - v_t
    else:
        adv = gae_advantages(r_t, discount_t, v_t, bootstrap, gae_lambda)
        returns = adv + v_t
    if normalize and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return adv, returns
