"""Test episodes with a trained policy on the real Gymnasium env: one env at a time, or ``num_envs``
envs stepped together with one batched forward (episode ``i`` is always reset with ``seed + i``, so a
deterministic policy plays the same episodes either way, up to the float rounding of a batched forward).

An episode here is a whole game of an env that reports games (Atari, ``info["game_end"]``): its
score is the game's, and where the env ends an episode at a lost life (Atari's ``lives`` protocol,
:data:`asyncrl.envs.atari.ATARI_EVAL`) the evaluator resets it, which continues the same game, and
restarts the recurrent state there, as training does. Test runs during training, ``asyncrl eval``
and ``asyncrl record`` all play this way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from asyncrl.envs.atari import ATARI, eval_protocol
from asyncrl.envs.base import family_of
from asyncrl.envs.check import flat_mask
from asyncrl.envs.make import make_env
from asyncrl.errors import UsageError
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.numpy_policy import NumpyPolicy


def atari_protocol(env_id: str, options: Any, override: str | None = None) -> tuple[Any, str | None]:
    """``(options, protocol)``: the run's env ``options`` with ``override`` (``--atari-eval``) applied, and
    the Atari evaluation protocol they give (``None`` for other envs; :class:`UsageError` if
    ``override`` is given for one, or is not a protocol)."""
    if family_of(env_id) is not ATARI:
        if override is not None:
            raise UsageError(f"--atari-eval applies to Atari games only, not --env {env_id}")
        return options, None
    return eval_protocol(options, override)


def _life_ended(env, info: dict) -> bool:
    """An episode of a game-reporting env ended but the game goes on (a lost life): reset continues it."""
    return "game_end" not in info and bool(getattr(env.unwrapped, "reports_games", False))


def play_episode(
    model: PolicyNet,
    env,
    seed: int | None,
    deterministic: bool = True,
    fast: NumpyPolicy | None = None,
    on_step: Callable[[], None] | None = None,
    max_steps: int = 1_000_000,
) -> float:
    """Play one episode of ``env`` (reset with ``seed``) and return its undiscounted return (a whole
    game, scored by ``info["game_end"]``, for envs that report games; see the module docstring).

    ``fast`` acts through numpy (feed-forward models); ``on_step`` is called before every action
    and once after the last step (``record`` grabs frames there).
    """
    env = _with_masks(model, env)  # (record's env too)
    obs, _ = env.reset(seed=seed)
    mask = _mask_of(env)
    state = model.initial_state(1)
    first = torch.ones(1, dtype=torch.bool)
    total, steps = 0.0, 0
    while steps < max_steps:
        if on_step is not None:
            on_step()
        action: np.ndarray | torch.Tensor
        if fast is not None:
            action = fast.act(np.asarray(obs)[None], deterministic)
        else:
            o = torch.as_tensor(np.asarray(obs)).unsqueeze(0)
            action, _, state = _act(model, o, state, first, deterministic, None if mask is None else mask()[None])
        obs, r, terminated, truncated, info = env.step(model.env_actions(action)[0])
        first = torch.zeros(1, dtype=torch.bool)
        total += float(r)
        steps += 1
        if "game_end" in info:
            total = float(info["game_end"][0])
            break
        if terminated or truncated:
            if not _life_ended(env, info):
                break
            obs, _ = env.reset()  # the next life of the same game, with a fresh recurrent state
            first = torch.ones(1, dtype=torch.bool)
    if on_step is not None:
        on_step()
    return total


class MaskMemory(gym.Wrapper):
    """Keeps the env's last ``info["action_mask"]`` (flat, :func:`~asyncrl.envs.check.flat_mask`) in ``mask``, for
    a model that acts with masks."""

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self.mask = flat_mask(info, self.action_space)
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.mask = flat_mask(info, self.action_space)
        return obs, reward, terminated, truncated, info


def _act(model: PolicyNet, obs: torch.Tensor, state: Any, first: torch.Tensor, deterministic: bool, mask: Any):
    """``model.act``, with the action ``mask`` where there is one."""
    if mask is None:
        return model.act(obs, state, first, deterministic)
    return model.act(obs, state, first, deterministic, mask)


def _masked(model: PolicyNet) -> bool:
    """Whether ``model`` acts with the env's action masks (a stand-in without a spec does not)."""
    return bool(getattr(getattr(model, "spec", None), "action_masks", False))


def _with_masks(model: PolicyNet, env: Any) -> Any:
    return MaskMemory(env) if _masked(model) and not isinstance(env, MaskMemory) else env


def _mask_of(env: Any) -> Callable[[], torch.Tensor] | None:
    """The env's current action mask as a tensor, read at each step (``None``: the env has none)."""
    return (lambda: torch.as_tensor(env.mask)) if isinstance(env, MaskMemory) else None


def run_episodes(
    model: PolicyNet,
    env_id: str,
    episodes: int,
    seed: int | None = 0,
    deterministic: bool = True,
    options: Any = None,
    num_envs: int = 1,
) -> list[float]:
    """Returns of ``episodes`` episodes played by ``model``, in episode order; episode ``i`` resets with
    ``seed + i``. ``options``: the env construction options of the run (:func:`asyncrl.config.env_options`).
    ``num_envs > 1`` plays that many episodes at once (:func:`run_episodes_batched`)."""
    if num_envs > 1 and episodes > 1:
        return run_episodes_batched(model, env_id, episodes, seed, deterministic, options, num_envs)
    env = _with_masks(model, make_env(env_id, options=options))
    fast = NumpyPolicy(model, seed) if NumpyPolicy.supports(model) and not _masked(model) else None
    try:
        return [
            play_episode(model, env, None if seed is None else seed + i, deterministic, fast) for i in range(episodes)
        ]
    finally:
        env.close()


@torch.no_grad()
def run_episodes_batched(
    model: PolicyNet,
    env_id: str,
    episodes: int,
    seed: int | None,
    deterministic: bool,
    options: Any,
    num_envs: int,
    max_steps: int = 1_000_000,
) -> list[float]:
    """:func:`run_episodes` on ``k = min(num_envs, episodes)`` envs with one forward of ``[k, ...]``
    observations per step. Each env plays the next unplayed episode when its current one ends (its
    recurrent state restarts there, as it does at a lost life under Atari's ``lives`` protocol); an env
    with nothing left to play idles, its actions ignored."""
    k = min(num_envs, episodes)
    masked = _masked(model)
    envs = [_with_masks(model, make_env(env_id, options=options)) for _ in range(k)]
    fast = NumpyPolicy(model, seed) if NumpyPolicy.supports(model) and not masked else None
    returns: list[float] = [math.nan] * episodes
    playing = [-1] * k  # the episode each env plays (-1: none left)
    totals, steps = [0.0] * k, [0] * k
    obs: list[np.ndarray] = [np.zeros(0)] * k
    first = torch.ones(k, dtype=torch.bool)
    queue = iter(range(episodes))

    def start(j: int) -> None:
        i = next(queue, -1)
        playing[j], totals[j], steps[j] = i, 0.0, 0
        if i >= 0:
            obs[j] = np.asarray(envs[j].reset(seed=None if seed is None else seed + i)[0])
            first[j] = True

    try:
        for j in range(k):
            start(j)
        state = model.initial_state(k)
        while any(i >= 0 for i in playing):
            batch = np.stack(obs)
            if fast is not None:
                actions = model.env_actions(fast.act(batch, deterministic))
            else:
                masks = torch.as_tensor(np.stack([e.mask for e in envs])) if masked else None
                a, _, state = _act(model, torch.as_tensor(batch), state, first, deterministic, masks)
                actions = model.env_actions(a)
            first = torch.zeros(k, dtype=torch.bool)
            for j in range(k):
                if playing[j] < 0:
                    continue
                if _step_one(envs[j], actions[j], j, obs, totals, steps, first, max_steps):
                    returns[playing[j]] = totals[j]
                    start(j)
        return returns
    finally:
        for env in envs:
            env.close()


def _step_one(
    env: Any,
    action: Any,
    j: int,
    obs: list[np.ndarray],
    totals: list[float],
    steps: list[int],
    first: torch.Tensor,
    max_steps: int,
) -> bool:
    """Step env ``j`` of a batched evaluation (its observation, return and step count updated in place); whether its
    episode ended (a lost life under the ``lives`` protocol restarts the env within the same game instead)."""
    o, r, terminated, truncated, info = env.step(action)
    obs[j] = np.asarray(o)
    totals[j] += float(r)
    steps[j] += 1
    if "game_end" in info:
        totals[j] = float(info["game_end"][0])
    done = terminated or truncated
    if done and steps[j] < max_steps and _life_ended(env, info):
        obs[j] = np.asarray(env.reset()[0])  # the next life of the same game
        first[j] = True
        return False
    return done or steps[j] >= max_steps


def summarize(returns: list[float]) -> dict[str, float]:
    """``mean``, ``median``, ``std`` (population), ``min``, ``max`` and the number of ``episodes``."""
    if not returns:
        return {"mean": math.nan, "median": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "episodes": 0}
    return {
        "mean": float(statistics.fmean(returns)),
        "median": float(statistics.median(returns)),
        "std": float(statistics.pstdev(returns)),
        "min": float(min(returns)),
        "max": float(max(returns)),
        "episodes": len(returns),
    }
