"""FeUdal Networks against A3C-LSTM on a MiniGrid task at equal env steps, several seeds each.

Protocol. Every spec trains with the same env-step budget and seeds 0..N-1 (seeds interleaved so
drifts in machine load hit every spec alike), each through the CLI. A run counts as solved when the
mean return of its last 100 training episodes (full window) reaches ``--threshold``; the table gives
the solved fraction, the median env steps to solve (over solved seeds), the mean env steps to solve with a
95% bootstrap confidence interval over seeds (an unsolved seed counts the whole budget), the area under the
learning curve (the 100-episode mean at 20 evenly spaced points of the budget, averaged; sample efficiency as
one number) and the final 100-episode mean, each with its 95% bootstrap interval, and, for FeUdal, the goal
statistics of the last quarter of training (from ``metrics.csv``). Learning curves (mean ± std over seeds)
go to ``OUT/curves.png`` via ``asyncrl plot``.

Example (from the repo root):
  .venv/bin/python benchmarks/feudal_minigrid.py --env MiniGrid-DoorKey-5x5-v0 --steps 300000 --seeds 5 \\
      --runs "feudal=--algo feudal" \\
             "a3c-lstm=--algo a3c --lstm --lstm-size 256 --num-envs 16 --n-steps 40 --max-grad-norm 40" \\
      --out runs/feudal-doorkey5
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

ASYNCRL = [sys.executable, "-c", "import sys; from asyncrl.cli import main; sys.exit(main())"]
GOAL_STATS = ("feudal/goal_diversity", "feudal/goal_cos", "feudal/intrinsic_reward")


def _rows(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def bootstrap_ci(values: list[float], n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of the mean of ``values`` (resampled with replacement)."""
    rng = np.random.default_rng(seed)
    a = np.asarray(values, dtype=float)
    means = a[rng.integers(0, len(a), (n, len(a)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def curve_area(steps: list[int], returns: list[float], budget: int, points: int = 20) -> float:
    """The mean over ``points`` evenly spaced env steps of the budget of the mean return of the (up to) 100
    episodes that ended by then (0 before the first)."""
    total = 0.0
    for k in range(1, points + 1):
        at = budget * k / points
        done = [r for s, r in zip(steps, returns) if s <= at][-100:]
        total += sum(done) / len(done) if done else 0.0
    return total / points


def _ci(values: list[float], fmt: str) -> str:
    lo, hi = bootstrap_ci(values)
    return f"{format(statistics.mean(values), fmt)} [{format(lo, fmt)}, {format(hi, fmt)}]"


def summarize_run(run_dir: str, threshold: float, budget: int) -> dict:
    """Steps to solve (or None), final 100-episode mean, steps/s, late goal statistics of one run."""
    eps = _rows(os.path.join(run_dir, "episodes.csv"))
    returns = [float(r["episode_return"]) for r in eps]
    solved_at = None
    for i in range(99, len(returns)):
        if sum(returns[i - 99 : i + 1]) / 100 >= threshold:
            solved_at = int(eps[i]["env_steps"])
            break
    last = returns[-100:]
    metrics = _rows(os.path.join(run_dir, "metrics.csv"))
    late = metrics[len(metrics) * 3 // 4 :]
    out = {
        "solved_at": solved_at,
        "auc": curve_area([int(r["env_steps"]) for r in eps], returns, budget),
        "final": sum(last) / max(1, len(last)),
        "episodes": len(returns),
        "steps_per_s": statistics.median(float(r["steps_per_s"]) for r in metrics if r["steps_per_s"]),
    }
    for k in GOAL_STATS:
        vals = [float(r[k]) for r in late if r.get(k)]
        out[k] = statistics.mean(vals) if vals else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="MiniGrid-DoorKey-5x5-v0")
    ap.add_argument("--steps", type=int, default=300_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8, help="solved: 100-episode mean return >= this")
    ap.add_argument("--runs", nargs="+", required=True, help='NAME="asyncrl train flags"')
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    specs = [r.split("=", 1) for r in args.runs]
    os.makedirs(args.out, exist_ok=True)
    results: dict[str, list[dict]] = {name: [] for name, _ in specs}
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.env}, {args.steps:,} env steps per run, {args.workers} workers",
        flush=True,
    )
    for seed in range(args.seeds):
        for name, flags in specs:
            run_dir = os.path.join(args.out, f"{name}-s{seed}")
            if not os.path.exists(os.path.join(run_dir, "checkpoints", "latest.pt")):
                cmd = [
                    *ASYNCRL,
                    "train",
                    "--env",
                    args.env,
                    "--seed",
                    str(seed),
                    "--total-steps",
                    str(args.steps),
                    "--workers",
                    str(args.workers),
                    "--eval-every",
                    "0",
                    "--run-dir",
                    run_dir,
                    "--no-progress",
                    "--no-tensorboard",
                    *shlex.split(flags),
                ]
                if "--runtime sync" in flags:
                    cmd.remove("--workers")
                    cmd.remove(str(args.workers))
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            r = summarize_run(run_dir, args.threshold, args.steps)
            results[name].append(r)
            print(
                f"{name} seed {seed}: solved at {r['solved_at']}, final {r['final']:.3f}, "
                f"{r['steps_per_s']:.0f} steps/s",
                flush=True,
            )
    print(
        f"\n| run | solved (mean100 >= {args.threshold}) | median steps to solve | steps to solve, mean [95% CI] "
        f"(unsolved: the budget) | area under the curve [95% CI] | final mean100 [95% CI] | steps/s | "
        f"goal diversity | goal cos | intrinsic reward |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rs in results.items():
        solved = [r["solved_at"] for r in rs if r["solved_at"] is not None]
        med = f"{statistics.median(solved):,.0f}" if solved else "-"
        to_solve = [float(r["solved_at"] if r["solved_at"] is not None else args.steps) for r in rs]
        goal = [statistics.mean(r[k] for r in rs) if rs[0][k] is not None else None for k in GOAL_STATS]
        goal_s = " | ".join("-" if g is None else f"{g:.4f}" for g in goal)
        print(
            f"| {name} | {len(solved)}/{len(rs)} | {med} | {_ci(to_solve, ',.0f')} | "
            f"{_ci([r['auc'] for r in rs], '.3f')} | {_ci([r['final'] for r in rs], '.3f')} | "
            f"{statistics.median(r['steps_per_s'] for r in rs):,.0f} | {goal_s} |"
        )
    dirs = [os.path.join(args.out, f"{name}-s{s}") for name, _ in specs for s in range(args.seeds)]
    subprocess.run(
        [
            *ASYNCRL,
            "plot",
            *dirs,
            "-o",
            os.path.join(args.out, "curves.png"),
            "--title",
            f"{args.env}, {args.seeds} seeds, mean ± std",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"\ncurves: {os.path.join(args.out, 'curves.png')}")


if __name__ == "__main__":
    main()
