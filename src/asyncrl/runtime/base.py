"""What a runtime is to the rest of asyncrl: the :class:`Runtime` record and the registry.

A runtime moves data: it steps envs, hands rollouts to the algorithm's update and publishes weights. Each one
is one file in ``runtime/`` that registers a :class:`Runtime` (the package imports every module in it) and
owns its section of the config tree (:attr:`Runtime.config`): Hogwild's shared optimizer, the actor-learner's
slots and lag, Ray's address. ``--runtime`` choices, help, refusals ("--slots-per-actor does not apply to
--runtime sync") and the flag tables of docs/configuration.md are derived from the registry; nothing outside
``runtime/`` tests a runtime's name.

The sections share their common settings by composition of small dataclasses (:class:`RuntimeSection`: the
name; :class:`Workers`: the process count; :class:`Processes`: start method and serial mode), so that one
flat name (``workers``) is declared once and sits in every section that has it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asyncrl import limits as L
from asyncrl.core.sections import check_device
from asyncrl.core.settings import setting
from asyncrl.errors import UsageError

if TYPE_CHECKING:
    from asyncrl.algos.base import Algorithm
    from asyncrl.core.sections import RunConfig
    from asyncrl.runtime.setup import RunSetup

START_METHODS = ("fork", "spawn", "forkserver")


def runtime_names() -> tuple[str, ...]:
    """The registered runtimes' names, in registration order (``--runtime``'s choices)."""
    return tuple(RUNTIMES)


@dataclass(kw_only=True)
class RuntimeSection:
    """The runtime: where the work runs (the first of the algorithm's runtimes unless given)."""

    kind: str = setting(choices=runtime_names, flat="runtime", resume=True)
    """The runtime: ``hogwild`` (worker processes on a shared model, A3C), ``sync`` (one process, A2C),
    ``actor-learner`` (actor processes and a learner on this machine) or ``ray`` (env runners on a Ray cluster);
    each algorithm runs on some of them (its first is the default). A resumed run may switch between runtimes
    whose checkpoints are the same (``actor-learner`` and ``ray``)."""


@dataclass(kw_only=True)
class Workers(RuntimeSection):
    """A runtime with several workers (processes, or Ray actors)."""

    workers: int = setting(lo=1, hi=L.MAX_WORKERS, resume=True)
    """Worker processes (Hogwild), actor processes (actor-learner) or env runners (Ray) (default: the machine's
    cores; one fewer where a learner takes a core)."""


@dataclass(kw_only=True)
class OnDevice(RuntimeSection):
    """A runtime whose model may learn on a GPU."""

    device: str = setting("cpu", resume=True)
    """Where the model learns: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (cuda when available). The actor-learner
    and Ray learners learn there while their actors act on the CPU; the synchronous runtime also acts there, one
    batched forward per step."""

    def check(self) -> None:
        check_device(self.device)


@dataclass(kw_only=True)
class Processes(Workers):
    """A runtime of local worker processes, which may also run them in one process (``--serial``)."""

    start_method: str = setting(choices=START_METHODS, resume=True)
    """Multiprocessing start method for worker processes (default: fork on Linux, else spawn)."""
    serial: bool = setting(False, resume=True, fixed=True)
    """Run the workers (Hogwild) or the actors and learner (actor-learner) in one process, taking turns
    (debugging, determinism)."""


def default_start_method() -> str:
    return "fork" if os.name == "posix" and hasattr(os, "fork") else "spawn"


def start_method_of(section: RuntimeSection) -> str:
    """The start method of a runtime's child processes (the evaluator's too): its own setting, or the default."""
    return section.start_method if isinstance(section, Processes) else default_start_method()


@dataclass(frozen=True)
class Runtime:
    """A registered runtime (see the module docstring).

    ``run`` trains until the control says stop; ``run_serial`` (if any) runs the same components in one process
    (``--serial``). ``default_workers(algo)`` fills ``workers`` when the user did not, and ``derived(values)`` the
    settings it computes from the others (the flat values so far; what the user gave is kept). ``check(cfg)`` holds its
    rules between sections; ``preflight(cfg)`` its checks before anything is written (Ray: installed, head
    reachable). ``metrics``: its extra ``metrics.csv`` columns. ``resumes``: the runtimes whose checkpoints it can
    resume (besides its own).
    """

    name: str
    config: type
    run: Callable[[RunSetup], None]
    about: str
    run_serial: Callable[[RunSetup], None] | None = None
    default_workers: Callable[[Algorithm], int] = lambda algo: 1
    derived: Callable[[dict[str, Any]], dict[str, Any]] = lambda values: {}
    check: Callable[[RunConfig], None] | None = None
    preflight: Callable[[RunConfig], None] | None = None
    metrics: tuple[str, ...] = ()
    resumes: tuple[str, ...] = ()

    def runner(self, section: RuntimeSection) -> Callable[[RunSetup], None]:
        """What trains a run with ``section``: ``run``, or ``run_serial`` with ``--serial`` (a setting only the
        sections of runtimes with a serial mode have)."""
        if isinstance(section, Processes) and section.serial:
            assert self.run_serial is not None  # (register_runtime refuses a Processes section without one)
            return self.run_serial
        return self.run


RUNTIMES: dict[str, Runtime] = {}
"""Every registered runtime by name, in registration order."""


def register_runtime(runtime: Runtime) -> Runtime:
    """Add ``runtime`` to :data:`RUNTIMES` (a name may be registered once)."""
    if runtime.name in RUNTIMES:
        raise ValueError(f"a runtime named {runtime.name!r} is already registered")
    if not issubclass(runtime.config, RuntimeSection):
        raise ValueError(f"runtime {runtime.name!r}: its config must be a RuntimeSection, got {runtime.config}")
    if issubclass(runtime.config, Processes) and runtime.run_serial is None:
        raise ValueError(f"runtime {runtime.name!r}: its section has --serial, so it needs a run_serial")
    RUNTIMES[runtime.name] = runtime
    return runtime


def get_runtime(name: str) -> Runtime:
    """The registered runtime ``name``; a :class:`UsageError` naming the choices otherwise."""
    if name not in RUNTIMES:
        raise UsageError(f"--runtime {name!r} is not supported (allowed: {', '.join(RUNTIMES)})")
    return RUNTIMES[name]


def can_resume(saved: str, now: str) -> bool:
    """Whether a run saved on runtime ``saved`` may go on on runtime ``now`` (the same checkpoint layout)."""
    return saved == now or saved in get_runtime(now).resumes
