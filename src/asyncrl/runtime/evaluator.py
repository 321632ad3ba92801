"""Periodic evaluations in a separate process, so they never stall training.

The trainer submits ``(env_steps, state_dict)`` snapshots; the evaluator plays ``episodes``
deterministic episodes with each and sends back the returns. One evaluation runs at a time: a
submission made while the previous one still runs is skipped, so evaluations never queue up.

With ``video`` set (``--capture-video``), a submission may also ask for one more deterministic episode recorded
as MP4 (``videos/step-<env steps>.mp4`` in the run dir, :func:`asyncrl.record.record_video`) and a small GIF of
it for TensorBoard: in this process too, so recording never stalls training either.

Evaluations play as ``asyncrl eval`` does (:func:`asyncrl.evaluate.run_episodes` with the run's env
options): on Atari, the run's ``atari_eval`` protocol (default ``game``: whole games, no FIRE after
a lost life).
"""

from __future__ import annotations

import json
import os
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asyncrl.errors import UsageError
from asyncrl.evaluate import run_episodes
from asyncrl.nn.build import make_model
from asyncrl.nn.spec import ModelSpec
from asyncrl.record import Thumbnails, gif_bytes, record_video
from asyncrl.runtime.procs import WorkerFailed, child_preamble, stop_processes


@dataclass(frozen=True)
class VideoSpec:
    """Where and how the evaluation process records episodes (``--capture-video``)."""

    folder: str
    fps: int = 30
    max_frames: int = 1000


@dataclass(frozen=True)
class Video:
    """A recorded evaluation episode: the MP4's ``path``, its episode ``return_`` and ``frames``, and a small
    animated GIF of it (``gif``, ``size`` ``(height, width)``) for TensorBoard."""

    path: str
    return_: float
    frames: int
    gif: bytes | None
    size: tuple[int, int] | None


def _record(model, env_id: str, steps: int, seed: int, options: Any, spec: VideoSpec) -> Video:
    path = os.path.join(spec.folder, f"step-{steps:012d}.mp4")
    thumbs = Thumbnails()
    total, frames = record_video(
        model, env_id, path, seed=seed, fps=spec.fps, max_frames=spec.max_frames, options=options, on_frame=thumbs
    )
    gif = gif_bytes(thumbs.frames, max(1, spec.fps // thumbs.stride)) if thumbs.frames else None
    size = thumbs.frames[0].shape[:2] if thumbs.frames else None
    return Video(path, total, frames, gif, size)


def _evaluator_main(
    requests, results, env_id: str, spec_json: str, episodes: int, seed: int, options: Any, video: VideoSpec | None
) -> None:
    child_preamble()
    model = make_model(ModelSpec(**json.loads(spec_json)))
    model.eval()
    try:
        while True:
            item = requests.get()
            if item is None:
                return
            steps, state, record = item
            model.load_state_dict(state)
            returns = run_episodes(model, env_id, episodes, seed=seed, options=options)
            clip = _record(model, env_id, steps, seed, options, video) if record and video is not None else None
            results.put((steps, returns, clip))
    except UsageError as e:  # e.g. an env that cannot render: one line, not a traceback
        results.put(("error", f"--capture-video: {e}", None))
    except Exception:
        results.put(("error", traceback.format_exc(), None))


class PeriodicEvaluator:
    """Owns the evaluation process; ``submit`` never blocks, ``poll`` returns finished evaluations."""

    def __init__(
        self,
        ctx,
        env_id: str,
        spec_json: str,
        episodes: int,
        seed: int,
        options: Any = None,
        video: VideoSpec | None = None,
    ):
        self.video = video
        self.requests = ctx.Queue()
        self.results = ctx.Queue()
        self.snapshots: dict[int, dict] = {}
        self.busy = 0
        self.proc = ctx.Process(
            target=_evaluator_main,
            name="asyncrl-evaluator",
            daemon=True,
            args=(self.requests, self.results, env_id, spec_json, episodes, seed, options, video),
        )
        self.proc.start()

    def submit(self, env_steps: int, state_dict: dict, record: bool = False) -> bool:
        """Start an evaluation of ``state_dict`` (and with ``record``, a recorded episode if the evaluator has a
        :class:`VideoSpec`); ``False`` (skipped) while the previous one runs."""
        if self.busy:
            return False
        snap = {k: v.detach().clone() for k, v in state_dict.items()}
        self.snapshots[env_steps] = snap
        self.requests.put((env_steps, snap, record))
        self.busy += 1
        return True

    def poll(self) -> list[tuple[int, list[float], dict, Video | None]]:
        """Finished evaluations as ``(env_steps, returns, the snapshot evaluated, its recorded Video or None)``."""
        done: list[tuple[int, list[float], dict, Video | None]] = []
        while True:
            try:
                steps, returns, clip = self.results.get_nowait()
            except queue.Empty:
                if not self.proc.is_alive():
                    raise WorkerFailed(
                        f"the evaluation process (pid {self.proc.pid}) died (exit code {self.proc.exitcode})"
                    ) from None
                return done
            if steps == "error":
                raise WorkerFailed(f"the evaluation process failed: {returns}")
            self.busy -= 1
            done.append((steps, returns, self.snapshots.pop(steps), clip))

    def wait(
        self, timeout: float, stop: Callable[[], bool] = lambda: False
    ) -> list[tuple[int, list[float], dict, Video | None]]:
        """Wait up to ``timeout`` seconds for the evaluations still running (less once ``stop()`` is true: then
        only what has finished is taken)."""
        out, deadline = [], time.monotonic() + timeout
        while self.busy > 0 and time.monotonic() < deadline and self.proc.is_alive() and not stop():
            out += self.poll()
            time.sleep(0.02)
        return out

    def close(self) -> None:
        try:
            self.requests.put(None)
        except (ValueError, OSError):
            pass
        stop_processes([self.proc], timeout=2.0)
        for q in (self.requests, self.results):
            q.cancel_join_thread()
            q.close()
