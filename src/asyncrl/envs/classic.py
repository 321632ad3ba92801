"""Numpy-batched CartPole-v1 and Pendulum-v1 with same-step autoreset.

These mirror Gymnasium 1.x's ``CartPoleEnv`` and ``PendulumEnv`` (dynamics, constants, rewards,
termination, reset distributions, observation dtypes) plus the ``TimeLimit`` wrapper of their
registered ids (500 steps for CartPole-v1, 200 for Pendulum-v1), but step all ``B`` envs with one
set of array operations instead of a Python loop. States are float64 like Gymnasium's;
``tests/test_classic_envs.py`` checks them step by step against Gymnasium's own envs.

Differences from a Gymnasium vector env: an env whose episode ends in ``step`` is reset in that
same call (``StepResult.obs`` is the first observation of its next episode, ``final_obs`` the last
of the one that ended), and ``truncated`` is never set together with ``terminated``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces


@dataclass
class StepResult:
    """What a batched ``step`` returns; ``B`` is the number of envs.

    obs: [B, *obs_shape] float32; for an env whose episode ended this step, already the first
        observation of its next episode.
    reward: [B] float32.
    terminated: [B] bool.
    truncated: [B] bool, time limit reached; never True where ``terminated`` is.
    final_obs: [B, *obs_shape] float32; the last observation of the episode that ended this step
        in rows where ``terminated | truncated``, equal to ``obs`` in the other rows.
    games: for envs whose learning episodes are not whole games (``reports_games``: Atari with episodic
        life and clipped rewards), the games that ended this step as ``(env index, score, agent steps)``;
        ``None`` for every other env, whose episodes are the games.
    """

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    games: list[tuple[int, float, int]] | None = None


class _BatchedClassicEnv:
    """Shared reset/step/time-limit/autoreset logic. ``state`` is [B, state_dim] float64."""

    max_episode_steps: int

    def __init__(self, num_envs: int, seed: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self._rng = np.random.default_rng(seed)
        self.state: np.ndarray | None = None
        self.elapsed = np.zeros(num_envs, np.int64)  # steps taken in each env's current episode

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Starts a new episode in every env; returns obs [B, *obs_shape] float32.

        ``seed`` (if given) reseeds the internal ``np.random.Generator``.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = self._initial_states(self.num_envs)
        self.elapsed[:] = 0
        return self._observe(self.state)

    def step(self, actions: np.ndarray) -> StepResult:
        """Steps all envs once, resetting those whose episode ends; see :class:`StepResult`."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        reward, terminated = self._advance(actions)  # updates self.state in place
        self.elapsed += 1
        truncated = (self.elapsed >= self.max_episode_steps) & ~terminated
        final_obs = self._observe(self.state)
        done = terminated | truncated
        if done.any():
            idx = np.flatnonzero(done)
            self.state[idx] = self._initial_states(idx.size)
            self.elapsed[idx] = 0
            obs = final_obs.copy()
            obs[idx] = self._observe(self.state[idx])
        else:
            obs = final_obs.copy()
        return StepResult(obs, reward, terminated, truncated, final_obs)

    def close(self) -> None:
        """Nothing to release; present for the vector-env interface."""

    def _initial_states(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def _observe(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs})"


class CartPoleVec(_BatchedClassicEnv):
    """``B`` CartPole-v1 envs. Actions [B] int in {0, 1}; obs [B, 4] float32
    (x, x_dot, theta, theta_dot); reward 1 per step, including the terminating one."""

    max_episode_steps = 500
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, num_envs: int, seed: int | None = None):
        super().__init__(num_envs, seed)
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold * 2, np.inf], np.float32)
        self.single_observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = spaces.Discrete(2)
        self._ones = np.ones(num_envs, np.float32)

    def _initial_states(self, n: int) -> np.ndarray:
        return self._rng.uniform(-0.05, 0.05, size=(n, 4))

    def _observe(self, state: np.ndarray) -> np.ndarray:
        return state.astype(np.float32)

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        actions = np.asarray(actions).reshape(self.num_envs)
        s = self.state
        assert s is not None, "reset() first"
        x, x_dot, theta, theta_dot = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
        force = np.where(actions == 1, self.force_mag, -self.force_mag)
        cos, sin = np.cos(theta), np.sin(theta)
        # Same operation order as Gymnasium, so results agree to the last bit.
        temp = (force + self.polemass_length * np.square(theta_dot) * sin) / self.total_mass
        denom = self.length * (4.0 / 3.0 - self.masspole * np.square(cos) / self.total_mass)
        theta_acc = (self.gravity * sin - cos * temp) / denom
        x_acc = temp - self.polemass_length * theta_acc * cos / self.total_mass
        # Euler integrator: positions move with the old velocities.
        new = np.stack(
            [
                x + self.tau * x_dot,
                x_dot + self.tau * x_acc,
                theta + self.tau * theta_dot,
                theta_dot + self.tau * theta_acc,
            ],
            axis=1,
        )
        self.state = new
        terminated = (np.abs(new[:, 0]) > self.x_threshold) | (np.abs(new[:, 2]) > self.theta_threshold)
        return self._ones.copy(), terminated


class PendulumVec(_BatchedClassicEnv):
    """``B`` Pendulum-v1 envs (g=10). Actions [B, 1] float, clipped to [-2, 2] and cast to
    float32 like the action space; obs [B, 3] float32 (cos th, sin th, thdot); never terminates."""

    max_episode_steps = 200
    max_speed, max_torque, dt, g, m, l = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0

    def __init__(self, num_envs: int, seed: int | None = None):
        super().__init__(num_envs, seed)
        high = np.array([1.0, 1.0, self.max_speed], np.float32)
        self.single_observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = spaces.Box(-self.max_torque, self.max_torque, (1,), np.float32)
        self._high = np.array([np.pi, 1.0])
        self._never = np.zeros(num_envs, bool)

    def _initial_states(self, n: int) -> np.ndarray:
        return self._rng.uniform(-self._high, self._high, size=(n, 2))

    def _observe(self, state: np.ndarray) -> np.ndarray:
        th = state[:, 0]
        return np.stack([np.cos(th), np.sin(th), state[:, 1]], axis=1).astype(np.float32)

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = np.clip(np.asarray(actions, np.float32).reshape(self.num_envs), -self.max_torque, self.max_torque)
        assert self.state is not None, "reset() first"
        th, thdot = self.state[:, 0], self.state[:, 1]
        th_norm = ((th + np.pi) % (2 * np.pi)) - np.pi
        costs = th_norm**2 + 0.1 * thdot**2 + 0.001 * (u**2)
        # u stays float32 here (as in Gymnasium), so 3/(m l^2) * u is rounded in float32.
        new_thdot = thdot + (3 * self.g / (2 * self.l) * np.sin(th) + 3.0 / (self.m * self.l**2) * u) * self.dt
        new_thdot = np.clip(new_thdot, -self.max_speed, self.max_speed)
        self.state = np.stack([th + new_thdot * self.dt, new_thdot], axis=1)
        return (-costs).astype(np.float32), self._never.copy()


NATIVE_ENVS: dict[str, type] = {"CartPole-v1": CartPoleVec, "Pendulum-v1": PendulumVec}
