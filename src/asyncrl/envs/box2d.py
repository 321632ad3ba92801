"""Box2D (the ``box2d`` extra): ``BipedalWalker-v3``, ``LunarLander-v3``, ``LunarLanderContinuous-v3`` and
``CarRacing-v3``, whose ``[96, 96, 3]`` frames are turned channels-first (``[3, 96, 96]`` uint8), so that
they go to the A3C paper's small CNN as Atari frames do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from asyncrl.envs.base import action_family, entry_point_in, register_family
from asyncrl.errors import UsageError

ENTRY_POINT = "gymnasium.envs.box2d"


class ChannelsFirst(gym.ObservationWrapper):
    """``[H, W, C]`` image observations as ``[C, H, W]`` (a contiguous copy)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box) and len(space.shape) == 3
        self.observation_space = gym.spaces.Box(
            np.moveaxis(space.low, -1, 0), np.moveaxis(space.high, -1, 0), dtype=space.dtype
        )  # type: ignore[arg-type]

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(observation, -1, 0))


class Box2DFamily:
    """The ids whose Gymnasium entry point is in ``gymnasium.envs.box2d``."""

    name = "box2d"
    options: type | None = None
    option_fields: tuple[str, ...] = ()
    frames_per_step = 1

    def matches(self, env_id: str) -> bool:
        return entry_point_in(env_id, ENTRY_POINT)

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        return action_family(action_space)

    def factory(self, env_id: str, render_mode: str | None, training: bool, options: Any) -> Callable[[], gym.Env]:
        try:
            import Box2D  # noqa: F401
        except ImportError:
            raise UsageError(f"--env {env_id!r} needs Box2D: pip install 'asyncrl[box2d]'") from None

        def make() -> gym.Env:
            env = gym.make(env_id, render_mode=render_mode)
            shape: tuple[int, ...] = tuple(getattr(env.observation_space, "shape", None) or ())
            return ChannelsFirst(env) if len(shape) == 3 and shape[-1] in (1, 3, 4) else env

        return make


BOX2D = register_family(Box2DFamily())
