"""ViZDoom scenarios (Kempka et al., 2016) through ViZDoom's own Gymnasium envs, as small uint8 images.

``--env doom:basic`` (also ``doom:defend_the_center``, ``doom:health_gathering`` and every other
scenario ViZDoom registers, or its full id such as ``VizdoomBasic-v1``) selects: the game's screen
rendered at a low resolution (160x120 instead of the scenarios' 320x240: about 3x the frames per
second, and 84x84 is all the model sees anyway), in grayscale, resized to 84x84, frame skip 4 inside
the game, and a stack of the last 4 frames: ``uint8 [4, 84, 84]``, the same shape as Atari
so the same CNN torsos apply. Rewards and episodes are the scenario's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from asyncrl.envs.base import action_family, register_family
from asyncrl.errors import UsageError

SCENARIOS = {
    "basic": "VizdoomBasic-v1",
    "defend_the_center": "VizdoomDefendCenter-v1",
    "defend_the_line": "VizdoomDefendLine-v1",
    "health_gathering": "VizdoomHealthGathering-v1",
    "health_gathering_supreme": "VizdoomHealthGatheringSupreme-v1",
    "deadly_corridor": "VizdoomDeadlyCorridor-v1",
    "my_way_home": "VizdoomMyWayHome-v1",
    "predict_position": "VizdoomPredictPosition-v1",
    "take_cover": "VizdoomTakeCover-v1",
    "deathmatch": "VizdoomDeathmatch-v1",
}


def doom_id(env_id: str) -> str | None:
    """ViZDoom's Gymnasium id for ``doom:NAME`` or a ``Vizdoom...`` id, else ``None``."""
    if env_id.startswith("doom:"):
        name = env_id[len("doom:") :]
        if name not in SCENARIOS:
            raise UsageError(f"--env {env_id!r}: no ViZDoom scenario {name!r} (allowed: {', '.join(SCENARIOS)})")
        return SCENARIOS[name]
    return env_id if env_id.startswith("Vizdoom") else None


class DoomEnv(gym.Env):
    """One ViZDoom scenario with grayscale 84x84 frames, frame skip 4 and a stack of 4."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        gym_id: str,
        frame_skip: int = 4,
        frame_stack: int = 4,
        size: int = 84,
        render_mode: str | None = None,
        resolution: str = "RES_160X120",
    ):
        try:
            from vizdoom import gymnasium_wrapper  # noqa: F401  (registers the Vizdoom* ids)
        except ImportError:
            raise UsageError("ViZDoom scenarios need vizdoom: pip install 'asyncrl[doom]'") from None
        if gym_id not in gym.envs.registry:
            raise UsageError(f"--env {gym_id!r} is not a ViZDoom scenario id")
        # The -v1 ids: one button at a time, Discrete. ``resolution`` is a ViZDoom ScreenResolution name.
        self.env = gym.make(gym_id, frame_skip=frame_skip, screen_resolution=resolution)
        self.render_mode, self.size = render_mode, size
        self.action_space = self.env.action_space
        self.observation_space = gym.spaces.Box(0, 255, (frame_stack, size, size), np.uint8)
        self._stack = np.zeros((frame_stack, size, size), np.uint8)
        self._screen: np.ndarray | None = None

    def _frame(self, obs, ended: bool = False) -> np.ndarray:
        import cv2

        # ViZDoom has no state after an episode's last step and sends a blank screen then: keep the
        # last real frame. A blank screen during an episode is a real frame and is kept.
        if ended and not obs["screen"].any():
            return self._stack[-1].copy()
        screen = self._screen = obs["screen"]
        gray = cv2.cvtColor(screen, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed)
        self._stack[:] = self._frame(obs)
        return self._stack.copy(), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        ended = terminated or truncated
        if truncated:  # ViZDoom flags a timeout as terminated and truncated: it is a time limit (bootstrap)
            terminated = False
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = self._frame(obs, ended)
        return self._stack.copy(), float(reward), terminated, truncated, info

    def render(self):
        return self._screen

    def close(self):
        self.env.close()


class DoomFamily:
    """ViZDoom scenarios (``doom:basic``, ``VizdoomBasic-v1``), as :class:`DoomEnv` frames."""

    name = "doom"
    options: type | None = None
    option_fields: tuple[str, ...] = ()
    frames_per_step = 4  # DoomEnv's frame skip

    def matches(self, env_id: str) -> bool:
        return doom_id(env_id) is not None

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        return action_family(action_space)

    def factory(self, env_id: str, render_mode: str | None, training: bool, options: Any) -> Callable[[], gym.Env]:
        gym_id = doom_id(env_id)
        assert gym_id is not None
        return lambda: DoomEnv(gym_id, render_mode=render_mode)


DOOM = register_family(DoomFamily())
