"""Bounds of the numeric settings, and the checks that name them in their one-line errors.

The bounds are generous: they stop obvious mistakes (``--workers 100000``, ``--lr inf``, a 10**9-wide
layer) without refusing what real users run (hundreds of workers on a big machine, 10**10 env steps,
thousands of envs per actor). Infinite and NaN floats are refused everywhere: no setting means
anything useful at infinity (omit a stop condition instead of setting it to inf), and ``config.json``
must stay standard JSON, which has no ``Infinity`` or ``NaN``.
"""

from __future__ import annotations

import math
import os

from asyncrl.errors import UsageError


def usable_cores() -> int:
    """Cores this process may run on (respects CPU affinity, unlike ``os.cpu_count``)."""
    return max(1, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


MAX_WORKERS = max(1024, 4 * usable_cores())
"""Worker or actor processes (one process each; big machines run 16 to 256): 1024, or 4 per core on a
machine so big that the default (one per core) would pass 1024."""
MAX_ENVS = 65_536
"""Envs per worker or actor (A2C: in total), and envs of a batched ``asyncrl eval``."""
MAX_STEPS = 10**12
"""Env steps (``--total-steps``, ``--eval-every``): the largest published runs are about 10**11 frames."""
MAX_N_STEPS = 100_000
"""Rollout length per update (A3C's t_max is 5, PPO's up to a few thousand)."""
MAX_BATCH_SAMPLES = 2**24
"""Samples in one update (``--num-envs x --n-steps``, x ``--batch-rollouts`` for the actor-learner algorithms)."""
MAX_WIDTH = 16_384
"""Layer sizes: ``--hidden``, ``--lstm-size``, ``--feudal-dim``, ``--goal-dim``."""
MAX_LAYERS = 64
"""Hidden layers of the MLP torso."""
MAX_SEED = 2**32 - 1
"""Seeds (NumPy's legacy seeding range)."""
MAX_EPISODES = 100_000
"""Episodes of one evaluation during training or one ``asyncrl eval``."""
MAX_SLOTS = 1024
"""Trajectory slots per actor."""
MAX_EPOCHS = 1000
"""APPO passes over one batch."""
MAX_DILATION = 10_000
"""FeUdal dilated-LSTM cores."""
MAX_NOOPS = 10_000
"""Atari no-ops after a reset (standard 30)."""
MAX_POLICY_LAG = 10**9
"""Updates a sample may be stale."""
MAX_LR = 1.0
"""Learning rate: RMSprop and Adam diverge long before 1."""
MAX_LOG_STD = 20.0
"""``|--log-std-init|``: exp(20) is 5e8, exp(-20) 2e-9."""
MAX_FRAMES = 1_000_000
"""``record --max-frames``."""
MAX_FPS = 100
"""``asyncrl record --fps``: GIF frame delays are counted in hundredths of a second."""


def need_int(flag: str, value, lo: int, hi: int | None = None) -> None:
    """Raise :class:`UsageError` unless ``value`` is an ``int`` (not a bool) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{flag} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        kind = "a positive integer" if lo == 1 else "a non-negative integer" if lo == 0 else f"an integer >= {lo}"
        upto = f" up to {hi:,}" if hi is not None else ""
        raise UsageError(f"{flag} must be {kind}{upto}, got {value}")


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is None and hi is None:
        return "a finite number"
    if hi is None:
        if lo == 0 and lo_open:
            return "a finite positive number"
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    if lo == 0 and lo_open and not hi_open:
        return f"a finite positive number up to {hi:g}"
    if lo is None:
        return f"a finite number {'<' if hi_open else '<='} {hi:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def need_float(
    flag: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    what: str | None = None,
) -> None:
    """Raise :class:`UsageError` unless ``value`` is a finite number within the bounds (``None``: unbounded;
    ``lo_open``/``hi_open``: the bound itself is excluded). ``what`` replaces the generated description."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{flag} must be a number, got {value!r}")
    ok = (
        math.isfinite(value)
        and (lo is None or (value > lo if lo_open else value >= lo))
        and (hi is None or (value < hi if hi_open else value <= hi))
    )
    if not ok:
        raise UsageError(f"{flag} must be {what or _interval(lo, hi, lo_open, hi_open)}, got {value!r}")
