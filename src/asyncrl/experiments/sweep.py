"""``asyncrl sweep``: the cross product of algorithms x envs x settings x seeds, as run dirs under one folder.

Each point of the grid is an ordinary ``asyncrl train`` run in ``OUT/<algo>-<env>[-<name>=<value>...]-s<seed>``,
started as a child process on its share of the cores (:mod:`asyncrl.experiments.jobs`), ``--jobs`` at a time.
Running the same sweep again skips the runs that finished (their ``result.json``), resumes those that stopped
early from their checkpoint (interrupted, or crashed after a checkpoint: ``--resume``) and restarts those that
died before their first checkpoint; a folder whose runs were trained with other settings is refused.
At the end ``OUT/summary.md`` and ``OUT/summary.csv`` give, per group (the grid point without the seed), the
mean ± std over seeds of the final evaluation (over the runs that had one, and how many did), of the training mean
of the last 100 episodes (a separate column: never mixed with the evaluations) and of the time (env steps and
seconds) to reach the target.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from asyncrl import limits as L
from asyncrl.checkpoint import write_atomic
from asyncrl.config import FLAT_FIELDS, TrainConfig, check_applicable, env_options, resolve, validate
from asyncrl.core.settings import field_kind
from asyncrl.envs.base import family_of
from asyncrl.envs.make import env_spaces
from asyncrl.errors import UsageError
from asyncrl.experiments.jobs import TerminateAsInterrupt, TrainJob, core_slots, stop_all, train_flags
from asyncrl.plot import solve_and_hold
from asyncrl.train import TrainResult

SWEEP_FILE = "sweep.json"


def parse_set(items: list[str]) -> dict[str, list[Any]]:
    """``--set NAME=V1,V2`` items as ``{flat name: [values]}`` (one value: every run gets it; several: a grid
    axis), each value converted to the setting's type (``true``/``false`` for switches)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not sep or not text.strip():
            raise UsageError(f"--set {item!r} must be NAME=VALUE or NAME=V1,V2,... (e.g. lr=1e-3,3e-3)")
        if name in ("algo", "env", "seed", "run_dir"):
            raise UsageError(f"--set {name}: use the sweep's own --{name.replace('_', '-')} instead")
        if name not in FLAT_FIELDS:
            raise UsageError(
                f"--set {name!r} is not a setting (allowed: the flat names of 'asyncrl train --help', flags without --)"
            )
        kind = field_kind(FLAT_FIELDS[name][0])
        if kind not in ("bool", "int", "float", "str"):
            raise UsageError(f"--set {name}: {kind} settings cannot be swept (give one value in a --config file)")
        values: list[Any] = []
        for raw in text.split(","):
            raw = raw.strip()
            try:
                if kind == "bool":
                    if raw.lower() not in ("true", "false"):
                        raise ValueError
                    values.append(raw.lower() == "true")
                elif kind == "int":
                    values.append(int(raw))
                elif kind == "float":
                    values.append(float(raw))
                else:
                    values.append(raw)
            except ValueError:
                allowed = "true or false" if kind == "bool" else f"a {kind}"
                raise UsageError(f"--set {name}={raw!r}: not {allowed}") from None
        out[name] = list(dict.fromkeys(values))
    return out


@dataclass(frozen=True)
class SweepRun:
    """One point of the grid: its run dir's name, its settings (flat names) and the group it belongs to."""

    name: str
    settings: dict[str, Any]
    group: tuple[tuple[str, Any], ...]


def _slug(value: Any) -> str:
    return str(value).replace("/", "_").replace(":", "_").replace(" ", "")


def grid(
    algos: list[str],
    envs: list[str],
    axes: dict[str, list[Any]],
    seeds: list[int],
    base: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> list[SweepRun]:
    """Every run of the sweep, seeds innermost (so ``--jobs`` runs of one group start together). ``base``: the
    settings of each ``(algo, env)`` from ``--config`` (those that apply to it), under the swept ``axes``."""
    swept = [k for k, v in axes.items() if len(v) > 1]
    runs = []
    for algo, env, *values in itertools.product(algos, envs, *axes.values()):
        point = dict(zip(axes, values))
        group = (("algo", algo), ("env", env), *((k, point[k]) for k in swept))
        name = "-".join([algo, _slug(env), *(f"{k}={_slug(point[k])}" for k in swept)])
        settings = {"algo": algo, "env": env, **(base or {}).get((algo, env), {}), **point}
        for seed in seeds:
            runs.append(SweepRun(f"{name}-s{seed}", {**settings, "seed": seed}, group))
    return runs


def preflight(runs: list[SweepRun]) -> None:
    """Check every grid point's settings as ``asyncrl train`` would, before any run starts (one line naming the
    first bad point)."""
    spaces: dict[str, Any] = {}
    seen = set()
    for run in runs:
        if run.group in seen:
            continue
        seen.add(run.group)
        cfg = TrainConfig(**{**run.settings, "run_dir": os.devnull})
        where = ", ".join(f"{k}={v}" for k, v in run.group)
        try:
            check_applicable(cfg)
            validate(cfg)
            if cfg.env not in spaces:
                spaces[cfg.env] = env_spaces(cfg.env, env_options(cfg))
            resolve(cfg, family_of(cfg.env).defaults_key(cfg.env, spaces[cfg.env][1]))
        except UsageError as e:
            raise UsageError(f"sweep point {where}: {e}") from None


def check_existing(out: str, runs: list[SweepRun]) -> None:
    """Refuse a sweep into a folder whose runs of the same names were trained with other settings (a re-run
    would skip or resume them, and the summary would mix the two sweeps)."""
    for run in runs:
        path = os.path.join(out, run.name, "config.json")
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            continue
        for name, value in run.settings.items():
            old = saved.get(name) if isinstance(saved, dict) else None
            same = old == value or (
                isinstance(old, (int, float))
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isclose(old, value, rel_tol=1e-9)
            )
            if not same:
                raise UsageError(
                    f"-o {out!r} already holds {run.name}, trained with {name}={old!r} (this sweep: "
                    f"{value!r}); use another -o, or the settings it was run with"
                )


def _state(run_dir: str) -> str:
    """``new``, ``done`` (it ended and was not interrupted), ``resume`` (a checkpoint to go on from) or
    ``restart`` (it died before its first checkpoint)."""
    if not os.path.exists(run_dir):
        return "new"
    result = TrainResult.read(run_dir)
    if result is not None and not result.interrupted:
        return "done"
    if os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt")):
        return "resume"
    return "restart"


def run_sweep(out: str, runs: list[SweepRun], jobs: int, poll_s: float = 0.5) -> dict[str, str]:
    """Run every run of ``runs`` that has not finished, ``jobs`` at a time; returns ``{name: outcome}``."""
    slots = core_slots(jobs)
    check_existing(out, runs)
    os.makedirs(out, exist_ok=True)
    _save_sweep_file(out, runs)
    outcomes: dict[str, str] = {}
    todo = []
    for run in runs:
        state = _state(os.path.join(out, run.name))
        if state == "done":
            outcomes[run.name] = "done before"
        else:
            todo.append((run, state))
    print(
        f"asyncrl sweep: {len(runs)} runs, {len(runs) - len(todo)} finished before, {len(todo)} to run "
        f"({jobs} at a time)",
        flush=True,
    )
    running: dict[int, tuple[SweepRun, TrainJob]] = {}
    try:
        with TerminateAsInterrupt():
            while todo or running:
                for slot in [i for i in range(len(slots)) if i not in running]:
                    if not todo:
                        break
                    run, state = todo.pop(0)
                    run_dir = os.path.join(out, run.name)
                    if state == "restart":
                        shutil.rmtree(run_dir)  # (no checkpoint: nothing to resume, only partial logs)
                    args = ["--resume", run_dir] if state == "resume" else train_flags(run.settings)
                    log = os.path.join(out, "logs", f"{run.name}.log")
                    group = os.path.basename(os.path.normpath(out))
                    running[slot] = (run, TrainJob.start(args, run_dir, log, slots[slot], group))
                for slot, (run, job) in list(running.items()):
                    if (outcome := _ended(run, job)) is not None:
                        del running[slot]
                        outcomes[run.name] = outcome
                time.sleep(poll_s)
    except KeyboardInterrupt:
        print(
            f"asyncrl sweep: interrupted; stopping {len(running)} run(s) cleanly (run the same command again to "
            f"resume them)",
            flush=True,
        )
        stop_all([job for _, job in running.values()])
        raise
    except BaseException:  # a failure of the sweep process itself: its runs must not go on alone
        stop_all([job for _, job in running.values()], timeout=30.0)
        raise
    return outcomes


def _ended(run: SweepRun, job: TrainJob) -> str | None:
    """``finished`` or ``failed`` (with one line printed) once ``job`` has exited, else ``None``."""
    code = job.poll()
    if code is None:
        return None
    result = TrainResult.read(job.run_dir)
    if code != 0 or result is None:
        print(f"{run.name}: failed ({job.tail()[:200]}; log: {job.log_path})", flush=True)
        return "failed"
    final = (
        f"final eval {result.final_eval:.2f}"
        if math.isfinite(result.final_eval)
        else f"mean100 {result.mean_return_100:.2f}"
    )
    print(f"{run.name}: {result.stop_reason}, {final}, {job.seconds():.0f} s", flush=True)
    return "finished"


def _save_sweep_file(out: str, runs: list[SweepRun]) -> None:
    """``sweep.json``: every run's settings and group, merged with an earlier sweep's into the same folder."""
    path = os.path.join(out, SWEEP_FILE)
    known: dict[str, Any] = {}
    if os.path.isfile(path):
        try:
            with open(path) as f:
                known = json.load(f).get("runs", {})
        except (OSError, ValueError, AttributeError):
            known = {}
    for run in runs:
        known[run.name] = {"settings": run.settings, "group": [list(kv) for kv in run.group]}
    write_atomic(path, json.dumps({"runs": known}, indent=2))


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):,.1f} ± {np.std(values):,.1f}"


def summarize(out: str, runs: list[SweepRun], target: float | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Per group: the runs finished; the final evaluation's mean ± std over the runs that had one, and how many
    did; the training mean of the last 100 episodes, mean ± std over every finished run; and the env steps and
    seconds until that 100-episode mean first reached the target (``target``, else the runs' ``--target-return``,
    else the env's Gymnasium ``reward_threshold``) for the runs that reached it. Returns a Markdown table and its
    rows."""
    groups: dict[tuple, list[SweepRun]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    rows = []
    for group, members in groups.items():
        finals, mean100s, steps, seconds, done = [], [], [], [], 0
        goal = target if target is not None else members[0].settings.get("target_return")
        if goal is None:
            goal = _reward_threshold(dict(group)["env"])
        for run in members:
            run_dir = os.path.join(out, run.name)
            result = TrainResult.read(run_dir)
            if result is None or result.interrupted:
                continue
            done += 1
            if math.isfinite(result.final_eval):  # (never the training mean in its place: two different statistics)
                finals.append(result.final_eval)
            if math.isfinite(result.mean_return_100):
                mean100s.append(result.mean_return_100)
            if goal is not None:
                solved = solve_and_hold(run_dir, goal, L.MAX_STEPS, 0)
                if solved["solved"]:
                    steps.append(float(solved["solve_steps"]))
                    seconds.append(float(solved["solve_seconds"]))
        rows.append(
            {
                **dict(group),
                "runs": f"{done}/{len(members)}",
                "final_eval": _mean_std(finals),
                "evaluated": f"{len(finals)}/{done}",
                "train_mean100": _mean_std(mean100s),
                "target": "-" if goal is None else f"{goal:g}",
                "reached": f"{len(steps)}/{done}" if goal is not None else "-",
                "steps_to_target": _mean_std(steps),
                "seconds_to_target": _mean_std(seconds),
            }
        )
    keys = list(rows[0]) if rows else []
    table = ["| " + " | ".join(k.replace("_", " ") for k in keys) + " |", "|" + "---|" * len(keys)]
    table += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(table) + "\n", rows


def _reward_threshold(env: str) -> float | None:
    import gymnasium as gym

    try:
        threshold = gym.spec(env).reward_threshold
    except Exception:  # not a registered id (an entry point, another family's name)
        return None
    return float(threshold) if threshold is not None else None


SUMMARY_NOTE = (
    "runs: finished (not interrupted) of the group's seeds. final eval: the mean return of each run's final "
    "evaluation (deterministic episodes at the end of training), mean ± std over the runs that had one; evaluated: "
    "how many did (a run without one, e.g. with --eval-every 0, is left out of final eval, not filled in). "
    "train mean100: the mean return of each run's last 100 training episodes (exploring policy, as "
    "Stable-Baselines3's rollout/ep_rew_mean), mean ± std over the finished runs. steps/seconds to target: until the "
    "100-episode training mean first reached the target, over the runs that reached it."
)
"""What ``summary.md`` says its columns are."""


def write_summary(out: str, runs: list[SweepRun], target: float | None = None) -> str:
    """``summary.md`` and ``summary.csv`` in ``out``; returns the table."""
    table, rows = summarize(out, runs, target)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(SUMMARY_NOTE + "\n\n" + table)
    if rows:
        with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return table


__all__ = ["parse_set", "grid", "preflight", "run_sweep", "summarize", "write_summary", "SweepRun"]
