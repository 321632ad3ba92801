"""Test episodes with a trained policy on the real Gymnasium env (one env, one episode at a time)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import torch

from asyncrl.envs.make import make_env
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.numpy_policy import NumpyPolicy


def run_episodes(model: ActorCritic, env_id: str, episodes: int, seed: int | None = 0,
                 deterministic: bool = True, max_steps: int = 1_000_000) -> list[float]:
    """Returns of ``episodes`` episodes played by ``model``; episode ``i`` resets with ``seed + i``."""
    env = make_env(env_id)
    fast = NumpyPolicy(model, seed) if NumpyPolicy.supports(model) else None
    returns: list[float] = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=None if seed is None else seed + i)
            state = model.initial_state(1)
            first = torch.ones(1, dtype=torch.bool)
            total, steps, done = 0.0, 0, False
            while not done and steps < max_steps:
                if fast is not None:
                    action = fast.act(np.asarray(obs)[None], deterministic)
                else:
                    action, _, state = model.act(torch.as_tensor(np.asarray(obs)).unsqueeze(0), state, first,
                                                 deterministic)
                obs, r, terminated, truncated, _ = env.step(model.env_actions(action)[0])
                first = torch.zeros(1, dtype=torch.bool)
                total += float(r)
                steps += 1
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return returns


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
