"""What every runtime shares while it trains: logs, statistics, stop conditions, periodic evaluations, checkpoints.

A runtime owns acting and learning; it hands finished episodes and update statistics to :class:`TrainingControl` and
calls :meth:`TrainingControl.tick` often. ``tick`` prints the progress line and, once a second, a ``metrics.csv``
row of the update statistics gathered in :attr:`window`, writes ``checkpoints/latest.pt`` every
``checkpoint_every_s`` seconds, starts evaluations every ``eval_every`` env steps (saving ``checkpoints/best.pt``
when one beats the best so far) and returns why training should stop, or ``None``."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from asyncrl.checkpoint import save_checkpoint
from asyncrl.core.sections import RunConfig
from asyncrl.envs.check import EnvCrashed
from asyncrl.logger import Every, RunLogger
from asyncrl.runtime.evaluator import Video
from asyncrl.runtime.loop import MetricsWindow
from asyncrl.runtime.procs import StopSignal, TrainingDiverged, WorkerFailed
from asyncrl.runtime.schedule import LrSchedule


@dataclass
class Counters:
    """Progress that a checkpoint carries across a resume."""

    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    wall_time_s: float = 0.0
    best_eval: float = -math.inf
    recent_returns: list[float] = field(default_factory=list)
    lr_schedule: dict | None = None
    """The learning-rate schedule the run was on (:meth:`LrSchedule.to_dict`), so a resume continues it."""


class NonFiniteGuard:
    """Ends a run whose last ``limit`` updates all had a non-finite gradient.

    Such updates are skipped (the weights never see NaN or inf), but a run where every update is skipped
    would go on stepping envs without learning anything until its budget ran out.
    """

    def __init__(self, limit: int = 100):
        self.limit, self.streak = limit, 0

    def update(self, skipped: bool) -> None:
        self.streak = self.streak + 1 if skipped else 0
        if self.streak >= self.limit:
            raise TrainingDiverged(
                f"the last {self.limit} updates all had a non-finite gradient (NaN or inf in the loss, "
                f"the rewards or the weights), so none was applied and the run stopped; try a lower --lr "
                f"or --max-grad-norm, or check the env's rewards"
            )


def clone_state(tree):
    """A deep copy of a state dict (tensors cloned), to keep a moment's state while training goes on."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: clone_state(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(clone_state(v) for v in tree)
    return tree


class TrainingControl:
    """The kernel's bookkeeping of a run (see the module docstring). ``config_json`` and ``spec_json`` go into every
    checkpoint; ``schedule`` is the run's learning rate as a function of the global env step (every runtime reads
    it here, and only here)."""

    def __init__(
        self,
        cfg: RunConfig,
        spec_json: str,
        logger: RunLogger,
        counters: Counters,
        stop_signal: StopSignal,
        schedule: LrSchedule,
        config_json: str,
        evaluator=None,
    ):
        self.cfg, self.spec_json, self.logger, self.counters = cfg, spec_json, logger, counters
        self.schedule, self.config_json = schedule, config_json
        self.window = MetricsWindow()
        """Update statistics until the next ``metrics.csv`` row (written by :meth:`tick` once a second)."""
        self.gauges: Callable[[], dict[str, float]] = dict
        """The runtime's own columns of a row at the moment it is written (queue depth, restarts)."""
        self.guard = NonFiniteGuard()
        self._every_second = Every(1.0)
        self._eval_optimizer: dict[int, dict] = {}  # optimizer state at each submitted evaluation's moment
        self.stop_signal = stop_signal
        self.evaluator = evaluator
        self.ckpt_dir = os.path.join(cfg.run.run_dir, "checkpoints")
        self.logger.best_eval = counters.best_eval
        every = cfg.run.eval_every
        self._next_eval = (counters.env_steps // every + 1) * every if every else 0
        self._last_submitted = -1
        video_every = cfg.run.video_every
        self._next_video = (counters.env_steps // video_every + 1) * video_every if video_every else 0
        self._last_video = -1
        self._last_ckpt = time.monotonic()
        self._last_steps, self._last_t = counters.env_steps, time.perf_counter()
        self.steps_per_s = 0.0
        self.stop_reason: str | None = None
        self.extra_progress: Callable[[], str] = lambda: ""

    # ---- inputs from the runtime --------------------------------------------------------
    def episode(self, env_steps: int, episode_return: float, length: int, worker: int) -> None:
        self.episodes(env_steps, [(episode_return, length)], worker)

    def episodes(self, env_steps: int, finished: list[tuple[float, int]], worker: int) -> None:
        """Episodes ``(return, length)`` of one worker that ended by ``env_steps`` (one batched write)."""
        self.logger.episodes_done(env_steps, finished, worker)
        self.counters.episodes += len(finished)

    def metrics(self, values: dict[str, float]) -> None:
        self.logger.metric_row(
            self.counters.env_steps, {"steps_per_s": self.steps_per_s, "updates": self.counters.updates, **values}
        )

    def update_done(self, stats: dict[str, float]) -> None:
        """One update's statistics (its ``skipped_updates`` feeds the guard that ends a run unable to learn)."""
        self.window.add(stats)
        self.guard.update(stats.get("skipped_updates", 0.0) > 0)

    def flush_metrics(self) -> None:
        """Write the statistics gathered since the last row now (at the end of a run)."""
        if self.window:
            self.metrics({**self.window.row(), **self.gauges()})

    # ---- the periodic work --------------------------------------------------------------
    def tick(self, state_fn: Callable[[], dict], optimizer_state_fn: Callable[[], dict]) -> str | None:
        """Housekeeping; returns the reason to stop (``None`` to go on)."""
        c, cfg = self.counters, self.cfg
        if self._every_second.due():
            now = time.perf_counter()
            self.steps_per_s = (c.env_steps - self._last_steps) / (now - self._last_t)
            self._last_steps, self._last_t = c.env_steps, now
            self.flush_metrics()
        self.logger.print_progress(c.env_steps, self.steps_per_s, self.extra_progress())
        if self.evaluator is not None:
            try:
                finished = self.evaluator.poll()
            except WorkerFailed:
                self.save("latest", state_fn(), optimizer_state_fn())  # keep the training done so far
                raise
            for steps, returns, snapshot, clip in finished:
                self._eval_done(steps, returns, snapshot, optimizer_state_fn, clip)
            due = cfg.run.eval_every and c.env_steps >= self._next_eval
            if due and self._submit(c.env_steps, state_fn(), optimizer_state_fn):
                self._next_eval = (c.env_steps // cfg.run.eval_every + 1) * cfg.run.eval_every
        if time.monotonic() - self._last_ckpt >= cfg.run.checkpoint_every_s:
            self.save("latest", state_fn(), optimizer_state_fn())
            self._last_ckpt = time.monotonic()
        self.stop_reason = self._stop_reason()
        if self.stop_reason is not None:
            self.logger.freeze_recent()  # the figure the decision was made on is the one the run reports
        return self.stop_reason

    def _stop_reason(self) -> str | None:
        c, cfg = self.counters, self.cfg
        if self.stop_signal.requested:
            return f"interrupted ({self.stop_signal.requested})"
        if (
            cfg.run.target_return is not None
            and len(self.logger.recent) == 100
            and self.logger.mean_recent() >= cfg.run.target_return
        ):
            return f"target return {cfg.run.target_return:g} reached (mean100 {self.logger.mean_recent():.2f})"
        if cfg.run.total_steps is not None and c.env_steps >= cfg.run.total_steps:
            return "step budget reached"
        if cfg.run.max_seconds is not None and self.logger.elapsed() >= cfg.run.max_seconds:
            return "time budget reached"
        return None

    def _submit(self, env_steps: int, state: dict, optimizer_state_fn: Callable[[], dict]) -> bool:
        """Start an evaluation (with a recorded episode when one is due, ``--capture-video``)."""
        assert self.evaluator is not None
        record = self.cfg.run.capture_video and env_steps >= self._next_video
        if not self.evaluator.submit(env_steps, state, record):
            return False
        self._last_submitted = env_steps
        self._eval_optimizer[env_steps] = clone_state(optimizer_state_fn())
        if record:
            self._last_video = env_steps
            every = self.cfg.run.video_every
            self._next_video = (env_steps // every + 1) * every if every else env_steps + 1
        return True

    def _eval_done(
        self, steps: int, returns: list[float], snapshot: dict, optimizer_state_fn, clip: Video | None = None
    ) -> None:
        if clip is not None:
            self.logger.video(steps, clip.path, clip.gif, clip.size)
        best_before = self.logger.best_eval
        s = self.logger.eval_result(steps, returns)
        optimizer_state = self._eval_optimizer.pop(steps, None)  # the optimizer of the snapshot's moment
        if s["mean"] > best_before or not os.path.exists(os.path.join(self.ckpt_dir, "best.pt")):
            self.counters.best_eval = self.logger.best_eval
            self.save(
                "best",
                snapshot,
                optimizer_state if optimizer_state is not None else optimizer_state_fn(),
                eval_mean=s["mean"],
                eval_steps=steps,
            )

    # ---- checkpoints --------------------------------------------------------------------
    def save(self, name: str, model_state: dict, optimizer_state: dict, **extra) -> None:
        c = self.counters
        c.wall_time_s = self.logger.elapsed()
        payload = {
            "algo": self.cfg.algo,
            "env": self.cfg.env,
            "model_spec": self.spec_json,
            "config": self.config_json,
            "model": model_state,
            "optimizer": optimizer_state,
            "counters": {
                "env_steps": c.env_steps,
                "updates": c.updates,
                "episodes": c.episodes,
                "wall_time_s": c.wall_time_s,
                "best_eval": self.logger.best_eval,
                "recent_returns": list(self.logger.recent),
                "lr_schedule": self.schedule.to_dict(),
            },
            **extra,
        }
        save_checkpoint(os.path.join(self.ckpt_dir, f"{name}.pt"), payload)

    def _signalled(self) -> bool:
        return self.stop_signal.requested is not None

    def failed(self, model_state: dict, optimizer_state: dict) -> None:
        """The end of a run that failed (a worker's or an env's crash): the last metrics row and ``latest.pt``,
        no final evaluation; the caller then raises the failure."""
        self.flush_metrics()
        self.save("latest", model_state, optimizer_state)
        self.logger.end_progress()

    @contextmanager
    def saved_if_the_env_crashes(self, state_fn: Callable[[], dict], optimizer_state_fn: Callable[[], dict]):
        """Around a loop that steps envs in this process (the synchronous runtime, ``--serial``): an exception from
        the env's own code (:class:`~asyncrl.envs.check.EnvCrashed`) saves ``latest.pt`` (:meth:`failed`) and goes
        on up, where the run reports it in one line."""
        try:
            yield
        except EnvCrashed:
            self.failed(state_fn(), optimizer_state_fn())
            raise

    def finish(self, state_fn: Callable[[], dict], optimizer_state_fn: Callable[[], dict]) -> None:
        """The last metrics row, the final evaluation (if evaluations are on and the run was not interrupted; none
        when the periodic one already evaluated these weights at this step), ``latest.pt``, and ``best.pt`` if no
        evaluation ever wrote one. A signal (now or before) ends the waits for evaluations at once."""
        self.flush_metrics()
        state = state_fn()
        if self.evaluator is not None and self.cfg.run.eval_every:
            steps = self.counters.env_steps
            final_done = self._last_submitted == steps and (not self.cfg.run.capture_video or self._last_video == steps)
            signalled = self._signalled  # (a signal ends the waits at once: the run ends within seconds)
            for steps_, returns, snapshot, clip in self.evaluator.wait(120.0 if final_done else 30.0, signalled):
                self._eval_done(steps_, returns, snapshot, optimizer_state_fn, clip)
            if self._last_video != steps:
                self._next_video = 0  # (the final policy is always recorded with --capture-video, once)
            if not self.stop_signal.requested and not final_done and self._submit(steps, state, optimizer_state_fn):
                for steps_, returns, snapshot, clip in self.evaluator.wait(120.0, signalled):
                    self._eval_done(steps_, returns, snapshot, optimizer_state_fn, clip)
        self.save("latest", state, optimizer_state_fn())
        if not os.path.exists(os.path.join(self.ckpt_dir, "best.pt")):
            self.save("best", state, optimizer_state_fn())
        self.logger.print_progress(self.counters.env_steps, self.steps_per_s, self.extra_progress(), force=True)
        self.logger.end_progress()
