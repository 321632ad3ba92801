"""Turn an env id into environments: any Gymnasium id, or ``package.module:EnvClass``."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import gymnasium as gym

from asyncrl.envs.atari import AtariEnv, AtariOptions, atari_game
from asyncrl.envs.doom import DoomEnv, doom_id
from asyncrl.errors import UsageError


def env_factory(env_id: str, render_mode: str | None = None, training: bool = False,
                options: dict | None = None) -> Callable[[], gym.Env]:
    """A zero-argument constructor for ``env_id``; raises :class:`UsageError` if it cannot exist.

    ``env_id`` is a registered Gymnasium id (``CartPole-v1``, ``ALE/Pong-v5``) or
    ``package.module:EnvClass`` naming a ``gymnasium.Env`` subclass (or any callable returning
    an env) in the user's own code. Atari ids (``PongNoFrameskip-v4``, ``ALE/Pong-v5``,
    ``atari:Pong``) get the standard preprocessing of :mod:`asyncrl.envs.atari`, ViZDoom scenarios
    (``doom:basic``) that of :mod:`asyncrl.envs.doom`, MiniGrid and BabyAI ids (``MiniGrid-DoorKey-8x8-v0``)
    the agent's image view only; ``training``
    turns on its training-only parts (episodic life, reward clipping) and ``options`` sets its
    :class:`~asyncrl.envs.atari.AtariOptions` (see :func:`asyncrl.config.env_options`).
    """
    if (doom := doom_id(env_id)) is not None:
        return lambda: DoomEnv(doom, render_mode=render_mode)

    if (game := atari_game(env_id)) is not None:
        name, sticky = game
        AtariEnv.check_game(name)
        opts = AtariOptions(**(options or {}))
        return lambda: AtariEnv(name, opts, training=training, sticky_default=sticky, render_mode=render_mode)
    if env_id.startswith(("MiniGrid-", "BabyAI-")):
        return _minigrid_factory(env_id, render_mode)
    if ":" in env_id:
        module_name, _, attr = env_id.partition(":")
        if not module_name.strip() or not attr.strip():
            raise UsageError(f"--env {env_id!r} names no {'module' if not module_name.strip() else 'class'} "
                             f"(allowed: package.module:EnvClass, or a registered Gymnasium id)")
        try:
            module = importlib.import_module(module_name)
        except (ImportError, ValueError, TypeError) as e:  # not found; empty or relative names
            raise UsageError(f"--env {env_id!r}: cannot import module {module_name!r} ({e})") from None
        target = getattr(module, attr, None)
        if target is None:
            if attr in gym.envs.registry:  # Gymnasium's own "module:Id" form: the import registered it
                return lambda: gym.make(attr, render_mode=render_mode)
            raise UsageError(f"--env {env_id!r}: module {module_name!r} has no attribute {attr!r} "
                             f"(allowed: a gymnasium.Env subclass, or a function returning an env)")
        if isinstance(target, type) and not issubclass(target, gym.Env):
            raise UsageError(f"--env {env_id!r}: {attr!r} is a class but not a gymnasium.Env subclass")
        if not callable(target):
            raise UsageError(f"--env {env_id!r}: {attr!r} is not an env class or factory")
        return lambda: target(render_mode=render_mode) if render_mode else target()
    if env_id not in gym.envs.registry:
        close = [k for k in gym.envs.registry if k.lower().startswith(env_id.split("-")[0].lower())][:5]
        hint = (f" (did you mean {', '.join(close)}?)" if close
                else " (any registered Gymnasium id, or package.module:EnvClass)")
        raise UsageError(f"--env {env_id!r} is not a registered environment{hint}")
    return lambda: gym.make(env_id, render_mode=render_mode)


def _minigrid_factory(env_id: str, render_mode: str | None) -> Callable[[], gym.Env]:
    """MiniGrid/BabyAI ids (the ``minigrid`` extra): the agent's 7x7x3 egocentric view as a ``uint8``
    Box (``ImgObsWrapper``: the mission string and the compass direction are dropped)."""
    try:
        import minigrid  # noqa: F401  (registers the ids)
        from minigrid.wrappers import ImgObsWrapper
    except ImportError:
        raise UsageError(f"--env {env_id!r} needs the minigrid package: pip install 'asyncrl[minigrid]'") from None
    if env_id not in gym.envs.registry:
        close = [k for k in gym.envs.registry if k.startswith(env_id.split("-")[0] + "-" + env_id.split("-")[1])][:5] \
            if env_id.count("-") >= 2 else []
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see minigrid's list of environments)"
        raise UsageError(f"--env {env_id!r} is not a registered MiniGrid environment{hint}")
    return lambda: ImgObsWrapper(gym.make(env_id, render_mode=render_mode))


def make_env(env_id: str, render_mode: str | None = None, options: dict | None = None) -> gym.Env:
    """Build one env (evaluation mode); errors in the user's constructor become a :class:`UsageError`."""
    factory = env_factory(env_id, render_mode, options=options)
    try:
        env = factory()
    except gym.error.Error as e:
        raise UsageError(f"--env {env_id!r} cannot be created: {e}") from None
    if not isinstance(env, gym.Env):
        raise UsageError(f"--env {env_id!r} did not produce a gymnasium.Env (got {type(env).__name__})")
    return env


def env_spaces(env_id: str, options: dict | None = None) -> tuple[gym.Space, gym.Space]:
    """``(observation_space, action_space)`` of one instance of ``env_id``."""
    env = make_env(env_id, options=options)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()
