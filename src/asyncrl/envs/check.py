"""A user's env checked against Gymnasium's API once, before a run writes anything (``asyncrl train``).

One ``reset`` and one ``step`` (a sampled action) of one instance: each rule it breaks gets one line that names the
env, the method and the rule, not a traceback from deep inside asyncrl when the first rollout unpacks the result.
The rules (Gymnasium's ``Env`` API, as its ``PassiveEnvChecker`` states most of them):

- ``reset`` returns ``(observation, info)`` with ``info`` a dict (the old Gym API returned the observation alone);
- ``step`` returns five values ``(observation, reward, terminated, truncated, info)`` (the old API returned four,
  with one ``done``);
- the reward is a number (a Python or NumPy scalar, or a one-element array);
- ``terminated`` and ``truncated`` are booleans;
- an observation has its space's shape, and a number type its space can hold: an integer space (``uint8``
  frames) takes no floats, a float space takes floats and integers (``float64`` for a ``float32`` space, NumPy's
  default, is accepted as Gymnasium's checker only warns of it).

An exception raised by the env's own code in these calls is reported the same way, with its file and line.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import gymnasium as gym
import numpy as np

from asyncrl.errors import UsageError


def check_env_api(env_id: str, env: gym.Env) -> bool:
    """Reset ``env`` (an instance of ``env_id``) once and step it once; a broken rule raises a one-line
    :class:`UsageError`. Returns whether the env gives action masks (``info["action_mask"]`` after the reset). The
    env is left stepped, not closed."""
    result = _call(env_id, "reset", lambda: env.reset())
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise UsageError(
            f"--env {env_id}: reset() returned {_what(result)}; Gymnasium's API returns (observation, info) with "
            f"info a dict (returning the observation alone is the old Gym API)"
        )
    _check_obs(env_id, "reset", result[0], env.observation_space)
    _check_mask(env_id, "reset", result[1], env.action_space)
    masks = "action_mask" in result[1]
    action = env.action_space.sample(**_mask_kw(result[1], env.action_space))
    result = _call(env_id, "step", lambda: env.step(action))
    if not (isinstance(result, tuple) and len(result) == 5):
        old = (
            " (observation, reward, done, info: the old Gym API)"
            if isinstance(result, tuple) and len(result) == 4
            else ""
        )
        raise UsageError(
            f"--env {env_id}: step() returned {_what(result)}{old}; Gymnasium's API returns 5 values: observation, "
            f"reward, terminated, truncated, info"
        )
    obs, reward, terminated, truncated, info = result
    _check_obs(env_id, "step", obs, env.observation_space)
    if not _is_number(reward):
        raise UsageError(f"--env {env_id}: step() returned a reward of type {type(reward).__name__} ({reward!r:.40}); "
                         f"allowed: a number (int, float or a NumPy scalar)")  # fmt: skip
    for name, value in (("terminated", terminated), ("truncated", truncated)):
        if not isinstance(value, (bool, np.bool_)):
            raise UsageError(
                f"--env {env_id}: step() returned {name}={value!r:.40} of type {type(value).__name__}; allowed: a bool"
            )
    if not isinstance(info, dict):
        raise UsageError(f"--env {env_id}: step() returned info of type {type(info).__name__}; allowed: a dict")
    _check_mask(env_id, "step", info, env.action_space)
    return masks


def flat_mask(info: dict, space: Any) -> np.ndarray:
    """``info["action_mask"]`` as one bool vector: ``[n]`` for ``Discrete(n)``; for a ``MultiDiscrete``, its
    factors' masks side by side (given so, or as one mask per factor, as Gymnasium's ``sample(mask=...)`` takes
    them). An info without a mask allows every action."""
    size = int(space.n) if hasattr(space, "n") else int(np.sum(space.nvec))
    mask = info.get("action_mask")
    if mask is None:
        return np.ones(size, bool)
    flat = np.concatenate([np.asarray(m).reshape(-1) for m in mask]) if isinstance(mask, (tuple, list)) else mask
    flat = np.asarray(flat).reshape(-1).astype(bool)
    if flat.shape != (size,):
        raise ValueError(f"info['action_mask'] has {flat.size} entries; the action space {space} needs {size}")
    return flat


def _check_mask(env_id: str, method: str, info: dict, space: gym.Space) -> None:
    """An ``info["action_mask"]``: for a Discrete or MultiDiscrete space, with one entry per action (or category),
    and at least one action (per factor) allowed."""
    if "action_mask" not in info:
        return
    if not isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        raise UsageError(f"--env {env_id}: {method}() gave info['action_mask'] for the action space {space}; "
                         f"allowed: Discrete and MultiDiscrete")  # fmt: skip
    try:
        mask = flat_mask(info, space)
    except ValueError as e:
        raise UsageError(f"--env {env_id}: {method}() gave {e}") from None
    if not all(p.any() for p in _factors(mask, space)):
        raise UsageError(f"--env {env_id}: {method}() gave an info['action_mask'] that allows no action")


def _mask_kw(info: dict, space: gym.Space) -> dict:
    """``sample``'s mask for Gymnasium spaces, from an ``info["action_mask"]`` (none without one)."""
    if "action_mask" not in info or not isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return {}
    flat = flat_mask(info, space).astype(np.int8)
    if isinstance(space, gym.spaces.Discrete):
        return {"mask": flat}
    return {"mask": tuple(_factors(flat, space))}


def _factors(flat: np.ndarray, space: gym.Space) -> list[np.ndarray]:
    """A flat mask as its factors' masks (one for a Discrete space)."""
    nvec = getattr(space, "nvec", None)
    return [flat] if nvec is None else np.split(flat, np.cumsum(nvec.reshape(-1))[:-1])


class EnvCrashed(RuntimeError):
    """An exception raised by an env's own code during a run; its message is the one line a user reads: the env,
    the method, the exception and the file and line of the env's code that raised it (the whole traceback, of
    which this is the cause, goes to the run's ``error.log``)."""


def crash_line(env_id: str, method: str, error: BaseException) -> str:
    """``--env ID: METHOD() raised TYPE: MESSAGE (at FILE:LINE)``, at the innermost frame outside asyncrl,
    Gymnasium and the standard library (the user's code), else the innermost one."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if not any(part in f.filename for part in _NOT_USER)]
    frame = (mine or frames)[-1] if frames else None
    where = f" (at {frame.filename}:{frame.lineno})" if frame is not None else ""
    return f"--env {env_id}: {method}() raised {type(error).__name__}: {error}{where}"


_NOT_USER = (
    f"{os.sep}asyncrl{os.sep}",
    f"{os.sep}gymnasium{os.sep}",
    f"{os.sep}numpy{os.sep}",
    os.path.dirname(os.__file__),
)
"""Paths of frames that are not the env's own code."""


def _call(env_id: str, method: str, fn: Any) -> Any:
    """``fn()``; an exception from the env's code becomes one line naming its file and line."""
    try:
        return fn()
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(crash_line(env_id, method, e)) from None


def _what(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} value{'s' if len(value) != 1 else ''}"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf"


def _check_obs(env_id: str, method: str, obs: Any, space: gym.Space) -> None:
    """The observation's shape and number type against ``space`` (Box, Discrete; other spaces: ``contains``)."""
    if isinstance(space, gym.spaces.Box):
        arr = np.asarray(obs)
        if arr.dtype.kind not in "biuf":
            raise UsageError(
                f"--env {env_id}: {method}() returned an observation of type {arr.dtype} ({type(obs).__name__}); "
                f"its space is {space}: allowed, numbers"
            )
        if arr.shape != space.shape:
            raise UsageError(
                f"--env {env_id}: {method}() returned an observation of shape {arr.shape}; its observation space "
                f"{space} has shape {space.shape}"
            )
        if space.dtype.kind in "iub" and arr.dtype.kind == "f":
            raise UsageError(
                f"--env {env_id}: {method}() returned {arr.dtype} observations; its observation space holds "
                f"{space.dtype} (allowed: integers)"
            )
    elif isinstance(space, gym.spaces.Discrete) and not (
        np.ndim(obs) == 0 and np.asarray(obs).dtype.kind in "iu" and space.contains(int(obs))
    ):
        raise UsageError(
            f"--env {env_id}: {method}() returned the observation {obs!r:.40}; its space {space} holds one "
            f"integer from {space.start} to {space.start + space.n - 1}"
        )
