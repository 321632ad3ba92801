"""Turn an env id into environments, through the id's family (:mod:`asyncrl.envs.base`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from asyncrl.envs.base import family_of
from asyncrl.envs.check import check_env_api, crash_line
from asyncrl.envs.multi_input import flat_env
from asyncrl.errors import UsageError


def env_factory(
    env_id: str, render_mode: str | None = None, training: bool = False, options: Any = None
) -> Callable[[], gym.Env]:
    """A zero-argument constructor for ``env_id``; raises :class:`UsageError` if it cannot exist.

    ``env_id`` is a registered Gymnasium id (``CartPole-v1``, ``ALE/Pong-v5``) or
    ``package.module:EnvClass`` naming a ``gymnasium.Env`` subclass (or any callable returning
    an env) in the user's own code. Atari ids (``PongNoFrameskip-v4``, ``ALE/Pong-v5``,
    ``atari:Pong``) get the standard preprocessing of :mod:`asyncrl.envs.atari`, ViZDoom scenarios
    (``doom:basic``) that of :mod:`asyncrl.envs.doom`, MiniGrid and BabyAI ids (``MiniGrid-DoorKey-8x8-v0``)
    the agent's image view only (:mod:`asyncrl.envs.minigrid`); ``training`` turns on a family's
    training-only parts (Atari's episodic life and reward clipping) and ``options`` is the family's typed
    options (:class:`~asyncrl.envs.atari.AtariOptions`; see :func:`asyncrl.config.env_options`).
    """
    make = family_of(env_id).factory(env_id, render_mode, training, options)

    def made() -> gym.Env:  # (Dict and Tuple observations flattened: envs/multi_input.py)
        env = make()
        try:
            return flat_env(env)
        except ValueError as e:
            raise UsageError(f"--env {env_id}: {e}") from None

    return made


def make_env(env_id: str, render_mode: str | None = None, options: Any = None) -> gym.Env:
    """Build one env (evaluation mode); errors in the user's constructor become a :class:`UsageError`."""
    factory = env_factory(env_id, render_mode, options=options)
    try:
        env = factory()
    except gym.error.Error as e:
        raise UsageError(f"--env {env_id!r} cannot be created: {e}") from None
    except UsageError:
        raise
    except Exception as e:  # (the user's constructor raised: one line with its file and line)
        raise UsageError(crash_line(env_id, "__init__", e)) from None
    if not isinstance(env, gym.Env):
        raise UsageError(f"--env {env_id!r} did not produce a gymnasium.Env (got {type(env).__name__})")
    return env


def env_spaces(env_id: str, options: Any = None) -> tuple[gym.Space, gym.Space]:
    """``(observation_space, action_space)`` of one instance of ``env_id``."""
    env = make_env(env_id, options=options)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def checked_env_spaces(env_id: str, options: Any = None) -> tuple[gym.Space, gym.Space, bool]:
    """A user's env: ``(observation_space, action_space, whether it gives action masks)`` of one instance, after
    one reset and one step against Gymnasium's API (:func:`~asyncrl.envs.check.check_env_api`: a broken rule is
    one line). The reset takes no seed (the run's envs are seeded later, each once)."""
    env = make_env(env_id, options=options)
    try:
        masks = check_env_api(env_id, env)
        return env.observation_space, env.action_space, masks
    finally:
        env.close()
