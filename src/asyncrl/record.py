"""Play one episode with a trained policy and write it as an animated GIF (or animated PNG or WebP)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from asyncrl.envs.make import make_env
from asyncrl.errors import UsageError
from asyncrl.evaluate import play_episode
from asyncrl.limits import MAX_FPS, need_int
from asyncrl.nn.model import PolicyNet
from asyncrl.paths import check_output_file

EXTENSIONS = (".gif", ".png", ".webp")
"""Animated formats ``record`` writes (Pillow's GIF, APNG and WebP writers)."""


def record_gif(model: PolicyNet, env_id: str, out: str, seed: int = 0, deterministic: bool = True,
               fps: int = 30, max_frames: int = 5000, options: Any = None) -> tuple[float, int]:
    """Play one episode, save its frames to ``out`` (its extension picks the format, see :data:`EXTENSIONS`;
    missing folders are created); returns ``(episode return, frames)``."""
    from PIL import Image

    check_output_file(out, "-o", EXTENSIONS)  # before the episode is played
    need_int("--fps", fps, 1, MAX_FPS)

    try:
        env = make_env(env_id, render_mode="rgb_array", options=options)
    except TypeError:
        raise UsageError(f"--env {env_id!r} cannot render rgb_array frames") from None
    frames: list = []

    def grab() -> None:
        if len(frames) >= max_frames:
            return
        frame = env.render()
        if frame is None:
            raise UsageError(f"--env {env_id!r} returned no rgb_array frame to record")
        frames.append(Image.fromarray(np.asarray(frame, dtype=np.uint8)))

    try:
        total = play_episode(model, env, seed, deterministic, on_step=grab)
    finally:
        env.close()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=max(1, 1000 // fps), loop=0)
    return total, len(frames)
