"""Time-to-solve benchmark: asyncrl against Stable-Baselines3, in one invocation.

Protocol. Time to solve is the wall-clock seconds of the whole training command, from
its start until the mean return of the last 100 finished training episodes (full
window of 100, all workers/envs together) first reaches the env threshold
(CartPole-v1: 475, Pendulum-v1: -200; the others in THRESHOLDS), plus the env steps at that point. Each run is a
subprocess timed from outside (start to exit, so the trainer must stop once solved);
the in-process solve time is kept in the raw JSON as `inrun_seconds`. Seeds are
interleaved (seed 0 of every spec, then seed 1, ...) so drifts in machine load hit all
peers alike. The table gives medians over seeds; an unsolved run counts as +inf, so a
median is finite only when more than half the seeds solved. Ratios are median seconds
over the median of the first sb3 spec given.

Run specs:
  asyncrl:ALGO  ->  .venv/bin/asyncrl train --algo ALGO --env ENV --seed S
                    --target-return THRESH --total-steps BUDGET --max-seconds T
                    --run-dir TMP/...   then RUN_DIR/episodes.csv is read
                    (wall_time_s,env_steps,episode_return,episode_length,worker,...)
  asyncrl:ALGO:FLAGS  the same with more flags (asyncrl:impala:--runtime ray)
  sb3:ALGO      ->  .venv-bench/bin/python benchmarks/sb3_peer.py ... (RL Zoo
                    hyperparameters; one JSON line), needs `make bench-env`

Example (from the repo root, niced on a shared machine):
  nice -n 10 python3 benchmarks/time_to_solve.py --env CartPole-v1 \\
      --runs asyncrl:a3c asyncrl:a2c sb3:ppo sb3:a2c --seeds 5 --json runs/tts.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import date
from pathlib import Path
from typing import Any

# The bars of the tasks users try first: the env's own solved bar where it has one (CartPole 475, LunarLander 200,
# BipedalWalker 300 is the env's, 250 is ours), else one just under RL Zoo's published PPO score.
THRESHOLDS = {
    "CartPole-v1": 475.0,
    "Pendulum-v1": -200.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -110.0,
    "MountainCarContinuous-v0": 88.0,
    "LunarLander-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "BipedalWalker-v3": 250.0,
}
WINDOW = 100
ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "benchmarks" / "sb3_peer.py"


def run_timed(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[float, int, str, str]:
    """Run cmd in its own process group; return (wall seconds, rc, stdout, stderr)."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env
        )
    except OSError as e:  # e.g. the trainer binary is missing
        return time.perf_counter() - start, 127, "", str(e)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created: trainer and its workers
        out, err = proc.communicate()
        err += f"\n[harness] killed after {timeout:.0f} s"
    return time.perf_counter() - start, proc.returncode, out, err


def first_solve(csv_path: Path, threshold: float) -> dict[str, Any]:
    """Scan episodes.csv in finishing order for the first full 100-episode mean >= threshold."""
    with csv_path.open(newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: float(r["wall_time_s"]))
    window: deque[float] = deque(maxlen=WINDOW)
    for row in rows:
        window.append(float(row["episode_return"]))
        if len(window) == WINDOW and sum(window) / WINDOW >= threshold:
            return {
                "solved": True,
                "env_steps": int(row["env_steps"]),
                "inrun_seconds": float(row["wall_time_s"]),
                "final_mean100": sum(window) / WINDOW,
            }
    if not rows:
        return {"solved": False}
    return {
        "solved": False,
        "env_steps": int(rows[-1]["env_steps"]),
        "inrun_seconds": float(rows[-1]["wall_time_s"]),
        "final_mean100": sum(window) / len(window),
    }


def run_one(spec: str, seed: int, a: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    kind, algo = spec.split(":", 1)
    common = ["--seed", str(seed), "--max-seconds", str(a.max_seconds)]
    timeout = a.max_seconds + a.grace_seconds
    rec: dict[str, Any] = {
        "spec": spec,
        "seed": seed,
        "solved": False,
        "env_steps": None,
        "inrun_seconds": None,
        "final_mean100": None,
    }
    if kind.startswith("asyncrl"):  # asyncrl@SRC: the code of another checkout (its src/ folder)
        src = kind.partition("@")[2]
        algo, _, extra = algo.partition(":")  # asyncrl:ALGO:FLAGS, e.g. asyncrl:impala:--runtime ray
        tag = "-" + str(abs(hash((src, extra)))) if src or extra else ""
        run_dir = tmp / f"{a.env}-{algo}-seed{seed}{tag}"  # (--keep-runs may gather several envs)
        cmd = [
            a.asyncrl_bin,
            "train",
            "--algo",
            algo,
            "--env",
            a.env,
            *common,
            "--target-return",
            str(a.threshold),
            "--total-steps",
            str(a.budget_steps),
            "--run-dir",
            str(run_dir),
            *shlex.split(a.asyncrl_args),
            *shlex.split(extra),
        ]
        wall, rc, out, err = run_timed(cmd, timeout, {**os.environ, "PYTHONPATH": src} if src else None)
        episodes = run_dir / "episodes.csv"
        if episodes.exists() and rc != 2:  # (exit 2: refused before training, e.g. a run dir already used)
            rec.update(first_solve(episodes, a.threshold))
    else:
        cmd = [
            a.sb3_python,
            str(PEER),
            "--algo",
            algo,
            "--env",
            a.env,
            *common,
            "--budget-steps",
            str(a.budget_steps),
            "--threshold",
            str(a.threshold),
            *shlex.split(a.sb3_args),
        ]
        wall, rc, out, err = run_timed(cmd, timeout)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if lines:
            peer = json.loads(lines[-1])
            rec.update(
                {k: peer[k] for k in ("solved", "env_steps", "final_mean100")},
                inrun_seconds=peer["seconds"],
                torch_threads=peer.get("torch_threads"),
            )
    rec.update(seconds=round(wall, 3), returncode=rc, command=shlex.join(cmd))
    if rc != 0:
        rec["stderr_tail"] = err[-2000:]
        print(f"[harness] {spec} seed {seed} exited {rc}:\n{err[-2000:]}", file=sys.stderr)
    return rec


def median_inf(values: list[float]) -> float:
    return statistics.median(values) if values else math.inf


def fmt(x: float, digits: int = 1) -> str:
    return "unsolved" if math.isinf(x) else f"{x:,.{digits}f}"


def table(results: list[dict[str, Any]], specs: list[str], n: int) -> str:
    ref = next((s for s in specs if s.startswith("sb3:")), None)
    med: dict[str, float] = {}
    for s in specs:
        med[s] = median_inf([r["seconds"] if r["solved"] else math.inf for r in results if r["spec"] == s])
    lines = [
        f"| spec | solved | median s | median env steps | min s | max s | ratio vs {ref or '-'} |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in specs:
        runs = [r for r in results if r["spec"] == s]
        solved = [r for r in runs if r["solved"]]
        steps = median_inf([r["env_steps"] if r["solved"] else math.inf for r in runs])
        secs = [r["seconds"] for r in solved]
        lo, hi = (fmt(min(secs)), fmt(max(secs))) if secs else ("-", "-")
        ratio = med[s] / med[ref] if ref and not math.isinf(med[ref]) else math.nan
        ratio_s = "-" if math.isnan(ratio) else ("unsolved" if math.isinf(ratio) else f"{ratio:.2f}x")
        lines.append(f"| {s} | {len(solved)}/{n} | {fmt(med[s])} | {fmt(steps, 0)} | {lo} | {hi} | {ratio_s} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=sorted(THRESHOLDS), default="CartPole-v1")
    p.add_argument(
        "--runs",
        nargs="+",
        required=True,
        metavar="SPEC",
        help="asyncrl:ALGO, sb3:ALGO, or asyncrl@SRC:ALGO (the code of another checkout's src/, for a "
        "before/after comparison)",
    )
    p.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1 (default 5)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--budget-steps", type=int, default=500_000, help="env-step cap per run (default 500k)")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="wall-clock cap per run (default 1800)")
    p.add_argument("--grace-seconds", type=float, default=120.0, help="extra time before the harness kills a run")
    p.add_argument("--asyncrl-bin", default=str(ROOT / ".venv" / "bin" / "asyncrl"))
    p.add_argument("--asyncrl-args", default="", help='extra args for asyncrl train, e.g. "--workers 2"')
    p.add_argument("--sb3-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    p.add_argument("--sb3-args", default="", help='extra args for sb3_peer.py, e.g. "--torch-threads 2"')
    p.add_argument("--keep-runs", type=Path, help="keep asyncrl run dirs here (default: a temp dir, deleted)")
    p.add_argument("--json", type=Path, help="write raw per-run results here")
    argv = sys.argv[1:]
    for i, tok in enumerate(argv[:-1]):  # let "--asyncrl-args '--lr 1e-3'" through argparse
        if tok in ("--asyncrl-args", "--sb3-args"):
            argv[i : i + 2] = [f"{tok}={argv[i + 1]}", ""]
    a = p.parse_args([t for t in argv if t])
    for s in a.runs:
        kind = s.split(":", 1)[0]
        if (kind not in ("asyncrl", "sb3") and not kind.startswith("asyncrl@")) or ":" not in s:
            p.error(f"bad run spec {s!r}: use asyncrl:ALGO, sb3:ALGO or asyncrl@SRC:ALGO")
    a.threshold = THRESHOLDS[a.env]
    seeds = range(a.seed_start, a.seed_start + a.seeds)

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tts-") as tmpdir:
        tmp = a.keep_runs or Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        for seed in seeds:  # interleaved: every spec at seed 0, then seed 1, ...
            for spec in a.runs:
                rec = run_one(spec, seed, a, tmp)
                results.append(rec)
                print(
                    f"[harness] {spec} seed {seed}: solved={rec['solved']} {rec['seconds']:.1f} s "
                    f"{rec['env_steps']} steps",
                    file=sys.stderr,
                    flush=True,
                )

    cpu = (
        next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else "?"
    )
    header = (
        f"time to solve: {a.env} (threshold {a.threshold:g}, mean of last {WINDOW} episodes), "
        f"{a.seeds} seeds, budget {a.budget_steps:,} steps / {a.max_seconds:g} s per run\n"
        f"{date.today().isoformat()}, {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}"
    )
    print(header + "\n\n" + table(results, a.runs, a.seeds))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(
            json.dumps({"env": a.env, "threshold": a.threshold, "header": header, "runs": results}, indent=2)
        )


if __name__ == "__main__":
    main()
