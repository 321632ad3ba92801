"""Small envs for fault and bad-input tests, importable as ``support_envs:Name`` (tests/ on PYTHONPATH)."""

import os

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
    """CartPole whose reset raises in every instance but the first one a process tree makes (the one ``asyncrl
    train`` checks the API with, before the run): an actor that can never start."""

    made = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        CrashOnReset.made += 1  # (forked actors inherit the count)
        self.broken = CrashOnReset.made > 1

    def reset(self, *, seed=None, options=None):
        if self.broken:
            raise RuntimeError("boom: reset is broken on purpose")
        return super().reset(seed=seed, options=options)


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


class StackedFrames(gym.Env):
    """Atari-shaped observations without Atari: a stack of the last 4 random uint8 84x84 frames that slides by one
    frame per step, with episodes that terminate at random or are truncated after 12 steps; each reset starts a
    stack of 4 new frames (so a rollout's stacks slide within episodes and jump at resets)."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.stack = self.np_random.integers(0, 256, (4, 84, 84), dtype=np.uint8)
        return self.stack.copy(), {}

    def step(self, action):
        frame = self.np_random.integers(0, 256, (1, 84, 84), dtype=np.uint8)
        self.stack = np.concatenate([self.stack[1:], frame])
        self.t += 1
        terminated = bool(self.np_random.random() < 0.1)
        return self.stack.copy(), float(action == 1), terminated, self.t >= 12 and not terminated, {}


SEED_LOG = "ASYNCRL_TEST_SEED_LOG"
"""The environment variable naming the file :class:`SeedLoggingCartPole` appends its reset seeds to."""


class SeedLoggingCartPole(CartPoleEnv):
    """CartPole that appends every seed its resets are given (one line each) to the file named by
    ``$ASYNCRL_TEST_SEED_LOG`` (if set): which random streams a run's training envs were started with."""

    def reset(self, *, seed=None, options=None):
        path = os.environ.get(SEED_LOG)
        if seed is not None and path:
            with open(path, "a") as f:
                f.write(f"{seed}\n")
        return super().reset(seed=seed, options=options)


class _Small(gym.Env):
    """A two-number observation, two actions, one-step episodes: the base of the API-breaking envs below."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}


class OldResetAPI(_Small):
    def reset(self, seed=None, options=None):
        return np.zeros(2, np.float32)  # (the observation alone: Gym before 0.26)


class FourValueStep(_Small):
    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, {}  # (observation, reward, done, info)


class WrongShapeObs(_Small):
    def step(self, action):
        return np.zeros(3, np.float32), 1.0, True, False, {}


class FloatFrames(_Small):
    observation_space = gym.spaces.Box(0, 255, (4, 4), np.uint8)

    def reset(self, seed=None, options=None):
        return np.zeros((4, 4), np.float64), {}


class TextReward(_Small):
    def step(self, action):
        return np.zeros(2, np.float32), "1.0", True, False, {}


class NumberDone(_Small):
    def step(self, action):
        return np.zeros(2, np.float32), 1.0, 1, False, {}


class RaisingStep(_Small):
    def step(self, action):
        raise KeyError("no such move")


class Float64Obs(_Small):
    """NumPy's default float64 for a float32 space: accepted (Gymnasium's checker only warns)."""

    def reset(self, seed=None, options=None):
        return np.zeros(2), {}

    def step(self, action):
        return np.zeros(2), np.float32(1.0), np.bool_(True), False, {}


# ---- tasks that only a policy using the action space can solve (tests/test_spaces.py) ------------------------


class KnobTask(gym.Env):
    """Set 3 knobs of 4 positions each to the targets shown (one-hot, 12 numbers): MultiDiscrete([4, 4, 4]) actions,
    one-step episodes, reward the fraction of knobs set right (random play: 0.25; a single Discrete head would
    need 64 joint actions)."""

    observation_space = gym.spaces.Box(0, 1, (12,), np.float32)
    action_space = gym.spaces.MultiDiscrete([4, 4, 4])

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.target = self.np_random.integers(0, 4, 3)
        return np.eye(4, dtype=np.float32)[self.target].reshape(-1), {}

    def step(self, action):
        reward = float(np.mean(np.asarray(action) == self.target))
        obs, _ = self.reset()
        return obs, reward, True, False, {}


class SwitchTask(gym.Env):
    """Copy 6 bits shown as a 2x3 grid: MultiBinary((2, 3)) actions, one-step episodes, reward the fraction of bits
    right (random play: 0.5)."""

    observation_space = gym.spaces.Box(0, 1, (6,), np.float32)
    action_space = gym.spaces.MultiBinary((2, 3))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.target = self.np_random.integers(0, 2, (2, 3))
        return self.target.reshape(-1).astype(np.float32), {}

    def step(self, action):
        assert np.asarray(action).shape == (2, 3)
        reward = float(np.mean(np.asarray(action) == self.target))
        obs, _ = self.reset()
        return obs, reward, True, False, {}


class OffsetKnobs(KnobTask):
    """KnobTask whose knobs count from 1 (MultiDiscrete's ``start``): positions 1 to 4."""

    action_space = gym.spaces.MultiDiscrete([4, 4, 4], start=[1, 1, 1])

    def step(self, action):
        assert np.all((np.asarray(action) >= 1) & (np.asarray(action) <= 4))
        return super().step(np.asarray(action) - 1)


class MaskedChoice(gym.Env):
    """Five actions, one-step episodes. Action 0 pays 1.0 but is forbidden in half of the episodes (by
    ``info["action_mask"]`` only; taking it then costs -1); the target shown one-hot (one of 1-4) pays 0.8; the rest
    0. Without masks the best policy takes the target (0.8); with them, 0 where allowed, else the target (0.9)."""

    observation_space = gym.spaces.Box(0, 1, (4,), np.float32)
    action_space = gym.spaces.Discrete(5)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.target = int(self.np_random.integers(1, 5))
        self.mask = np.ones(5, np.int8)
        self.mask[0] = self.np_random.integers(0, 2)
        return np.eye(4, dtype=np.float32)[self.target - 1], {"action_mask": self.mask.copy()}

    def step(self, action):
        action = int(action)
        reward = (1.0 if self.mask[0] else -1.0) if action == 0 else 0.8 if action == self.target else 0.0
        obs, info = self.reset()
        return obs, reward, True, False, info


class MaskedChoiceFrames(MaskedChoice):
    """MaskedChoice that renders ``rgb_array`` frames (for ``asyncrl record``)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def render(self):
        return np.full((16, 16, 3), 40 * self.target, np.uint8)


class BadMask(_Small):
    def reset(self, seed=None, options=None):
        return np.zeros(2, np.float32), {"action_mask": np.ones(3, np.int8)}  # (2 actions)


class RaisingInit(_Small):
    def __init__(self):
        raise ValueError("missing data file")


# ---- Dict and Tuple observations -------------------------------------------------------------------------------


class ReachGoal(gym.Env):
    """Dict observations ``{"goal": Discrete(2), "x": Box(1)}``: of four actions the right one is ``2 * goal +
    (x > 0)``, one-step episodes, reward 1 when right (random play 0.25; a policy that reads one entry only, 0.5)."""

    observation_space = gym.spaces.Dict({"goal": gym.spaces.Discrete(2), "x": gym.spaces.Box(-1, 1, (1,), np.float32)})
    action_space = gym.spaces.Discrete(4)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.goal = int(self.np_random.integers(0, 2))
        side = self.np_random.choice([-1.0, 1.0])
        self.x = (side * self.np_random.uniform(0.2, 1.0, (1,))).astype(np.float32)  # (clear of the boundary)
        return self._obs(), {}

    def _obs(self):
        return {"goal": self.goal, "x": self.x}

    def step(self, action):
        reward = float(int(action) == 2 * self.goal + int(self.x[0] > 0))
        obs, _ = self.reset()
        return obs, reward, True, False, {}


class ReachGoalTuple(ReachGoal):
    """ReachGoal with Tuple observations ``(Box(1), Discrete(2))``."""

    observation_space = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (1,), np.float32), gym.spaces.Discrete(2)))

    def _obs(self):
        return (self.x, self.goal)


class ImageAndVector(gym.Env):
    """Dict observations of an image and a vector ``{"image": uint8 [1, 36, 36], "v": Box(2)}``: of four actions
    the right one is ``2 * (the image is bright) + (v[0] > 0)`` (random play 0.25; one entry only, 0.5)."""

    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (1, 36, 36), np.uint8), "v": gym.spaces.Box(-1, 1, (2,), np.float32)}
    )
    action_space = gym.spaces.Discrete(4)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.bright = int(self.np_random.integers(0, 2))
        self.v = (self.np_random.choice([-1.0, 1.0]) * self.np_random.uniform(0.2, 1.0, (2,))).astype(np.float32)
        return {"image": np.full((1, 36, 36), 255 * self.bright, np.uint8), "v": self.v}, {}

    def step(self, action):
        reward = float(int(action) == 2 * self.bright + int(self.v[0] > 0))
        obs, _ = self.reset()
        return obs, reward, True, False, {}


class GoalOnly(_Small):
    """A Dict observation with no Box entry (nothing for ``--normalize-obs`` to standardise)."""

    observation_space = gym.spaces.Dict({"goal": gym.spaces.Discrete(2)})

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return {"goal": 1}, {}

    def step(self, action):
        return {"goal": 1}, 1.0, True, False, {}


class NestedDict(_Small):
    observation_space = gym.spaces.Dict({"a": gym.spaces.Dict({"b": gym.spaces.Discrete(2)})})


class MaskedChoiceDict(gym.Env):
    """MaskedChoice whose mask is an ``action_mask`` entry of a Dict observation (PettingZoo's convention)."""

    observation_space = gym.spaces.Dict(
        {"observation": MaskedChoice.observation_space, "action_mask": gym.spaces.MultiBinary(5)}
    )
    action_space = MaskedChoice.action_space

    def __init__(self):
        self.inner = MaskedChoice()

    def reset(self, seed=None, options=None):
        obs, info = self.inner.reset(seed=seed)
        return {"observation": obs, "action_mask": info["action_mask"]}, {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.inner.step(action)
        return {"observation": obs, "action_mask": info["action_mask"]}, reward, terminated, truncated, {}
