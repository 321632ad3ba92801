"""Training runs as child processes, for ``asyncrl tune`` and ``asyncrl sweep``.

Each run is an ordinary ``asyncrl train`` (``python -m asyncrl train ...``) with its own run dir and log file.
Parallel runs get disjoint sets of cores (:func:`core_slots`, CPU affinity), so ``--jobs 2`` on 2 cores gives
each run one core, and each run's defaults (its worker count) fit the cores it has: nothing is oversubscribed.
A child gets SIGTERM if the launching process dies (Linux), so a killed ``tune`` or ``sweep`` leaves no orphans;
:meth:`TrainJob.interrupt` asks a run to stop as Ctrl-C does (it saves its checkpoint and can be resumed).
"""

from __future__ import annotations

import csv
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from asyncrl import limits as L
from asyncrl.config import FLAT_FIELDS
from asyncrl.core.settings import field_kind, flag_of
from asyncrl.errors import UsageError

_PR_SET_PDEATHSIG = 1


def core_slots(jobs: int) -> list[set[int]]:
    """The cores of this process split into ``jobs`` disjoint, near-equal sets (one per parallel run)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    L.need_int("--jobs", jobs, 1, None)
    if jobs > len(cores):
        raise UsageError(
            f"--jobs {jobs} is more than the {len(cores)} cores this process may use (allowed: 1 to "
            f"{len(cores)}; each run gets its own share of the cores)"
        )
    size, extra = divmod(len(cores), jobs)
    slots, start = [], 0
    for i in range(jobs):
        n = size + (1 if i < extra else 0)
        slots.append(set(cores[start : start + n]))
        start += n
    return slots


def train_flags(settings: dict[str, Any]) -> list[str]:
    """``settings`` (flat names) as ``asyncrl train`` flags, e.g. ``{"lr": 1e-3, "lstm": True}`` ->
    ``["--lr", "0.001", "--lstm"]`` (``None`` values are left out: the defaults)."""
    out: list[str] = []
    for name, value in settings.items():
        if value is None:
            continue
        if name not in FLAT_FIELDS:
            raise UsageError(f"unknown setting {name!r}")
        flag, kind = flag_of(name), field_kind(FLAT_FIELDS[name][0])
        if kind == "bool":
            out.append(flag if value else f"--no-{flag[2:]}")
        elif kind == "list[int]":
            out += [flag, *(str(int(v)) for v in value)]
        else:
            out += [flag, repr(float(value)) if kind == "float" else str(value)]
    return out


def _child_setup(cpus: set[int] | None):
    """What a child runs between fork and exec: its cores, and SIGTERM when its parent dies (Linux)."""
    prctl = None
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
        except (OSError, AttributeError):
            prctl = None

    def setup() -> None:
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


@dataclass
class TrainJob:
    """One ``asyncrl train`` child: its run dir, log file and process; :meth:`new_evals` reads its evaluations."""

    run_dir: str
    log_path: str
    proc: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    evals_seen: int = 0

    @classmethod
    def start(
        cls, args: list[str], run_dir: str, log_path: str, cpus: set[int] | None = None, group: str | None = None
    ) -> TrainJob:
        """Start ``asyncrl train ARGS --run-dir RUN_DIR`` (``--resume RUN_DIR`` when ``args`` says so), its
        output to ``log_path``, on the cores ``cpus``; ``group`` is its W&B group (``WANDB_RUN_GROUP``, unless the
        user set one), so a sweep's or a study's runs with ``--wandb`` appear together."""
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        cmd = [sys.executable, "-m", "asyncrl", "train", *args, "--no-progress"]
        if "--resume" not in args:
            cmd += ["--run-dir", run_dir]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if group is not None:
            env.setdefault("WANDB_RUN_GROUP", group)
        with open(log_path, "a") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            # (the launching loop has no threads, so a preexec function is safe here)
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_child_setup(cpus),
                env=env,
            )
        return cls(run_dir, log_path, proc)

    def poll(self) -> int | None:
        """The exit code, or ``None`` while it runs."""
        return self.proc.poll()

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def new_evals(self) -> list[dict[str, float]]:
        """The rows of ``evals.csv`` written since the last call (``env_steps``, ``mean``, ...)."""
        path = os.path.join(self.run_dir, "evals.csv")
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError:
            return []
        out = []
        for row in rows[self.evals_seen :]:
            try:
                out.append({k: float(v) for k, v in row.items() if k})
            except (TypeError, ValueError):
                break  # a row still being written: read it next time
        self.evals_seen += len(out)
        return out

    def interrupt(self) -> None:
        """Ask the run to stop as Ctrl-C does (it saves ``latest.pt`` and writes its result)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self, timeout: float) -> None:
        """:meth:`interrupt`, wait up to ``timeout`` seconds, then kill."""
        self.interrupt()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def tail(self, lines: int = 1) -> str:
        """The last ``lines`` non-empty lines of the log (why a run failed)."""
        try:
            with open(self.log_path, errors="replace") as f:
                text = [line.rstrip() for line in f if line.strip()]
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def stop_all(jobs: list[TrainJob], timeout: float = 60.0) -> None:
    """Interrupt every job at once, then wait for all of them (killing what is left after ``timeout``)."""
    for job in jobs:
        job.interrupt()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.stop(max(0.1, deadline - time.monotonic()))


class TerminateAsInterrupt:
    """While installed, SIGINT and SIGTERM raise :class:`KeyboardInterrupt` in the main thread, so Ctrl-C and
    ``kill`` stop a tune or sweep alike: its runs are interrupted cleanly and its records stay consistent. (SIGINT
    too, explicitly: a process started in the background by a non-interactive shell inherits SIGINT ignored, as
    ``asyncrl train`` would but for its own handler.)"""

    def __enter__(self) -> TerminateAsInterrupt:
        self._old = {sig: signal.signal(sig, self._raise) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    @staticmethod
    def _raise(signum, frame) -> None:
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


__all__ = ["TrainJob", "core_slots", "train_flags", "stop_all", "TerminateAsInterrupt"]
