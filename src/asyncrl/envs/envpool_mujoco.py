"""MuJoCo tasks stepped in C++ by EnvPool (``--vector-env envpool``), with asyncrl's vector-env semantics.

EnvPool (Weng et al., 2022) ships its own C++ ports of Gymnasium's MuJoCo tasks under the same ids
(``HalfCheetah-v5``, ``Hopper-v5``, ``Walker2d-v5``, ``Ant-v5``, ``Humanoid-v5``, ...; the v3/v4 ids too), with
the same observations, rewards, termination rules and 1,000-step limit. What this class adds is asyncrl's
same-step autoreset (:class:`~asyncrl.envs.classic.StepResult`): an env whose episode ended is reset at once
(``reset(env_id)`` on those envs only), so ``obs`` holds the next episode's first observation and ``final_obs``
the last one of the ended episode, which a truncated episode's bootstrap needs.

What cannot match Gymnasium's envs step for step: the initial states are drawn from EnvPool's generator, not
Gymnasium's. From the same state (``reset_noise_scale=0``) the same actions give the same observations to about
1e-15 at first, drifting (chaotic dynamics, another MuJoCo build) to about 1e-5 after 100 steps, the same rewards
to float32 rounding, and the same terminations (``tests/test_envpool.py``). Training only: evaluation, ``eval``
and ``record`` play through Gymnasium, the reference path.
"""

from __future__ import annotations

import numpy as np

from asyncrl.envs.classic import StepResult
from asyncrl.envs.envpool_atari import make_pool


def envpool_mujoco_ids() -> tuple[str, ...]:
    """The Gymnasium MuJoCo ids (``*-v3`` to ``*-v5``) that this EnvPool steps; empty without EnvPool."""
    try:
        import envpool
    except ImportError:
        return ()
    from asyncrl.envs.mujoco import MUJOCO

    return tuple(i for i in envpool.list_all_envs() if "/" not in i and _known(i) and MUJOCO.matches(i))


def _known(env_id: str) -> bool:
    import gymnasium as gym

    return env_id in gym.registry


class EnvPoolMujoco:
    """``num_envs`` copies of a MuJoCo task in one EnvPool, stepped together in ``threads`` C++ threads (default:
    one per core this process may use, at most one per env). Observations ``float64 [num_envs, obs_dim]``, as
    Gymnasium's; actions ``[num_envs, action_dim]``."""

    reports_games = False

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        seed: int | None = None,
        options: None = None,
        threads: int | None = None,
        **task_options: float,
    ):  # (``options``: the MuJoCo family has none; ``task_options``: EnvPool's, e.g. ``reset_noise_scale``)
        self._task, self.num_envs, self._threads, self._task_options = env_id, num_envs, threads, task_options
        self._seed = 0 if seed is None else int(seed)
        self.pool = make_pool(env_id, num_envs, threads, self._seed, **task_options)
        self.single_observation_space = self.pool.observation_space
        self.single_action_space = self.pool.action_space

    def reset(self, seed: int | None = None) -> np.ndarray:
        if seed is not None and int(seed) != self._seed:  # (EnvPool seeds a pool once: a new seed, a new pool)
            self.pool.close()
            self._seed = int(seed)
            self.pool = make_pool(self._task, self.num_envs, self._threads, self._seed, **self._task_options)
        return self.pool.reset()[0]

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, terminated, truncated, _ = self.pool.step(np.asarray(actions, np.float64))
        terminated, truncated = terminated.astype(bool), truncated.astype(bool) & ~terminated.astype(bool)
        final = obs.copy()
        ended = terminated | truncated
        if ended.any():
            ids = np.flatnonzero(ended).astype(np.int32)
            obs[ids] = self.pool.reset(ids)[0]
        return StepResult(obs, reward.astype(np.float32), terminated, truncated, final, None)

    def close(self) -> None:
        self.pool.close()
