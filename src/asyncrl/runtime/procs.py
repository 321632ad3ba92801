"""Process hygiene shared by every multi-process runtime.

Children ignore SIGINT and SIGTERM (the parent decides when to stop and saves the checkpoint), run one
torch thread, and die with their parent (``PR_SET_PDEATHSIG`` on Linux), so a killed trainer
leaves no orphans. The parent turns SIGINT/SIGTERM into a flag that the training loop polls.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import re
import signal
import sys
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any, cast

import torch
import torch.multiprocessing as tmp


class WorkerFailed(RuntimeError):
    """A child process (worker, actor or evaluator) raised or died; the message holds its traceback or exit status."""


def failure_summary(text: str) -> str:
    """The one line of a failure's text for stderr: a one-line text as it is, else its first line (who failed)
    and the last line of the traceback that follows (the exception; an env's crash as :class:`~asyncrl.envs.check.
    EnvCrashed` words it, with the file and line of the env's code), then the notes in parentheses after the
    traceback. The whole text goes to ``error.log``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return text.strip()
    notes: list[str] = []  # (a runtime's words after the traceback, in parentheses: "(not restarted: ...)")
    while len(lines) > 2 and lines[-1].startswith("("):
        notes.insert(0, lines.pop())
    last = re.sub(r"^[\w.]*EnvCrashed: ", "", lines[-1])
    who = lines[0].rstrip(":. ")
    return " ".join([last if who.startswith("Traceback") else f"{who}: {last}", *notes])


class TrainingDiverged(WorkerFailed):
    """Every recent update had a non-finite gradient: the run cannot learn any more, so it ends."""


def child_preamble() -> None:
    """Call first thing in every child process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a group-wide SIGTERM is the parent's to handle
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die when the parent dies
        except OSError:
            pass
    torch.set_num_threads(1)


class StopSignal:
    """Turns SIGINT and SIGTERM into ``self.requested`` while installed (main thread only)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a notebook worker thread)
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


Context = mp.context.ForkContext | mp.context.SpawnContext | mp.context.ForkServerContext
"""A multiprocessing context of one start method."""


def get_context(start_method: str) -> Context:
    """torch's multiprocessing context (tensors cross in shared memory) for ``start_method``."""
    return cast(Context, tmp.get_context(start_method))


def stop_processes(procs: Sequence[BaseProcess], timeout: float = 5.0) -> None:
    """Join ``procs``; kill any that are still alive after ``timeout`` seconds (children ignore SIGTERM)."""
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(2.0)
