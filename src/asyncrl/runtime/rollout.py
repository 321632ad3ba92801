"""Collect time-major rollouts from a vector env with a policy; shared by every runtime.

Acting runs without gradients (in numpy for feed-forward MLPs, see
:mod:`asyncrl.nn.numpy_policy`); the learner re-runs the model on the whole rollout in one
batched forward, which is exact because the acting parameters do not change during a rollout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from asyncrl.envs.vector import EpisodeTracker
from asyncrl.losses.returns import fold_truncation_bootstrap
from asyncrl.nn.model import ActorCritic, CoreState
from asyncrl.nn.numpy_policy import NumpyPolicy


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
    """Steps ``venv`` with ``model`` for ``n_steps`` at a time; keeps env and core state between rollouts.

    ``model``'s parameters may change between rollouts (in place); the collector always acts
    with their current values.
    """

    def __init__(self, venv, model: ActorCritic, n_steps: int, gamma: float, reward_scale: float = 1.0,
                 seed: int | None = None):
        self.venv, self.model, self.n_steps = venv, model, n_steps
        self.gamma, self.reward_scale = gamma, reward_scale
        B = venv.num_envs
        self.obs = np.asarray(venv.reset(seed=seed))
        self.first = np.ones(B, dtype=bool)
        self.core_state = model.initial_state(B)
        self.fast = NumpyPolicy(model, seed) if NumpyPolicy.supports(model) else None
        if seed is not None:
            torch.manual_seed(seed)
        self.tracker = EpisodeTracker(B)
        self.finished: list[tuple[float, int]] = []
        """Episodes (return, length) finished since the caller last cleared this list."""
        spec = model.spec
        self._action_shape = (B,) if spec.action_kind == "discrete" else (B, spec.action_dim)
        self._action_dtype = np.int64 if spec.action_kind == "discrete" else np.float32

    def collect(self) -> Rollout:
        model, T, B = self.model, self.n_steps, self.venv.num_envs
        obs = np.empty((T + 1, *self.obs.shape), dtype=self.obs.dtype)
        first = np.empty((T + 1, B), dtype=bool)
        actions = np.empty((T, *self._action_shape), dtype=self._action_dtype)
        rewards = np.empty((T, B), np.float32)
        terminated = np.empty((T, B), bool)
        truncs = np.zeros((T, B), bool)
        v_final = np.zeros((T, B), np.float32)
        start_state = state = self.core_state
        for t in range(T):
            obs[t], first[t] = self.obs, self.first
            if self.fast is not None:
                action = self.fast.act(self.obs)
            else:
                a, _, state = model.act(torch.from_numpy(self.obs), state, torch.from_numpy(self.first))
                action = a.numpy()
            actions[t] = action
            res = self.venv.step(model.env_actions(action))
            done = res.terminated | res.truncated
            self.finished += self.tracker.update(res.reward, done)
            rewards[t], terminated[t] = res.reward, res.terminated
            if res.truncated.any():
                idx = np.flatnonzero(res.truncated)
                truncs[t, idx] = True
                v_final[t, idx] = self._final_values(res.final_obs[idx], state, idx)
            self.obs, self.first = res.obs, done
        obs[T], first[T] = self.obs, self.first
        self.core_state = state
        discounts = torch.from_numpy((~terminated).astype(np.float32) * np.float32(self.gamma))
        r_t, discount_t = fold_truncation_bootstrap(torch.from_numpy(rewards * np.float32(self.reward_scale)),
                                                    discounts, torch.from_numpy(truncs),
                                                    torch.from_numpy(v_final), self.gamma)
        return Rollout(torch.from_numpy(obs), torch.from_numpy(first), torch.from_numpy(actions), r_t, discount_t,
                       start_state)

    @torch.no_grad()
    def _final_values(self, final_obs: np.ndarray, state: CoreState, idx: np.ndarray) -> Tensor:
        """``V(final_obs)`` for the truncated envs ``idx``, continuing their core state."""
        sub = None if state is None else (state[0][idx], state[1][idx])
        o = torch.as_tensor(final_obs).unsqueeze(0)
        out = self.model(o, sub, torch.zeros((1, len(idx)), dtype=torch.bool))
        return out.value[0].numpy()
