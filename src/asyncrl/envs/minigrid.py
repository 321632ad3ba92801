"""MiniGrid and BabyAI (the ``minigrid`` extra): the agent's 7x7x3 egocentric view as a ``uint8`` Box
(``ImgObsWrapper``: the mission string and the compass direction are dropped)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from asyncrl.envs.base import action_family, register_family
from asyncrl.errors import UsageError


class MiniGridFamily:
    """``MiniGrid-*`` and ``BabyAI-*`` ids."""

    name = "minigrid"
    options: type | None = None
    option_fields: tuple[str, ...] = ()
    frames_per_step = 1

    def matches(self, env_id: str) -> bool:
        return env_id.startswith(("MiniGrid-", "BabyAI-"))

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        return action_family(action_space)

    def factory(self, env_id: str, render_mode: str | None, training: bool, options: Any) -> Callable[[], gym.Env]:
        try:
            import minigrid  # noqa: F401  (registers the ids)
            from minigrid.wrappers import ImgObsWrapper
        except ImportError:
            raise UsageError(f"--env {env_id!r} needs the minigrid package: pip install 'asyncrl[minigrid]'") from None
        if env_id not in gym.envs.registry:
            parts = env_id.split("-")
            close = (
                [k for k in gym.envs.registry if k.startswith(parts[0] + "-" + parts[1])][:5]
                if env_id.count("-") >= 2
                else []
            )
            hint = f" (did you mean {', '.join(close)}?)" if close else " (see minigrid's list of environments)"
            raise UsageError(f"--env {env_id!r} is not a registered MiniGrid environment{hint}")
        return lambda: ImgObsWrapper(gym.make(env_id, render_mode=render_mode))


MINIGRID = register_family(MiniGridFamily())
