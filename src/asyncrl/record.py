"""Play one episode with a trained policy and write it as an animated GIF."""

from __future__ import annotations

import numpy as np
import torch

from asyncrl.envs.make import make_env
from asyncrl.errors import UsageError
from asyncrl.nn.model import ActorCritic


def record_gif(model: ActorCritic, env_id: str, out: str, seed: int = 0, deterministic: bool = True,
               fps: int = 30, max_frames: int = 5000) -> tuple[float, int]:
    """Play one episode, save its frames to ``out``; returns ``(episode return, frames)``."""
    from PIL import Image

    try:
        env = make_env(env_id, render_mode="rgb_array")
    except TypeError:
        raise UsageError(f"--env {env_id!r} cannot render rgb_array frames") from None
    try:
        obs, _ = env.reset(seed=seed)
        state = model.initial_state(1)
        first = torch.ones(1, dtype=torch.bool)
        frames, total, done = [], 0.0, False
        while not done and len(frames) < max_frames:
            frame = env.render()
            if frame is None:
                raise UsageError(f"--env {env_id!r} returned no rgb_array frame to record")
            frames.append(Image.fromarray(np.asarray(frame, dtype=np.uint8)))
            action, _, state = model.act(torch.as_tensor(np.asarray(obs)).unsqueeze(0), state, first, deterministic)
            obs, r, terminated, truncated, _ = env.step(model.env_actions(action)[0])
            first = torch.zeros(1, dtype=torch.bool)
            total += float(r)
            done = terminated or truncated
        frame = env.render()
        if frame is not None:
            frames.append(Image.fromarray(np.asarray(frame, dtype=np.uint8)))
    finally:
        env.close()
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=max(1, 1000 // fps), loop=0)
    return total, len(frames)
