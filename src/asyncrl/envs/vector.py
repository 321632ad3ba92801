"""Batches of envs stepped together, with same-step autoreset and episode bookkeeping.

Every vector env in asyncrl returns a :class:`~asyncrl.envs.classic.StepResult`: when an
episode ends at step ``t``, ``obs`` already holds the first observation of the next episode
and ``final_obs`` the last observation of the one that ended (needed to bootstrap truncated
episodes). CartPole-v1 and Pendulum-v1 have native numpy-batched versions
(:mod:`asyncrl.envs.classic`); every other id is a list of Gymnasium envs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asyncrl.core.sections import VECTOR_IMPLS
from asyncrl.envs.check import EnvCrashed, crash_line, flat_mask
from asyncrl.envs.classic import NATIVE_ENVS, StepResult
from asyncrl.envs.make import env_factory
from asyncrl.errors import UsageError

"""``--vector-env`` choices: ``native`` numpy-batched classic control, ``gymnasium`` a list of envs,
``auto`` native where it exists."""


class SyncVecEnv:
    """``num_envs`` Gymnasium envs in one process, stepped one after another."""

    def __init__(self, env_id: str, num_envs: int, seed: int | None = None, options: Any = None):
        factory = env_factory(env_id, training=True, options=options)
        self.env_id = env_id
        self.envs = [factory() for _ in range(num_envs)]
        self.reports_games = bool(getattr(self.envs[0].unwrapped, "reports_games", False))
        """An env whose class sets ``reports_games`` (Atari) logs whole games (``StepResult.games``, from
        ``info["game_end"]``), not its learning episodes; any env family may use this protocol."""
        self.num_envs = num_envs
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self._seed = seed
        self.action_mask: np.ndarray | None = None
        """``[num_envs, n]`` bool, the actions allowed now in each env (its last ``info["action_mask"]``; a
        MultiDiscrete's factors side by side), or ``None`` for envs without masks."""

    def reset(self, seed: int | None = None) -> np.ndarray:
        seed = self._seed if seed is None else seed
        out = [self._call(e, "reset", seed=None if seed is None else seed + i) for i, e in enumerate(self.envs)]
        for i, e in enumerate(self.envs):
            e.action_space.seed(None if seed is None else seed + i)
        if "action_mask" in out[0][1]:
            self.action_mask = np.stack([flat_mask(info, self.single_action_space) for _, info in out])
        return np.stack([o for o, _ in out])

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.num_envs
        obs, final = [], []
        reward = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        games: list[tuple[int, float, int]] | None = [] if self.reports_games else None
        method = "step"  # (which of the env's methods raised, if one does: one try for the whole loop, not per call)
        try:
            for i, env in enumerate(self.envs):
                method = "step"
                o, r, te, tr, info = env.step(actions[i])
                reward[i], terminated[i], truncated[i] = r, te, tr and not te
                if games is not None and "game_end" in info:
                    games.append((i, *info["game_end"]))
                final.append(o)
                if te or tr:
                    method = "reset"
                    o, info = env.reset()
                if self.action_mask is not None:
                    self.action_mask[i] = flat_mask(info, self.single_action_space)
                obs.append(o)
        except Exception as e:
            raise EnvCrashed(crash_line(self.env_id, method, e)) from e
        return StepResult(np.stack(obs), reward, terminated, truncated, np.stack(final), games)

    def _call(self, env: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """``env.method(...)``; an exception from the env's code becomes :class:`EnvCrashed`, whose message names
        the env, the method and the env's file and line."""
        try:
            return getattr(env, method)(*args, **kwargs)
        except Exception as e:
            raise EnvCrashed(crash_line(self.env_id, method, e)) from e

    def close(self) -> None:
        for e in self.envs:
            e.close()


def make_vec_env(
    env_id: str, num_envs: int, seed: int | None = None, impl: str = "auto", options: Any = None, threads: int = 1
):
    """A vector env of ``num_envs`` copies of ``env_id``.

    ``impl``: ``"native"`` requires a numpy-batched implementation, ``"gymnasium"`` always
    uses Gymnasium's envs, ``"auto"`` takes the native one where it exists, ``"envpool"`` steps Atari games or
    MuJoCo tasks in EnvPool (:func:`envpool_class`) in ``threads`` threads.
    """
    if impl not in VECTOR_IMPLS:
        raise UsageError(f"--vector-env {impl!r} is not allowed (allowed: {', '.join(VECTOR_IMPLS)})")
    if impl == "native" and env_id not in NATIVE_ENVS:
        raise UsageError(f"--vector-env native: no native version of {env_id!r} (have: {', '.join(NATIVE_ENVS)})")
    if impl == "envpool":
        return envpool_class(env_id)(env_id, num_envs, seed, options, threads=threads)
    if impl != "gymnasium" and env_id in NATIVE_ENVS:
        return NATIVE_ENVS[env_id](num_envs, seed)
    return SyncVecEnv(env_id, num_envs, seed, options)


def envpool_class(env_id: str) -> type:
    """The EnvPool vector env for ``env_id``: :class:`~asyncrl.envs.envpool_mujoco.EnvPoolMujoco` for a MuJoCo task
    EnvPool has, :class:`~asyncrl.envs.envpool_atari.EnvPoolAtari` for an Atari id; else (or without EnvPool) a
    one-line :class:`UsageError`."""
    from asyncrl.envs.envpool_atari import EnvPoolAtari, envpool_task, need_envpool
    from asyncrl.envs.envpool_mujoco import EnvPoolMujoco, envpool_mujoco_ids

    need_envpool()
    if env_id in envpool_mujoco_ids():
        return EnvPoolMujoco
    try:
        envpool_task(env_id)
    except UsageError:
        raise UsageError(
            f"--vector-env envpool: {env_id!r} is neither an Atari id nor a MuJoCo task EnvPool has (allowed: "
            f"Atari ids, and MuJoCo ids such as HalfCheetah-v5, Hopper-v5, Walker2d-v5, Ant-v5, Humanoid-v5)"
        ) from None
    return EnvPoolAtari


class EpisodeTracker:
    """Running return and length of each env's current episode; reports the finished ones."""

    def __init__(self, num_envs: int):
        self.returns = np.zeros(num_envs, np.float64)
        self.lengths = np.zeros(num_envs, np.int64)

    def update(self, reward: np.ndarray, done: np.ndarray) -> list[tuple[float, int]]:
        """Add one step; returns ``[(episode_return, episode_length), ...]`` of envs that ended."""
        self.returns += reward
        self.lengths += 1
        if not done.any():
            return []
        idx = np.flatnonzero(done)
        out = [(float(self.returns[i]), int(self.lengths[i])) for i in idx]
        self.returns[idx] = 0.0
        self.lengths[idx] = 0
        return out
