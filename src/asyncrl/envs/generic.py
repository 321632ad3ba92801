"""The generic env family: any registered Gymnasium id, or ``package.module:EnvClass`` in the user's own code."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from asyncrl.envs.base import action_family, register_family
from asyncrl.errors import UsageError


class GenericFamily:
    """Every id no other family claims (the fallback)."""

    name = "gymnasium"
    options: type | None = None
    option_fields: tuple[str, ...] = ()
    frames_per_step = 1

    def matches(self, env_id: str) -> bool:
        return True

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        return action_family(action_space)

    def factory(self, env_id: str, render_mode: str | None, training: bool, options: Any) -> Callable[[], gym.Env]:
        if ":" in env_id:
            module_name, _, attr = env_id.partition(":")
            if not module_name.strip() or not attr.strip():
                raise UsageError(
                    f"--env {env_id!r} names no {'module' if not module_name.strip() else 'class'} "
                    f"(allowed: package.module:EnvClass, or a registered Gymnasium id)"
                )
            try:
                module = importlib.import_module(module_name)
            except (ImportError, ValueError, TypeError) as e:  # not found; empty or relative names
                raise UsageError(f"--env {env_id!r}: cannot import module {module_name!r} ({e})") from None
            target = getattr(module, attr, None)
            if target is None:
                if attr in gym.envs.registry:  # Gymnasium's own "module:Id" form: the import registered it
                    return lambda: gym.make(attr, render_mode=render_mode)
                raise UsageError(
                    f"--env {env_id!r}: module {module_name!r} has no attribute {attr!r} "
                    f"(allowed: a gymnasium.Env subclass, or a function returning an env)"
                )
            if isinstance(target, type) and not issubclass(target, gym.Env):
                raise UsageError(f"--env {env_id!r}: {attr!r} is a class but not a gymnasium.Env subclass")
            if not callable(target):
                raise UsageError(f"--env {env_id!r}: {attr!r} is not an env class or factory")
            return lambda: target(render_mode=render_mode) if render_mode else target()
        if env_id not in gym.envs.registry:
            close = [k for k in gym.envs.registry if k.lower().startswith(env_id.split("-")[0].lower())][:5]
            hint = (
                f" (did you mean {', '.join(close)}?)"
                if close
                else " (any registered Gymnasium id, or package.module:EnvClass)"
            )
            raise UsageError(f"--env {env_id!r} is not a registered environment{hint}")
        return lambda: gym.make(env_id, render_mode=render_mode)


GENERIC_FAMILY = register_family(GenericFamily(), fallback=True)
