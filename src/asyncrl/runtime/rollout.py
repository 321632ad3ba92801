"""Collect time-major rollouts from a vector env with a policy; shared by every runtime.

Acting runs without gradients; the learner re-runs the model on the whole rollout in one
batched forward (exact, because the acting parameters do not change during a rollout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from asyncrl.losses.returns import fold_truncation_bootstrap
from asyncrl.nn.model import ActorCritic, CoreState
from asyncrl.envs.vector import EpisodeTracker


@dataclass
class Rollout:
    """``T`` steps of ``B`` envs, time-major.

    Attributes:
        obs: ``[T + 1, B, *obs_shape]``; ``obs[T]`` is the observation to bootstrap from.
        first: ``[T + 1, B]`` bool, ``obs[t]`` is the first observation of an episode.
        actions: ``[T, B]`` (discrete) or ``[T, B, A]`` (continuous), as sampled (unclipped).
        r_t: ``[T, B]`` scaled rewards, with truncated episodes' bootstrap folded in.
        discount_t: ``[T, B]`` ``gamma``, or ``0`` where the episode ended after step ``t``.
        core_state: the model's core state before ``obs[0]`` (``None`` without LSTM).
    """

    obs: Tensor
    first: Tensor
    actions: Tensor
    r_t: Tensor
    discount_t: Tensor
    core_state: CoreState

    @property
    def num_steps(self) -> int:
        return self.r_t.numel()


class RolloutCollector:
    """Steps ``venv`` for ``n_steps`` at a time; keeps the env and core state between rollouts."""

    def __init__(self, venv, model: ActorCritic, n_steps: int, gamma: float, reward_scale: float = 1.0,
                 seed: int | None = None):
        self.venv, self.n_steps, self.gamma, self.reward_scale = venv, n_steps, gamma, reward_scale
        B = venv.num_envs
        self.obs = np.asarray(venv.reset(seed=seed))
        self.first = torch.ones(B, dtype=torch.bool)
        self.core_state = model.initial_state(B)
        self.tracker = EpisodeTracker(B)
        self.finished: list[tuple[float, int]] = []
        """Episodes (return, length) finished since the caller last cleared this list."""

    def collect(self, model: ActorCritic) -> Rollout:
        T, B = self.n_steps, self.venv.num_envs
        obs = torch.empty((T + 1, B, *self.obs.shape[1:]), dtype=torch.as_tensor(self.obs).dtype)
        first = torch.empty((T + 1, B), dtype=torch.bool)
        rewards = torch.empty((T, B))
        discounts = torch.empty((T, B))
        truncs = torch.zeros((T, B), dtype=torch.bool)
        v_final = torch.zeros((T, B))
        actions = []
        start_state = self.core_state
        state = self.core_state
        for t in range(T):
            obs[t] = torch.from_numpy(self.obs)
            first[t] = self.first
            action, _, state = model.act(obs[t], state, self.first)
            res = self.venv.step(model.env_actions(action))
            actions.append(action)
            done = res.terminated | res.truncated
            self.finished += self.tracker.update(res.reward, done)
            rewards[t] = torch.from_numpy(res.reward.astype(np.float32, copy=False))
            discounts[t] = torch.from_numpy((~res.terminated).astype(np.float32)) * self.gamma
            if res.truncated.any():
                idx = np.flatnonzero(res.truncated)
                truncs[t, idx] = True
                v_final[t, idx] = self._final_values(model, res.final_obs[idx], state, idx)
            self.obs = res.obs
            self.first = torch.from_numpy(done)
        obs[T] = torch.from_numpy(self.obs)
        first[T] = self.first
        self.core_state = state
        r_t, discount_t = fold_truncation_bootstrap(rewards * self.reward_scale, discounts, truncs, v_final,
                                                    self.gamma)
        return Rollout(obs, first, torch.stack(actions), r_t, discount_t, start_state)

    @torch.no_grad()
    def _final_values(self, model: ActorCritic, final_obs: np.ndarray, state: CoreState, idx: np.ndarray) -> Tensor:
        """``V(final_obs)`` for the truncated envs ``idx``, continuing their core state."""
        sub = None if state is None else (state[0][idx], state[1][idx])
        o = torch.as_tensor(final_obs).unsqueeze(0)
        out = model(o, sub, torch.zeros((1, len(idx)), dtype=torch.bool))
        return out.value[0]
