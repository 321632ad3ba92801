"""One logger for a run: ``episodes.csv``, ``metrics.csv``, ``evals.csv``, TensorBoard, Weights & Biases,
the progress line.

Log keys are namespaced (``charts/``, ``loss/``, ``eval/``) as in CleanRL, so TensorBoard groups them; W&B gets
the same keys at the same env steps (its ``global_step`` axis), plus the config, the videos and the curve.
"""

from __future__ import annotations

import csv
import math
import os
import secrets
import shutil
import sys
import time
from collections import deque
from typing import Any

from asyncrl.errors import UsageError, first_line
from asyncrl.evaluate import summarize
from asyncrl.paths import evals_file

EPISODE_COLUMNS = ["wall_time_s", "env_steps", "episode_return", "episode_length", "worker", "frames"]
"""``frames``: emulator frames so far (``env_steps`` x the frame skip: 4 on Atari, 1 elsewhere)."""
EVAL_COLUMNS = ["wall_time_s", "env_steps", "mean", "median", "std", "min", "max", "episodes"]
"""``evals.csv``: one row per evaluation during training (deterministic episodes)."""


class Every:
    """A throttle: :meth:`due` is true at most once per ``seconds`` (and then restarts the period); ``first``: true
    at the first call too. The one throttle of the logs and the runtimes' loops (:mod:`asyncrl.runtime.loop`)."""

    def __init__(self, seconds: float = 1.0, first: bool = False):
        self.seconds = seconds
        self._last = -float("inf") if first else time.perf_counter()

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


class _CsvFile:
    """Append-mode CSV with a fixed header (written only when the file is new)."""

    def __init__(self, path: str, columns: list[str]):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:  # a resumed run keeps the header it has (a file from an older version may lack columns)
            with open(path, newline="") as f:
                columns = next(csv.reader(f), columns)
        self.file = open(path, "a", newline="")  # noqa: SIM115  (open for the run; closed by close())
        self.writer = csv.writer(self.file)
        self.columns = columns
        if new:
            self.writer.writerow(columns)

    def row(self, values: dict) -> None:
        self.writer.writerow([_fmt(values.get(c, "")) for c in self.columns])

    def close(self) -> None:
        self.file.close()


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


WANDB_ID_FILE = os.path.join("wandb", "asyncrl-run-id")
"""Where a run dir keeps its W&B run id, so a resumed run goes on logging to the same W&B run."""


class WandbSink:
    """A run's Weights & Biases run: scalars against env steps (``global_step``), the config, media.

    The run's files live under ``<run dir>/wandb``; its id is kept there (:data:`WANDB_ID_FILE`), so
    ``--resume`` continues the same W&B run. ``WANDB_MODE=offline`` writes it locally for ``wandb sync``.
    """

    def __init__(self, run_dir: str, project: str, config: dict[str, Any], name: str):
        try:
            import wandb
        except ImportError:
            raise UsageError("--wandb needs the wandb package: pip install 'asyncrl[wandb]'") from None
        self.wandb = wandb
        folder = os.path.join(run_dir, "wandb")
        new = not os.path.exists(folder)
        os.makedirs(folder, exist_ok=True)
        id_path = os.path.join(run_dir, WANDB_ID_FILE)
        if os.path.exists(id_path):
            with open(id_path) as f:
                run_id = f.read().strip()
        else:
            run_id = secrets.token_hex(6)
        try:
            self.run = wandb.init(
                project=project,
                name=name,
                id=run_id,
                resume="allow",
                dir=run_dir,
                config=config,
                settings=wandb.Settings(console="off", silent=True),
            )
        except Exception as e:  # no API key, no network, a bad project name: one line, and nothing left behind
            if new:
                shutil.rmtree(folder, ignore_errors=True)
            raise UsageError(
                f"--wandb: the W&B run could not start ({first_line(e)}); log in with 'wandb login', or "
                f"set WANDB_MODE=offline to log locally"
            ) from None
        with open(id_path, "w") as f:
            f.write(run_id + "\n")
        self.run.define_metric("global_step")
        self.run.define_metric("*", step_metric="global_step")

    def log(self, values: dict[str, Any], step: int) -> None:
        self.run.log({**values, "global_step": step})

    def video(self, tag: str, path: str, step: int) -> None:
        self.log({tag: self.wandb.Video(path, format="mp4")}, step)

    def image(self, tag: str, path: str, step: int) -> None:
        self.log({tag: self.wandb.Image(path)}, step)

    def close(self) -> None:
        self.run.finish()


class RunLogger:
    """Writes every log of one run. ``time_offset`` continues the wall clock of a resumed run; ``wandb`` is
    a :class:`WandbSink` (or ``None``) that gets the same scalars as TensorBoard."""

    def __init__(
        self,
        run_dir: str,
        metric_columns: list[str],
        tensorboard: bool = True,
        progress: bool = True,
        time_offset: float = 0.0,
        recent_returns: list[float] | None = None,
        wandb: WandbSink | None = None,
    ):
        self.run_dir = run_dir
        self.t0 = time.perf_counter() - time_offset
        self.episodes = _CsvFile(os.path.join(run_dir, "episodes.csv"), EPISODE_COLUMNS)
        self.metrics = _CsvFile(os.path.join(run_dir, "metrics.csv"), ["wall_time_s", "env_steps", *metric_columns])
        self.evals = _CsvFile(os.path.join(run_dir, evals_file(run_dir)), EVAL_COLUMNS)
        self.recent = deque(recent_returns or [], maxlen=100)
        self.recent_frozen = False
        self.episode_count = 0
        self._chart_returns: list[float] = []
        self._chart_lengths: list[int] = []
        self._chart_steps = 0
        self._chart_every = Every(1.0)
        self.frames_per_step = 1
        """Emulator frames per agent step, for the ``frames`` column (4 on Atari)."""
        self.best_eval = -math.inf
        self.last_eval: dict[str, float] | None = None
        """The latest evaluation's summary (:func:`~asyncrl.evaluate.summarize`) and its ``env_steps``."""
        self.progress = progress
        self._tty = sys.stdout.isatty()
        self._print_every = Every(0.5 if self._tty else 10.0, first=True)
        self._flush_every = Every(2.0)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(run_dir, "tb"))
        self.wandb = wandb
        self.charts = self.tb is not None or wandb is not None
        """Whether any chart sink (TensorBoard, W&B) is on."""

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Chart ``values`` (``{namespaced key: number}``) at env step ``step`` in TensorBoard and W&B."""
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(values, step)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def mean_recent(self) -> float:
        """Mean return of the last 100 finished training episodes (NaN before the first)."""
        return sum(self.recent) / len(self.recent) if self.recent else math.nan

    def episode(
        self, env_steps: int, episode_return: float, episode_length: int, worker: int, wall_time_s: float | None = None
    ) -> None:
        self.episodes_done(env_steps, [(episode_return, episode_length)], worker, wall_time_s)

    def episodes_done(
        self, env_steps: int, finished: list[tuple[float, int]], worker: int, wall_time_s: float | None = None
    ) -> None:
        """Log episodes ``(return, length)`` that ended by ``env_steps``: one ``episodes.csv`` row each.

        TensorBoard gets aggregates (mean, min and max return, mean length) at most once a second
        (:meth:`flush_episode_charts`), not one event per episode: envs whose episodes last a step must
        not turn logging into the run's bottleneck. After :meth:`freeze_recent` the episodes still go to
        the CSV and the counts but no longer change the last-100 window.
        """
        if not finished:
            return
        wall = self.elapsed() if wall_time_s is None else wall_time_s
        frames = env_steps * self.frames_per_step
        if self.episodes.columns == EPISODE_COLUMNS:  # one call for the batch
            w = _fmt(float(wall))
            self.episodes.writer.writerows(
                [w, env_steps, _fmt(float(ret)), length, worker, frames] for ret, length in finished
            )
        else:  # an older run's file: follow its header
            for ret, length in finished:
                self.episodes.row(
                    dict(
                        wall_time_s=wall,
                        env_steps=env_steps,
                        episode_return=ret,
                        episode_length=length,
                        worker=worker,
                        frames=frames,
                    )
                )
        if not self.recent_frozen:
            self.recent.extend(float(ret) for ret, _ in finished)
        self.episode_count += len(finished)
        if self.charts:
            self._chart_returns.extend(float(ret) for ret, _ in finished)
            self._chart_lengths.extend(length for _, length in finished)
            self._chart_steps = env_steps
            if self._chart_every.due():
                self.flush_episode_charts()

    def flush_episode_charts(self) -> None:
        """Write the TensorBoard aggregates of the episodes logged since the last call."""
        if not self.charts or not self._chart_returns:
            return
        rets, step = self._chart_returns, self._chart_steps
        self.scalars(
            {
                "charts/episode_return": sum(rets) / len(rets),
                "charts/episode_return_min": min(rets),
                "charts/episode_return_max": max(rets),
                "charts/episode_length": sum(self._chart_lengths) / len(self._chart_lengths),
                "charts/episodes_per_row": len(rets),
            },
            step,
        )
        self._chart_returns, self._chart_lengths = [], []

    def freeze_recent(self) -> None:
        """Keep the last-100 window as it is now: the figure a stop decision was made on is the figure the
        run reports (progress line, result, checkpoint), though a few more episodes end while workers stop."""
        self.recent_frozen = True

    def metric_row(self, env_steps: int, values: dict[str, float]) -> None:
        self.metrics.row({"wall_time_s": self.elapsed(), "env_steps": env_steps, **values})
        if self.charts:
            self.scalars(
                {
                    k if "/" in k else f"charts/{k}": v
                    for k, v in values.items()
                    if isinstance(v, (int, float)) and math.isfinite(v)
                },
                env_steps,
            )
        self._maybe_flush()

    def eval_result(self, env_steps: int, returns: list[float]) -> dict[str, float]:
        s = summarize(returns)
        self.evals.row({"wall_time_s": self.elapsed(), "env_steps": env_steps, **s})
        self.best_eval = max(self.best_eval, s["mean"])
        self.last_eval = {**s, "env_steps": env_steps}
        if self.charts:
            self.scalars({"eval/mean": s["mean"], "eval/median": s["median"]}, env_steps)
        return s

    def video(self, env_steps: int, path: str, gif: bytes | None, size: tuple[int, int] | None) -> None:
        """An evaluation episode recorded at ``env_steps`` (``path``: its MP4): TensorBoard shows ``gif`` (an
        animated GIF of ``size`` ``(height, width)``, as ``add_video`` does), W&B the MP4."""
        if self.tb is not None and gif is not None and size is not None:
            from tensorboard.compat.proto.summary_pb2 import Summary

            image = Summary.Image(height=size[0], width=size[1], colorspace=3, encoded_image_string=gif)
            writer = self.tb._get_file_writer()
            writer.add_summary(Summary(value=[Summary.Value(tag="eval/video", image=image)]), env_steps)
        if self.wandb is not None:
            self.wandb.video("eval/video", path, env_steps)

    def print_progress(self, env_steps: int, steps_per_s: float, extra: str = "", force: bool = False) -> None:
        """The live line: steps, steps/s, mean of the last 100 episodes, best evaluation, elapsed time."""
        if not self.progress:
            return
        if not self._print_every.due() and not force:
            return
        best = f"{self.best_eval:.1f}" if math.isfinite(self.best_eval) else "-"
        mean = self.mean_recent()
        line = (
            f"steps {env_steps:>10,} | {steps_per_s:>8,.0f} steps/s | mean100 "
            f"{mean:>8.1f} | best eval {best:>7} | episodes {self.episode_count:>6} | "
            f"{self.elapsed():>6.1f}s{extra}"
        )
        if self._tty:
            sys.stdout.write("\r" + line + "\033[K")
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def end_progress(self) -> None:
        if self.progress and self._tty:
            sys.stdout.write("\n")
            sys.stdout.flush()

    def _maybe_flush(self) -> None:
        if self._flush_every.due():
            self.flush()

    def flush(self) -> None:
        self.flush_episode_charts()
        for f in (self.episodes, self.metrics, self.evals):
            f.file.flush()
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        self.flush()
        for f in (self.episodes, self.metrics, self.evals):
            f.close()
        if self.tb is not None:
            self.tb.close()  # (the W&B run is its creator's to finish: train logs the curve to it after this)
