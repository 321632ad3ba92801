"""Packing frame stacks for the wire: exact round trips, and the bytes it saves."""

from __future__ import annotations

import numpy as np

from asyncrl.runtime.wire import pack_frames, payload_bytes, stacked_frames, unpack_frames


def _episodes(T: int, B: int, C: int, resets: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """Sliding stacks of random frames per env, restarting (a new stack of one repeated frame) at ``resets``."""
    rng = np.random.default_rng(seed)
    obs = np.empty((T + 1, B, C, 5, 6), np.uint8)
    for b in range(B):
        stack = rng.integers(0, 256, (C, 5, 6), dtype=np.uint8)
        for t in range(T + 1):
            if t > 0:
                frame = rng.integers(0, 256, (5, 6), dtype=np.uint8)
                if (t, b) in resets:
                    stack = np.repeat(frame[None], C, axis=0)
                else:
                    stack = np.concatenate([stack[1:], frame[None]])
            obs[t, b] = stack
    return obs


def test_sliding_stacks_round_trip_and_ship_one_frame_per_step():
    obs = _episodes(T=20, B=3, C=4, resets=[])
    packed = pack_frames(obs)
    np.testing.assert_array_equal(unpack_frames(packed), obs)
    assert len(packed["full_t"]) == 0
    # the first stack whole, then one frame per step: about C times fewer bytes
    assert payload_bytes(packed) < obs.nbytes / 3


def test_resets_and_non_sliding_steps_ship_their_whole_stack():
    resets = [(1, 0), (7, 2), (8, 2), (20, 1)]
    obs = _episodes(T=20, B=3, C=4, resets=resets, seed=1)
    packed = pack_frames(obs)
    np.testing.assert_array_equal(unpack_frames(packed), obs)
    assert sorted(zip(packed["full_t"].tolist(), packed["full_b"].tolist())) == sorted(resets)
    out = np.zeros_like(obs)
    unpack_frames(packed, out=out)  # into the learner's slot, in place
    np.testing.assert_array_equal(out, obs)


def test_any_array_round_trips_even_when_nothing_slides():
    obs = np.random.default_rng(2).integers(0, 256, (6, 2, 3, 4, 4), dtype=np.uint8)
    np.testing.assert_array_equal(unpack_frames(pack_frames(obs)), obs)


def test_only_uint8_frame_stacks_are_packed():
    assert stacked_frames(np.zeros((3, 2, 4, 84, 84), np.uint8))
    assert not stacked_frames(np.zeros((3, 2, 1, 84, 84), np.uint8))  # one frame: nothing to share
    assert not stacked_frames(np.zeros((3, 2, 4), np.float32))  # CartPole
