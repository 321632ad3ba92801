"""What a rollout costs on the wire between machines, and how to make frame stacks cheap (pure numpy).

A stack of ``C`` frames ``[C, H, W]`` (Atari's 4 x 84 x 84) repeats ``C - 1`` frames of the step before
it, so shipping every stack sends each frame ``C`` times: on 1 GbE a run of 4-frame stacks tops out
near 15k frames/s. :func:`pack_frames` keeps the first step's whole stack and, for every later step, only
its newest frame where the stack slid by one frame (within an episode), and the whole stack where it did
not (a reset, a new life); :func:`unpack_frames` rebuilds the identical array on the learner's side.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def stacked_frames(obs: np.ndarray) -> bool:
    """Whether ``obs [T + 1, B, C, H, W]`` looks like uint8 frame stacks worth packing (``C > 1``)."""
    return obs.dtype == np.uint8 and obs.ndim == 5 and obs.shape[2] > 1


def pack_frames(obs: np.ndarray) -> dict[str, Any]:
    """``obs [T + 1, B, C, H, W]`` -> ``head [B, C, H, W]`` (step 0), ``frames [T, B, H, W]`` (each later step's
    newest frame), and the steps whose stack did not slide by one frame: ``full_t``, ``full_b`` ``[K]`` and
    ``full [K, C, H, W]``."""
    slid = np.all(obs[1:, :, :-1] == obs[:-1, :, 1:], axis=(2, 3, 4))  # [T, B]
    t, b = np.nonzero(~slid)
    return {
        "head": np.ascontiguousarray(obs[0]),
        "frames": np.ascontiguousarray(obs[1:, :, -1]),
        "full_t": (t + 1).astype(np.int32),
        "full_b": b.astype(np.int32),
        "full": obs[t + 1, b],
    }


def unpack_frames(packed: dict[str, Any], out: np.ndarray | None = None) -> np.ndarray:
    """The ``[T + 1, B, C, H, W]`` array :func:`pack_frames` was given (written into ``out`` if given)."""
    head, frames = packed["head"], packed["frames"]
    T = frames.shape[0]
    if out is None:
        out = np.empty((T + 1, *head.shape), dtype=head.dtype)
    out[0] = head
    full_t, full_b, full = packed["full_t"], packed["full_b"], packed["full"]
    for t in range(1, T + 1):
        out[t, :, :-1] = out[t - 1, :, 1:]
        out[t, :, -1] = frames[t - 1]
        here = full_t == t
        if here.any():
            out[t, full_b[here]] = full[here]
    return out


def payload_bytes(tree: Any) -> int:
    """The bytes of the numpy arrays in a (nested) dict, list or tuple: what a rollout costs on the wire."""
    if isinstance(tree, np.ndarray):
        return tree.nbytes
    if isinstance(tree, dict):
        return sum(payload_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(payload_bytes(v) for v in tree)
    return 0
