"""Test episodes with a trained policy on the real Gymnasium env (one env, one episode at a time)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import numpy as np
import torch

from asyncrl.envs.make import make_env
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.numpy_policy import NumpyPolicy


def play_episode(model: ActorCritic, env, seed: int | None, deterministic: bool = True,
                 fast: NumpyPolicy | None = None, on_step: Callable[[], None] | None = None,
                 max_steps: int = 1_000_000) -> float:
    """Play one episode of ``env`` (reset with ``seed``) and return its undiscounted return.

    ``fast`` acts through numpy (feed-forward models); ``on_step`` is called before every action
    and once after the last step (``record`` grabs frames there).
    """
    obs, _ = env.reset(seed=seed)
    state = model.initial_state(1)
    first = torch.ones(1, dtype=torch.bool)
    total, steps, done = 0.0, 0, False
    while not done and steps < max_steps:
        if on_step is not None:
            on_step()
        if fast is not None:
            action = fast.act(np.asarray(obs)[None], deterministic)
        else:
            action, _, state = model.act(torch.as_tensor(np.asarray(obs)).unsqueeze(0), state, first, deterministic)
        obs, r, terminated, truncated, _ = env.step(model.env_actions(action)[0])
        first = torch.zeros(1, dtype=torch.bool)
        total += float(r)
        steps += 1
        done = terminated or truncated
    if on_step is not None:
        on_step()
    return total


def run_episodes(model: ActorCritic, env_id: str, episodes: int, seed: int | None = 0,
                 deterministic: bool = True, options: dict | None = None) -> list[float]:
    """Returns of ``episodes`` episodes played by ``model``; episode ``i`` resets with ``seed + i``.
    ``options``: the env construction options of the run (:func:`asyncrl.config.env_options`)."""
    env = make_env(env_id, options=options)
    fast = NumpyPolicy(model, seed) if NumpyPolicy.supports(model) else None
    try:
        return [play_episode(model, env, None if seed is None else seed + i, deterministic, fast)
                for i in range(episodes)]
    finally:
        env.close()


def summarize(returns: list[float]) -> dict[str, float]:
    """``mean``, ``median``, ``std`` (population), ``min``, ``max`` and the number of ``episodes``."""
    if not returns:
        return {"mean": math.nan, "median": math.nan, "std": math.nan, "min": math.nan, "max": math.nan,
                "episodes": 0}
    return {
        "mean": float(statistics.fmean(returns)),
        "median": float(statistics.median(returns)),
        "std": float(statistics.pstdev(returns)),
        "min": float(min(returns)),
        "max": float(max(returns)),
        "episodes": len(returns),
    }
