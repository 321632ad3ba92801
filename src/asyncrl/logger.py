"""One logger for a run: ``episodes.csv``, ``metrics.csv``, ``evals.csv``, TensorBoard, the progress line.

Log keys are namespaced (``charts/``, ``loss/``, ``test/``) as in CleanRL, so TensorBoard groups them.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from collections import deque

from asyncrl.evaluate import summarize

EPISODE_COLUMNS = ["wall_time_s", "env_steps", "episode_return", "episode_length", "worker", "frames"]
"""``frames``: emulator frames so far (``env_steps`` x the frame skip: 4 on Atari, 1 elsewhere)."""
EVAL_COLUMNS = ["wall_time_s", "env_steps", "mean", "median", "std", "min", "max", "episodes"]
"""``evals.csv``: one row per evaluation during training (deterministic episodes)."""


def evals_file(run_dir: str) -> str:
    """``evals.csv``; ``tests.csv`` in a run dir written before it was renamed (a resume goes on writing there)."""
    old = os.path.join(run_dir, "tests.csv")
    return "tests.csv" if os.path.exists(old) and not os.path.exists(os.path.join(run_dir, "evals.csv")) \
        else "evals.csv"


class _CsvFile:
    """Append-mode CSV with a fixed header (written only when the file is new)."""

    def __init__(self, path: str, columns: list[str]):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:  # a resumed run keeps the header it has (a file from an older version may lack columns)
            with open(path, newline="") as f:
                columns = next(csv.reader(f), columns)
        self.file = open(path, "a", newline="")
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


class RunLogger:
    """Writes every log of one run. ``time_offset`` continues the wall clock of a resumed run."""

    def __init__(self, run_dir: str, metric_columns: list[str], tensorboard: bool = True,
                 progress: bool = True, time_offset: float = 0.0, recent_returns: list[float] | None = None):
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
        self._last_chart = time.perf_counter()
        self.frames_per_step = 1
        """Emulator frames per agent step, for the ``frames`` column (4 on Atari)."""
        self.best_eval = -math.inf
        self.progress = progress
        self._tty = sys.stdout.isatty()
        self._last_print = 0.0
        self._last_flush = time.perf_counter()
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(run_dir, "tb"))

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def mean_recent(self) -> float:
        """Mean return of the last 100 finished training episodes (NaN before the first)."""
        return sum(self.recent) / len(self.recent) if self.recent else math.nan

    def episode(self, env_steps: int, episode_return: float, episode_length: int, worker: int,
                wall_time_s: float | None = None) -> None:
        self.episodes_done(env_steps, [(episode_return, episode_length)], worker, wall_time_s)

    def episodes_done(self, env_steps: int, finished: list[tuple[float, int]], worker: int,
                      wall_time_s: float | None = None) -> None:
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
            self.episodes.writer.writerows([w, env_steps, _fmt(float(ret)), length, worker, frames]
                                           for ret, length in finished)
        else:  # an older run's file: follow its header
            for ret, length in finished:
                self.episodes.row(dict(wall_time_s=wall, env_steps=env_steps, episode_return=ret,
                                       episode_length=length, worker=worker, frames=frames))
        if not self.recent_frozen:
            self.recent.extend(float(ret) for ret, _ in finished)
        self.episode_count += len(finished)
        if self.tb is not None:
            self._chart_returns.extend(float(ret) for ret, _ in finished)
            self._chart_lengths.extend(length for _, length in finished)
            self._chart_steps = env_steps
            if time.perf_counter() - self._last_chart >= 1.0:
                self.flush_episode_charts()

    def flush_episode_charts(self) -> None:
        """Write the TensorBoard aggregates of the episodes logged since the last call."""
        if self.tb is None or not self._chart_returns:
            return
        rets, step = self._chart_returns, self._chart_steps
        self.tb.add_scalar("charts/episode_return", sum(rets) / len(rets), step)
        self.tb.add_scalar("charts/episode_return_min", min(rets), step)
        self.tb.add_scalar("charts/episode_return_max", max(rets), step)
        self.tb.add_scalar("charts/episode_length", sum(self._chart_lengths) / len(self._chart_lengths), step)
        self.tb.add_scalar("charts/episodes_per_row", len(rets), step)
        self._chart_returns, self._chart_lengths = [], []
        self._last_chart = time.perf_counter()

    def freeze_recent(self) -> None:
        """Keep the last-100 window as it is now: the figure a stop decision was made on is the figure the
        run reports (progress line, result, checkpoint), though a few more episodes end while workers stop."""
        self.recent_frozen = True

    def metric_row(self, env_steps: int, values: dict[str, float]) -> None:
        self.metrics.row({"wall_time_s": self.elapsed(), "env_steps": env_steps, **values})
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k if "/" in k else f"charts/{k}", v, env_steps)
        self._maybe_flush()

    def eval_result(self, env_steps: int, returns: list[float]) -> dict[str, float]:
        s = summarize(returns)
        self.evals.row({"wall_time_s": self.elapsed(), "env_steps": env_steps, **s})
        self.best_eval = max(self.best_eval, s["mean"])
        if self.tb is not None:
            self.tb.add_scalar("eval/mean", s["mean"], env_steps)
            self.tb.add_scalar("eval/median", s["median"], env_steps)
        return s

    def print_progress(self, env_steps: int, steps_per_s: float, extra: str = "", force: bool = False) -> None:
        """The live line: steps, steps/s, mean of the last 100 episodes, best evaluation, elapsed time."""
        if not self.progress:
            return
        now = time.perf_counter()
        if not force and now - self._last_print < (0.5 if self._tty else 10.0):
            return
        self._last_print = now
        best = f"{self.best_eval:.1f}" if math.isfinite(self.best_eval) else "-"
        mean = self.mean_recent()
        line = (f"steps {env_steps:>10,} | {steps_per_s:>8,.0f} steps/s | mean100 "
                f"{mean:>8.1f} | best eval {best:>7} | episodes {self.episode_count:>6} | "
                f"{self.elapsed():>6.1f}s{extra}")
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
        now = time.perf_counter()
        if now - self._last_flush > 2.0:
            self.flush()
            self._last_flush = now

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
            self.tb.close()
