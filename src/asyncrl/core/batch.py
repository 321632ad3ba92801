"""The data every layer shares: the time-major :class:`Rollout` batch and the core-state type.

This is the ground floor: it imports nothing from asyncrl, so losses, algorithms, networks and
runtimes can all depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

CoreState = tuple[Tensor, Tensor] | None
"""LSTM state ``(h [B, H], c [B, H])``, or ``None`` for feed-forward models."""


@dataclass
class Rollout:
    """``T`` steps of ``B`` envs, time-major.

    Attributes:
        obs: ``[T + 1, B, *obs_shape]``; ``obs[T]`` is the observation to bootstrap from.
        first: ``[T + 1, B]`` bool, ``obs[t]`` is the first observation of an episode.
        actions: ``[T, B]`` (discrete) or ``[T, B, A]`` (continuous), as sampled (unclipped).
        r_t: ``[T, B]`` scaled rewards, with truncated episodes' bootstrap folded in; ``[T, B, K]``
            for a model with ``K`` critics and discounts (FeUdal: Manager, Worker), one per critic.
        discount_t: ``[T, B]`` (or ``[T, B, K]``) ``gamma``, or ``0`` where the episode ended after step ``t``.
        core_state: the model's core state before ``obs[0]`` (``None`` without LSTM; a tuple of
            batch-first tensors otherwise).
        behaviour_logp: ``[T, B]`` ``log mu(a_t|x_t)`` of the acting policy (``None`` unless recorded).
        returns: ``[T, B]`` the running discounted return of the raw rewards after each step (reset at episode
            ends), what the reward normaliser learns its scale from (``None`` unless the model has one).
        action_mask: ``[T, B, head_size]`` bool, the actions allowed at each step (the env's
            ``info["action_mask"]``; ``None`` for an env without masks).
    """

    obs: Tensor
    first: Tensor
    actions: Tensor
    r_t: Tensor
    discount_t: Tensor
    core_state: CoreState
    behaviour_logp: Tensor | None = None
    returns: Tensor | None = None
    action_mask: Tensor | None = None

    @property
    def num_steps(self) -> int:
        return self.r_t.shape[0] * self.r_t.shape[1]


def empty_rollout(spec: Any, T: int, B: int, obs_dtype: torch.dtype = torch.float32, logp: bool = True) -> Rollout:
    """A zero-filled :class:`Rollout` of ``T`` steps and ``B`` envs for a model ``spec`` (to fill in place).

    ``spec`` is a :class:`~asyncrl.nn.spec.ModelSpec` (read for its shapes, and whether it normalises rewards)."""
    obs_shape = tuple(spec.obs_shape)
    continuous = spec.action_kind == "continuous"
    core = None
    if spec.lstm:
        core = (torch.zeros(B, spec.lstm_size), torch.zeros(B, spec.lstm_size))
    return Rollout(
        obs=torch.zeros((T + 1, B, *obs_shape), dtype=torch.int64 if spec.obs_discrete_n else obs_dtype),
        first=torch.zeros((T + 1, B), dtype=torch.bool),
        actions=torch.zeros((T, B, *spec.step_action_shape), dtype=torch.float32 if continuous else torch.int64),
        r_t=torch.zeros((T, B, *spec.value_shape)),
        discount_t=torch.zeros((T, B, *spec.value_shape)),
        core_state=core,
        behaviour_logp=torch.zeros((T, B)) if logp else None,
        returns=torch.zeros((T, B)) if spec.normalize_reward else None,
        action_mask=torch.ones((T, B, spec.head_size), dtype=torch.bool) if spec.action_masks else None,
    )
