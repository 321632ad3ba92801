"""Atari games stepped in C++ by EnvPool (``--vector-env envpool``), with asyncrl's Atari semantics.

EnvPool (Weng et al., 2022) steps a batch of ALE games in its own threads and does the frame skip with the max
over the last two frames, the 84x84 grayscale resize (area resampling) and the frame stack itself. The parts
where asyncrl's protocol differs from EnvPool's own options are done here, on top of a pool created with
episodic life, reward clipping and fire reset off:

- same-step autoreset, as every asyncrl vector env (:class:`~asyncrl.envs.classic.StepResult`): an env whose
  game ended is reset at once (``reset(env_id)`` on those envs only), so ``obs`` holds the new game's first
  observation and ``final_obs`` the last one of the ended game;
- episodic life for training: a lost life ends the learning episode, and the game goes on with a no-op step;
- FIRE, then action 2, after a new game and after a lost life that ended an episode (games with FIRE and at
  least 3 actions), as :class:`~asyncrl.envs.atari.AtariEnv` does; those steps are not agent steps, their
  rewards count in the game's score only;
- rewards clipped to their sign for learning, and the whole game's unclipped score and agent steps reported in
  ``StepResult.games`` when the game ends (game over or the 108k-frame cap, a truncation).

What cannot match :class:`~asyncrl.envs.atari.AtariEnv` frame for frame: EnvPool draws its own random no-op
starts (0 to ``noop_max``, from its own generator, where asyncrl draws 1 to ``noop_max``), and its emulator is
seeded by its own rule; with no-ops off and no sticky actions, a scripted game gives the same rewards, and
frames equal up to rounding of the resize (``tests/test_envpool.py``). Training only: evaluation, ``eval`` and
``record`` play through ale-py, the reference path.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from asyncrl.envs.atari import _V4, _V5, AtariEnv, AtariOptions, atari_game, fire_plan
from asyncrl.envs.classic import StepResult
from asyncrl.errors import UsageError


def envpool_task(env_id: str) -> str:
    """EnvPool's id for an asyncrl Atari id: ``PongNoFrameskip-v4``, ``ALE/Pong-v5`` and ``atari:Pong`` are all
    ``Pong-v5`` (the preprocessing and the sticky-action probability are options of the pool)."""
    for pattern in (_V4, _V5):
        if m := pattern.match(env_id):
            return f"{m.group(1)}-v5"
    if env_id.startswith("atari:"):
        return f"{env_id[len('atari:') :]}-v5"
    raise UsageError(f"--vector-env envpool: {env_id!r} is not an Atari id (EnvPool steps Atari games here)")


def need_envpool():
    """The ``envpool`` module, or a one-line :class:`UsageError` with the install hint."""
    try:
        import envpool
    except ImportError:
        raise UsageError("--vector-env envpool needs EnvPool: pip install 'asyncrl[envpool]'") from None
    return envpool


def make_pool(task: str, num_envs: int, threads: int | None, seed: int, **options: Any):
    """One EnvPool of ``num_envs`` copies of ``task`` (gymnasium API, all envs stepped together) in ``threads`` C++
    threads (default: one per core this process may use, at most one per env), with the task's ``options``."""
    return need_envpool().make(
        task,
        env_type="gymnasium",
        num_envs=num_envs,
        batch_size=num_envs,
        num_threads=threads or min(num_envs, len(os.sched_getaffinity(0))),
        seed=seed % (2**31 - 1),  # (EnvPool takes an int32 seed)
        **options,
    )


class EnvPoolAtari:
    """``num_envs`` Atari games in one EnvPool, stepped together in ``threads`` C++ threads (default: one per core
    this process may use, at most one per env). Observations ``uint8 [num_envs, 4, 84, 84]``."""

    reports_games = True

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        seed: int | None = None,
        options: AtariOptions | None = None,
        threads: int | None = None,
    ):
        game = atari_game(env_id)
        if game is None:
            envpool_task(env_id)  # (raises: not an Atari id)
        assert game is not None
        self.o = options or AtariOptions()
        self._sticky = game[1] if self.o.sticky_actions is None else float(self.o.sticky_actions)
        self._task, self.num_envs = envpool_task(env_id), num_envs
        AtariEnv.check_game(game[0])
        self._fire, self._after_fire = fire_plan(game[0], self.o)
        self._threads = threads
        self._seed = 0 if seed is None else int(seed)
        self.pool = self._make(self._seed)
        self.single_observation_space = self.pool.observation_space
        self.single_action_space = self.pool.action_space
        self._lives = np.zeros(num_envs, np.int64)
        self._game_return = np.zeros(num_envs, np.float64)
        self._game_steps = np.zeros(num_envs, np.int64)

    def _make(self, seed: int):
        o = self.o
        return make_pool(
            self._task,
            self.num_envs,
            self._threads,
            seed,
            episodic_life=False,
            reward_clip=False,
            use_fire_reset=False,
            noop_max=max(o.noop_max, 1),  # (EnvPool 1.2.5 crashes at 0; at 1 it draws no no-ops)
            repeat_action_probability=self._sticky,
            full_action_space=o.full_action_space,
            max_episode_steps=o.max_frames // o.frame_skip,
            frame_skip=o.frame_skip,
            stack_num=o.frame_stack,
            img_height=o.screen_size,
            img_width=o.screen_size,
            use_inter_area_resize=True,
            gray_scale=True,
        )

    def _step_some(self, action: int, ids: np.ndarray) -> tuple[np.ndarray, dict]:
        """One step of ``action`` in the envs ``ids`` only (a reset's no-op or FIRE): its reward goes to the games'
        scores, not to learning. Returns those envs' observations and info."""
        obs, reward, _, _, info = self.pool.step(np.full(len(ids), action, np.int32), ids)
        self._game_return[ids] += reward
        return obs, info

    def _fire_reset(self, ids: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """FIRE, then action 2, in the envs ``ids`` (now showing ``obs``), where the game has them."""
        if self._fire is not None:
            obs, info = self._step_some(self._fire, ids)
            if self._after_fire is not None:
                obs, info = self._step_some(self._after_fire, ids)
            self._lives[ids] = info["lives"]
        return obs

    def reset(self, seed: int | None = None) -> np.ndarray:
        if seed is not None and int(seed) != self._seed:
            self.pool.close()
            self._seed = int(seed)
            self.pool = self._make(self._seed)
        obs, info = self.pool.reset()
        self._lives[:] = info["lives"]
        self._game_return[:] = 0.0
        self._game_steps[:] = 0
        return self._fire_reset(np.arange(self.num_envs), obs)

    def step(self, actions: np.ndarray) -> StepResult:
        obs, reward, game_over, truncated, info = self.pool.step(np.asarray(actions, np.int32))
        reward = reward.astype(np.float32)
        self._game_return += reward
        self._game_steps += 1
        lives = info["lives"]
        lost_life = (lives > 0) & (lives < self._lives) & ~game_over & ~truncated
        self._lives[:] = lives
        ended = game_over | truncated
        terminated = game_over | (lost_life if self.o.episodic_life else False)
        final = obs.copy()
        games = [(int(i), float(self._game_return[i]), int(self._game_steps[i])) for i in np.flatnonzero(ended)]
        if ended.any():
            ids = np.flatnonzero(ended).astype(np.int32)
            new, new_info = self.pool.reset(ids)
            self._lives[ids] = new_info["lives"]
            self._game_return[ids] = 0.0
            self._game_steps[ids] = 0
            obs[ids] = self._fire_reset(ids, new)
        if self.o.episodic_life and lost_life.any():  # the game goes on: a no-op step, then FIRE and action 2
            ids = np.flatnonzero(lost_life).astype(np.int32)
            cont, _ = self._step_some(0, ids)
            obs[ids] = self._fire_reset(ids, cont)
        if self.o.clip_rewards:
            reward = np.sign(reward).astype(np.float32)
        return StepResult(obs, reward, terminated, truncated & ~terminated, final, games)

    def close(self) -> None:
        self.pool.close()
