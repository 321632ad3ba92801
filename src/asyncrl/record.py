"""Play one episode with a trained policy and write it as a video: MP4 (H.264, through imageio and its
ffmpeg plugin, the ``video`` extra), or an animated GIF, PNG or WebP (Pillow)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from asyncrl.envs.base import family_of
from asyncrl.envs.make import make_env
from asyncrl.errors import UsageError, first_line
from asyncrl.evaluate import play_episode
from asyncrl.limits import MAX_FPS, MAX_FRAMES, need_int
from asyncrl.nn.model import PolicyNet
from asyncrl.paths import check_output_file

ANIMATIONS = (".gif", ".png", ".webp")
"""Animated image formats (Pillow's GIF, APNG and WebP writers; every frame is held until the end)."""
VIDEOS = (".mp4",)
"""Video formats (imageio-ffmpeg's H.264 writer; frames are streamed to it)."""
EXTENSIONS = (*VIDEOS, *ANIMATIONS)


class FrameWriter:
    """Collects ``[H, W, 3]`` uint8 frames into ``out``: streamed to ffmpeg for ``.mp4``, held and written by
    Pillow at :meth:`close` for the animated image formats."""

    def __init__(self, out: str, fps: int):
        self.out, self.fps, self.count = out, fps, 0
        self.video = os.path.splitext(out)[1].lower() in VIDEOS
        self.frames: list = []
        self.writer: Any = None
        if self.video:
            try:
                import imageio.v2 as imageio
                import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio's plugin runs)
            except ImportError:
                raise UsageError(
                    f"-o {out!r}: writing MP4 needs imageio and imageio-ffmpeg: "
                    f"pip install 'asyncrl[video]' (or write a .gif)"
                ) from None
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            # H.264 in yuv420p wants even sizes: a macro block of 2 pads an odd size by one pixel.
            self.writer = imageio.get_writer(
                out,
                fps=fps,
                codec="libx264",
                quality=7,
                macro_block_size=2,
                pixelformat="yuv420p",
                ffmpeg_log_level="error",
            )

    def add(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, dtype=np.uint8)
        if self.video:
            self.writer.append_data(frame)
        else:
            from PIL import Image

            self.frames.append(Image.fromarray(frame))
        self.count += 1

    def close(self) -> None:
        if self.video:
            self.writer.close()
        elif self.frames:
            os.makedirs(os.path.dirname(os.path.abspath(self.out)), exist_ok=True)
            self.frames[0].save(
                self.out, save_all=True, append_images=self.frames[1:], duration=max(1, 1000 // self.fps), loop=0
            )


def render_frames(env_id: str, env: Any) -> Callable[[], np.ndarray]:
    """A function returning ``env``'s current ``rgb_array`` frame, with one clear line where it cannot render."""

    def render() -> np.ndarray:
        try:
            frame = env.render()
        except Exception as e:  # no OpenGL backend for MuJoCo, ...
            explain = getattr(family_of(env_id), "render_error", None)
            if explain is None:
                raise
            raise explain(env_id, e) from None
        if frame is None:
            raise UsageError(f"--env {env_id!r} returned no rgb_array frame to record")
        return frame

    return render


def gif_bytes(frames: list[np.ndarray], fps: int) -> bytes:
    """``frames`` (``[H, W, 3]`` uint8, one size) as an animated GIF in memory (TensorBoard's video format)."""
    import io

    from PIL import Image

    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=max(1, 1000 // fps), loop=0)
    return buf.getvalue()


class Thumbnails:
    """Every ``stride``-th frame of an episode, shrunk to at most ``side`` pixels on its long side: a light copy
    of a recorded episode for TensorBoard (:func:`gif_bytes`), whose event files should stay small."""

    def __init__(self, stride: int = 2, side: int = 160, limit: int = 300):
        self.stride, self.side, self.limit = stride, side, limit
        self.frames: list[np.ndarray] = []
        self.seen = 0

    def __call__(self, frame: np.ndarray) -> None:
        self.seen += 1
        if (self.seen - 1) % self.stride or len(self.frames) >= self.limit:
            return
        from PIL import Image

        image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        scale = self.side / max(image.size)
        if scale < 1:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        self.frames.append(np.asarray(image))


def rgb_env(env_id: str, options: Any = None) -> Any:
    """``env_id`` made to render ``rgb_array`` frames (no display needed), or a one-line :class:`UsageError`."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # (pygame envs: rgb_array frames need no display)
    try:
        return make_env(env_id, render_mode="rgb_array", options=options)
    except TypeError:
        raise UsageError(f"--env {env_id!r} cannot render rgb_array frames") from None


def check_renders(env_id: str, options: Any = None) -> None:
    """One ``rgb_array`` frame of ``env_id`` after a reset, or a one-line :class:`UsageError` saying why not: what
    ``--capture-video`` checks before training, rather than at its first evaluation."""
    try:
        env = rgb_env(env_id, options)
    except UsageError as e:
        raise UsageError(f"--capture-video: {e}") from None
    try:
        env.reset(seed=0)
        render_frames(env_id, env)()
    except UsageError as e:
        raise UsageError(f"--capture-video: {e}") from None
    except Exception as e:
        raise UsageError(f"--capture-video: --env {env_id!r} cannot render a frame ({first_line(e)})") from None
    finally:
        env.close()


def record_video(
    model: PolicyNet,
    env_id: str,
    out: str,
    seed: int = 0,
    deterministic: bool = True,
    fps: int = 30,
    max_frames: int = 5000,
    options: Any = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
) -> tuple[float, int]:
    """Play one episode, save its first ``max_frames`` frames to ``out`` (its extension picks the format, see
    :data:`EXTENSIONS`; missing folders are created); returns ``(episode return, frames)``. The episode is
    played to its end either way (the return is the whole episode's). ``on_frame`` sees each saved frame."""
    check_output_file(out, "-o", EXTENSIONS)  # before the episode is played
    need_int("--fps", fps, 1, MAX_FPS)
    need_int("--max-frames", max_frames, 1, MAX_FRAMES)
    env = rgb_env(env_id, options)
    render = render_frames(env_id, env)
    writer: FrameWriter | None = None

    def grab() -> None:
        nonlocal writer
        if writer is not None and writer.count >= max_frames:
            return  # (rendering is the slow part: the rest of the episode plays without it)
        frame = render()  # (the first one before the writer exists: a render error leaves no empty file)
        if writer is None:
            writer = FrameWriter(out, fps)
        writer.add(frame)
        if on_frame is not None:
            on_frame(frame)

    try:
        total = play_episode(model, env, seed, deterministic, on_step=grab)
    finally:
        env.close()
        if writer is not None:
            writer.close()
    return total, writer.count if writer is not None else 0
