"""Dict and Tuple observations: flattened, entry by entry, into one vector that every runtime moves as it moves a
Box observation (rollouts, shared-memory slots, Ray's wire), and split again by the model's multi-input torso
(:class:`~asyncrl.nn.torsos.MultiInputTorso`).

Each entry is one *part* (a plain dict, saved in the model spec): ``image`` (a ``uint8`` ``[C, H, W]`` Box of at
least 36x36, as the CNN torsos take it: through the A3C CNN, scaled to [0, 1]), ``discrete`` (a ``Discrete(n)``,
one-hot) or ``box`` (any other Box, flattened: the MLP's input). ``Dict`` entries come in the space's key order,
``Tuple`` entries in order; one level (an entry that is itself a Dict or Tuple is refused in one line). A Dict's
``action_mask`` entry (PettingZoo's convention) is not an input: it is moved to ``info["action_mask"]``, where
asyncrl reads masks.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class FlatObs(gym.spaces.Box):
    """The Box of flattened Dict/Tuple observations: ``float32 [size]``, with the ``parts`` they came from."""

    def __init__(self, parts: list[dict]):
        super().__init__(-np.inf, np.inf, (sum(p["size"] for p in parts),), np.float32)
        self.parts = parts


def obs_parts(space: gym.Space) -> list[dict]:
    """The parts of a Dict or Tuple observation space; ``ValueError`` for an entry of another kind."""
    items: list[tuple[Any, gym.Space]]
    if isinstance(space, gym.spaces.Dict):
        items = [(k, v) for k, v in space.spaces.items() if k != MASK]
    elif isinstance(space, gym.spaces.Tuple):
        items = list(enumerate(space.spaces))
    else:
        raise ValueError(f"observation space {space} is not a Dict or Tuple")
    parts = []
    for key, sub in items:
        if isinstance(sub, gym.spaces.Discrete):
            parts.append(dict(key=str(key), kind="discrete", shape=[], size=1, n=int(sub.n), start=int(sub.start)))
        elif isinstance(sub, gym.spaces.Box):
            shape = [int(n) for n in sub.shape]
            image = sub.dtype == np.uint8 and len(shape) == 3 and shape[0] <= 4 and min(shape[1:]) >= 36
            size = int(np.prod(shape, dtype=np.int64))
            parts.append(dict(key=str(key), kind="image" if image else "box", shape=shape, size=size, n=0, start=0))
        else:
            raise ValueError(
                f"observation entry {key!r} is {sub} (allowed in a Dict or Tuple observation: Box and Discrete)"
            )
    return parts


def flatten(parts: list[dict], obs: Any, batched: bool = False) -> np.ndarray:
    """A Dict/Tuple observation (or, with ``batched``, a Dict of ``[B, ...]`` arrays or a Tuple of them) as
    ``float32 [size]`` (or ``[B, size]``); a Discrete entry as its index from 0."""
    lead = 1 if batched else 0
    pieces = []
    for p in parts:
        value = obs[p["key"]] if isinstance(obs, dict) else obs[int(p["key"])]
        a = np.asarray(value)
        if p["kind"] == "discrete":
            a = a - p["start"]
        if tuple(a.shape[lead:]) != tuple(p["shape"]):
            raise ValueError(f"observation entry {p['key']!r} has shape {a.shape[lead:]}; its space has {p['shape']}")
        pieces.append(a.reshape(*a.shape[:lead], -1).astype(np.float32, copy=False))
    return np.concatenate(pieces, axis=-1)


MASK = "action_mask"
"""The Dict entry that holds action masks, not an input."""


class FlattenObs(gym.Wrapper):
    """An env with Dict or Tuple observations as one with :class:`FlatObs` observations (a Dict's ``action_mask``
    entry moved to ``info["action_mask"]``)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = FlatObs(obs_parts(env.observation_space))

    def _split(self, obs: Any, info: dict) -> tuple[np.ndarray, dict]:
        if isinstance(obs, dict) and MASK in obs:
            info = {**info, MASK: obs[MASK]}
        return flatten(self.observation_space.parts, obs), info  # type: ignore[attr-defined]

    def reset(self, **kwargs: Any):
        return self._split(*self.env.reset(**kwargs))

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs, info = self._split(obs, info)
        return obs, reward, terminated, truncated, info


def flat_env(env: gym.Env) -> gym.Env:
    """``env`` as it is, or wrapped in :class:`FlattenObs` if its observations are a Dict or Tuple."""
    if isinstance(env.observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        return FlattenObs(env)
    return env
