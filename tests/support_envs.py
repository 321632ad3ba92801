"""Small envs for fault and bad-input tests, importable as ``support_envs:Name`` (tests/ on PYTHONPATH)."""

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class CrashingCartPole(CartPoleEnv):
    """CartPole that raises after 300 steps of one env instance (a worker's bug, say)."""

    def __init__(self, render_mode=None):
        super().__init__(render_mode=render_mode)
        self.calls = 0

    def fail(self):
        raise RuntimeError("boom: the env crashed on purpose")

    def step(self, action):
        self.calls += 1
        if self.calls > 300:
            self.fail()
        obs, r, te, tr, info = super().step(action)
        return obs, r, te, tr or self.calls % 200 == 0, info


class MultiDiscreteActions(gym.Env):
    """An env whose action space the actor-critic heads do not support."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


class CrashOnReset(CartPoleEnv):
    """CartPole whose reset always raises: an actor that can never start."""

    def reset(self, *, seed=None, options=None):
        raise RuntimeError("boom: reset is broken on purpose")


class OneStepEpisodes(gym.Env):
    """Every episode ends after one step: finished episodes arrive as fast as the envs can step."""

    observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        return np.zeros(4, np.float32), 1.0, True, False, {}


class NaNRewards(OneStepEpisodes):
    """Rewards are NaN: every loss and gradient is non-finite, so no update can ever be applied."""

    def step(self, action):
        return np.zeros(4, np.float32), float("nan"), False, False, {}


class ExitingCartPole(CrashingCartPole):
    """CartPole whose process exits abruptly after 300 steps of one env instance (a segfault, an OOM kill)."""

    def fail(self):
        import os

        os._exit(3)
