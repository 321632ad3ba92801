"""Learning curves from run dirs: return against env steps and against wall time.

Runs that share a configuration (``config.json`` equal up to ``seed`` and ``run_dir``)
become one curve, the mean ± std over seeds of the 100-episode rolling mean; a single run
shows its episode returns faintly behind the rolling mean.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Sequence

import numpy as np

from asyncrl.errors import UsageError
from asyncrl.paths import check_output_file, check_plot_run_dirs, evals_file


def read_episodes(run_dir: str) -> dict[str, np.ndarray]:
    """Columns of ``episodes.csv`` as float arrays (``wall_time_s``, ``env_steps``, ``episode_return``...)."""
    path = os.path.join(run_dir, "episodes.csv")
    if not os.path.isfile(path):
        raise UsageError(f"{run_dir!r} has no episodes.csv (not an asyncrl run dir?)")
    cols = ["wall_time_s", "env_steps", "episode_return", "episode_length", "worker"]
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return {c: np.array([float(r[c]) for r in rows], dtype=np.float64) for c in cols}
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as e:  # unreadable, or not asyncrl's columns
        raise UsageError(f"{path!r} cannot be read as an asyncrl episodes.csv ({type(e).__name__}: {e})") from None


def output_extensions() -> tuple[str, ...]:
    """The file extensions ``plot_runs`` can write (matplotlib's formats; pgf needs LaTeX, so not offered)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(sorted(f".{k}" for k in FigureCanvasBase.get_supported_filetypes() if k != "pgf"))


def rolling_mean(x: np.ndarray, window: int = 100) -> np.ndarray:
    """Mean of the last ``window`` values at each index (fewer at the start)."""
    if len(x) == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def holding_bar(threshold: float) -> float:
    """90% of a threshold: for a negative one (Pendulum's -200) the threshold minus 10% of its size (-220)."""
    return threshold - 0.1 * abs(threshold)


def solve_and_hold(run_dir: str, threshold: float, budget: int, hold: int) -> dict:
    """Did the run solve within ``budget`` env steps, and did it stay solved for ``hold`` env steps after?

    In finishing order, the first full 100-episode mean at or above ``threshold`` is the solve point;
    ``lowest_after`` is the lowest 100-episode mean over the ``hold`` env steps after it, ``held`` whether
    that stayed at or above :func:`holding_bar` over the whole window (which the run must cover).
    """
    ep = read_episodes(run_dir)
    order = np.argsort(ep["wall_time_s"], kind="stable")
    steps, returns = ep["env_steps"][order], ep["episode_return"][order]
    means = np.where(np.arange(len(returns)) >= 99, rolling_mean(returns), np.nan)  # (a full window of 100)
    res = hold_after_solve(steps, means, threshold, budget, hold, int(steps[-1]) if len(steps) else 0)
    i = res.pop("solve_index")
    return {**res, "solve_seconds": None if i is None else float(ep["wall_time_s"][order][i])}


def hold_after_solve(steps: np.ndarray, values: np.ndarray, threshold: float, budget: int, hold: int, end: int) -> dict:
    """The solve-and-hold rule on a series in order: ``steps [N]`` and ``values [N]`` (the 100-episode training
    means, NaN before a window is full, or the periodic deterministic evaluations), ``end`` the run's last env
    step.

    The solve point is the first value at or above ``threshold``; it must come at or before ``budget``.
    ``lowest_after`` is the lowest value over the ``hold`` env steps after it (the window is
    ``(solve, solve + hold]``, ``points_after`` values), ``held`` whether every one there stayed at or above
    :func:`holding_bar` and the run went on to ``solve + hold`` (``end``).
    """
    hit = np.flatnonzero(values >= threshold)
    if len(hit) == 0:
        return {
            "solved": False,
            "solve_steps": None,
            "solve_index": None,
            "lowest_after": None,
            "held": False,
            "points_after": 0,
        }
    i = int(hit[0])
    solve_steps = int(steps[i])
    after = (np.arange(len(steps)) > i) & (steps <= solve_steps + hold)
    lowest = float(values[after].min()) if after.any() else None
    solved = solve_steps <= budget
    covered = end >= solve_steps + hold
    return {
        "solved": solved,
        "solve_steps": solve_steps,
        "solve_index": i,
        "lowest_after": lowest,
        "held": bool(solved and covered and lowest is not None and lowest >= holding_bar(threshold)),
        "points_after": int(after.sum()),
    }


def read_evaluations(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """``env_steps [E]`` and ``mean [E]`` of a run dir's ``evals.csv`` (``tests.csv`` in older run dirs)."""
    path = os.path.join(run_dir, evals_file(run_dir))
    if not os.path.isfile(path):
        raise UsageError(f"{run_dir!r} has no evals.csv (was it run with --eval-every?)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["env_steps"]) for r in rows]), np.array([float(r["mean"]) for r in rows])


def _group_key(run_dir: str) -> str:
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return run_dir
    for k in ("seed", "run_dir", "max_seconds", "total_steps", "target_return", "progress", "tensorboard"):
        cfg.pop(k, None)
    return json.dumps(cfg, sort_keys=True)


def _label(run_dirs: list[str], differing: Sequence[str] = ()) -> str:
    """``algo env``, plus the settings in ``differing`` (those that tell this group from the others)."""
    try:
        with open(os.path.join(run_dirs[0], "config.json")) as f:
            cfg = json.load(f)
        name = f"{cfg['algo']} {cfg['env']}"
        name += "".join(f" {k}={cfg[k]}" for k in differing if k not in ("algo", "env") and k in cfg)
    except (OSError, ValueError, KeyError):
        name = os.path.basename(os.path.normpath(run_dirs[0]))
    return f"{name} ({len(run_dirs)} runs)" if len(run_dirs) > 1 else name


def _differing_keys(keys: list[str]) -> dict[str, list[str]]:
    """For each group (``keys``: the groups' :func:`_group_key`), the settings that tell it from the
    other groups of the same algorithm and env (none when it is the only one)."""
    cfgs = {}
    for k in keys:
        try:
            cfgs[k] = json.loads(k)
        except ValueError:
            return {}
    out: dict[str, list[str]] = {}
    for k, c in cfgs.items():
        if not isinstance(c, dict):
            return {}
        peers = [p for p in cfgs.values() if (p.get("algo"), p.get("env")) == (c.get("algo"), c.get("env"))]
        if len(peers) > 1:
            names = sorted(set().union(*peers))
            out[k] = [n for n in names if len({json.dumps(p.get(n)) for p in peers}) > 1]
    return out


def expand_run_dirs(paths: list[str]) -> list[str]:
    """Each path that is a run dir (it has ``episodes.csv``), or else the run dirs inside it, up to two levels down
    (a sweep's folder, a study's ``trials/``), in name order; other paths as given (for the checks to name)."""
    out: list[str] = []
    for p in paths:
        if not isinstance(p, str) or not os.path.isdir(p) or os.path.isfile(os.path.join(p, "episodes.csv")):
            out.append(p)
            continue
        found = sorted(
            os.path.dirname(c)
            for pattern in ("*/episodes.csv", "*/*/episodes.csv")
            for c in glob.glob(os.path.join(glob.escape(p), pattern))
        )
        out.extend(found or [p])
    return out


def _config(run_dir: str) -> dict:
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            cfg = json.load(f)
        return cfg if isinstance(cfg, dict) else {}
    except (OSError, ValueError):
        return {}


def check_group_fields(group_by: Sequence[str]) -> None:
    """``--group`` names config fields (flat setting names such as ``algo``, ``env``, ``lr``)."""
    from asyncrl.config import FLAT_FIELDS

    for name in group_by:
        if name not in FLAT_FIELDS:
            raise UsageError(
                f"--group {name!r} is not a setting (allowed: flat setting names from config.json, "
                f"e.g. algo, env, lr, n_steps)"
            )


def group_runs(run_dirs: list[str], group_by: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The curves of a plot: ``{label: run dirs}``. Without ``group_by``, runs whose configs differ only in the
    seed share a curve, labelled ``algo env`` and the settings that tell it from its peers; with it, runs with the
    same values of those fields, labelled ``field=value, ...``."""
    keyed: dict[str, list[str]] = {}
    for d in run_dirs:
        key = json.dumps({k: _config(d).get(k) for k in group_by}, sort_keys=True) if group_by else _group_key(d)
        keyed.setdefault(key, []).append(d)
    differing = {} if group_by else _differing_keys(list(keyed))
    out: dict[str, list[str]] = {}
    for key, dirs in keyed.items():
        if group_by:
            values = json.loads(key)
            label = ", ".join(f"{k}={values[k]}" for k in group_by) + (f" ({len(dirs)} runs)" if len(dirs) > 1 else "")
        else:
            label = _label(dirs, differing.get(key, []))
        if label in out:  # (groups the labels cannot tell apart, e.g. runs without a config.json: never merged)
            label = f"{label} [{os.path.basename(os.path.normpath(dirs[0]))}]"
        out[label] = dirs
    return out


def _draw_group(ax, data: list[dict[str, np.ndarray]], xkey: str, color: str, label: str, window: int) -> None:
    """One group's curve against ``xkey``: one run's raw returns and rolling mean, or several runs' mean and std
    band (up to the shortest run) over each run in full as a thin line."""
    if not data:
        return
    if len(data) == 1:
        e = data[0]
        ax.plot(e[xkey], e["episode_return"], color=color, alpha=0.2, lw=0.5)
        ax.plot(e[xkey], rolling_mean(e["episode_return"], window), color=color, label=label)
        return
    for e in data:
        ax.plot(e[xkey], rolling_mean(e["episode_return"], window), color=color, alpha=0.35, lw=0.8)
    grid = np.linspace(max(e[xkey][0] for e in data), min(e[xkey][-1] for e in data), 200)
    ys = np.stack([np.interp(grid, e[xkey], rolling_mean(e["episode_return"], window)) for e in data])
    m, s = ys.mean(0), ys.std(0)
    ax.plot(grid, m, color=color, label=label)
    ax.fill_between(grid, m - s, m + s, color=color, alpha=0.25)


def plot_runs(
    run_dirs: list[str], out: str, title: str | None = None, window: int = 100, group_by: Sequence[str] | None = None
) -> str:
    """Draw the curves of ``run_dirs`` into the PNG ``out``; returns ``out``.

    Runs with the same settings but the seed form a group (with ``group_by``, runs with the same values of those
    config fields, e.g. ``["algo", "env"]``): the mean and std of their 100-episode means (up to the shortest
    run), and each run in full as a thin line of the same colour. With ``group_by``, groups on different envs get a
    row of panels each. A folder of run dirs (a sweep's) stands for the run dirs in it. The paths are checked before
    any log is read: ``out`` needs an extension of :func:`output_extensions` (its missing folders are created).
    """
    check_output_file(out, "-o", output_extensions(), protect_runs=False)  # train writes its run's curve.png
    if group_by:
        check_group_fields(group_by)
    run_dirs = expand_run_dirs(run_dirs)
    check_plot_run_dirs(run_dirs)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = group_runs(run_dirs, group_by)
    envs = list(dict.fromkeys(_config(dirs[0]).get("env") for dirs in groups.values()))
    rows = len(envs) if group_by and len(envs) > 1 else 1
    fig, grid_axes = plt.subplots(rows, 2, figsize=(12, 4.5 * rows), squeeze=False)
    for i, (label, dirs) in enumerate(groups.items()):
        color = f"C{i % 10}"
        axes = grid_axes[envs.index(_config(dirs[0]).get("env")) if rows > 1 else 0]
        data = [read_episodes(d) for d in dirs]
        for ax, xkey in zip(axes, ("env_steps", "wall_time_s")):
            _draw_group(ax, [e for e in data if len(e["episode_return"])], xkey, color, label, window)
    if rows > 1:
        for row, env in zip(grid_axes, envs):
            for ax in row:
                ax.set_title(str(env), fontsize=10)
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(loc="lower right", fontsize=8)
    axes = grid_axes.reshape(-1)
    for ax, xlabel in zip(axes, ("env steps", "wall time (s)") * rows):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"episode return (mean of last {window})")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if rows == 1 and len(handles) <= 2:  # (several rows: a legend in each, drawn above)
        for ax in axes:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if rows == 1 and len(handles) > 2:  # many curves: one legend under both panels, clear of the data
        rows = (len(handles) + 1) // 2
        fig.set_size_inches(12, 4.5 + 0.25 * rows)
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.06 * rows / (1 + 0.06 * rows), 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
