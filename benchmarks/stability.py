"""Do the defaults hold? Reach the target within the default budget, then stay there.

Protocol (issue 11). For each algorithm's default on an env and each seed, one run of
``asyncrl train --algo ALGO --env ENV --seed S --total-steps BUDGET+HOLD`` with no target (so it keeps
training after it solves). From its ``episodes.csv`` (finishing order):

- **solved**: the mean of the last 100 training episodes first reaches the threshold (CartPole-v1 475,
  Pendulum-v1 -200, the other tasks at ``time_to_solve.THRESHOLDS``) at or
  before the algorithm's default ``total_steps`` for that env;
- **held**: over the next HOLD env steps (Pendulum 2M, the others 1M) the 100-episode mean never falls
  below the holding bar, 90% of the threshold (for a negative threshold: the threshold minus 10% of its
  size, -220 for Pendulum);
- **lowest**: the lowest 100-episode mean in that window.

``--criterion eval`` (Pendulum's restated criterion) reads the periodic deterministic evaluations instead
(``--eval-every`` 50k env steps, 10 episodes each; SB3 PPO gets the same through ``sb3_peer.py --eval-every``):
solved when an evaluation first reaches the threshold within the budget, held when every evaluation of the next
HOLD env steps (default 1M) stays at or above the holding bar (-220) and the run covers that window
(``asyncrl.plot.hold_after_solve``, the rule of the training means too).

The run's budget is BUDGET+HOLD, so a linear learning-rate schedule decays more slowly than in a default
run: a harder test of stability than the default itself. Runs are interleaved by seed. Run it with the
project's venv: ``.venv/bin/python benchmarks/stability.py --env CartPole-v1 --seeds 5``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from time_to_solve import THRESHOLDS  # (the bars of every task the harnesses run)

from asyncrl.config import TrainConfig, resolve
from asyncrl.envs.base import family_of
from asyncrl.envs.make import env_spaces
from asyncrl.plot import hold_after_solve, holding_bar, read_episodes, read_evaluations, solve_and_hold

HOLD = {"CartPole-v1": 1_000_000, "Pendulum-v1": 2_000_000}  # (1M for the others)
EVAL_HOLD = 1_000_000  # --criterion eval
EVAL_EVERY, EVAL_EPISODES = 50_000, 10
ROOT = Path(__file__).resolve().parent.parent


def default_budget(algo: str, env: str) -> int:
    """``total_steps`` of the row ``asyncrl train --algo ALGO --env ENV`` resolves (the env's, else its family's)."""
    key = family_of(env).defaults_key(env, env_spaces(env)[1])
    return int(resolve(TrainConfig(algo=algo, env=env, run_dir="unused"), key).run.total_steps)


def judge(a: argparse.Namespace, run_dir: Path, thr: float, budget: int, hold: int) -> dict:
    """The protocol's verdict on one finished run dir (training means, or evaluations with --criterion eval)."""
    if a.criterion == "train":
        return solve_and_hold(str(run_dir), thr, budget, hold)
    try:
        steps, means = read_evaluations(str(run_dir))
        end = int(read_episodes(str(run_dir))["env_steps"].max())
    except Exception as e:  # a run that died before writing them
        print(f"[stability] {run_dir.name}: {e}", file=sys.stderr)
        return {"solved": False, "solve_steps": None, "lowest_after": None, "held": False, "points_after": 0}
    res = hold_after_solve(steps, means, thr, budget, hold, end)
    del res["solve_index"]
    return {**res, "solve_seconds": None, "evals": len(steps)}


def peer_run(a: argparse.Namespace, seed: int, thr: float, hold: int, run_dir: Path) -> dict:
    """SB3 PPO (RL Zoo settings) through the same protocol: its budget is the zoo's ``n_timesteps``."""
    from sb3_peer import ZOO

    zoo_steps = ZOO["ppo", a.env]["n_timesteps"]
    budget = 2 * zoo_steps if a.criterion == "eval" else zoo_steps  # (eval: room to reach it; the zoo's schedule)
    cmd = [
        str(ROOT / ".venv-bench" / "bin" / "python"),
        str(ROOT / "benchmarks" / "sb3_peer.py"),
        "--algo",
        "ppo",
        "--env",
        a.env,
        "--seed",
        str(seed),
        "--budget-steps",
        str(budget + hold),
        "--schedule-steps",
        str(zoo_steps),
        "--max-seconds",
        str(a.max_seconds),
        "--run-dir",
        str(run_dir),
        *(["--eval-every", str(EVAL_EVERY), "--eval-episodes", str(EVAL_EPISODES)] if a.criterion == "eval" else []),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    rec = {
        "algo": "sb3:ppo",
        "seed": seed,
        "budget": budget,
        "seconds": time.perf_counter() - t0,
        "returncode": proc.returncode,
        "command": " ".join(cmd[1:]),
    }
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
    rec.update(judge(a, run_dir, thr, budget, hold))
    print(
        f"[stability] sb3:ppo seed {seed}: solved={rec['solved']} at {rec['solve_steps']} lowest after "
        f"{rec['lowest_after']} held={rec['held']} [{rec['seconds']:.0f} s]",
        file=sys.stderr,
        flush=True,
    )
    return rec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=sorted(THRESHOLDS), default="CartPole-v1")
    p.add_argument("--algos", nargs="+", default=["a3c", "a2c", "impala", "appo", "a3c-ps"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--extra", default="", help="extra flags for every asyncrl train (e.g. for an ablation)")
    p.add_argument("--max-seconds", type=float, default=900.0)
    p.add_argument("--hold", type=int, help="env steps of the hold window (default: 2M Pendulum, 1M the others)")
    p.add_argument(
        "--peer",
        action="store_true",
        help="also run Stable-Baselines3 PPO with RL Zoo's settings (make bench-env) past its budget "
        "(the zoo's n_timesteps), through the same protocol",
    )
    p.add_argument(
        "--criterion",
        choices=["train", "eval"],
        default="train",
        help="train: the 100-episode training mean; eval: periodic deterministic evaluations (see above)",
    )
    p.add_argument("--keep-runs", type=Path, help="keep the run dirs here (default: a temp dir, deleted)")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    thr = THRESHOLDS[a.env]
    hold = a.hold or (EVAL_HOLD if a.criterion == "eval" else HOLD.get(a.env, 1_000_000))
    results = []
    with tempfile.TemporaryDirectory(prefix="stability-") as scratch:
        tmp = str(a.keep_runs or scratch)
        for seed in range(a.seed_start, a.seed_start + a.seeds):
            for algo in a.algos:
                budget = default_budget(algo, a.env)
                run_dir = Path(tmp) / f"{algo}-s{seed}"
                cmd = [
                    str(ROOT / ".venv" / "bin" / "asyncrl"),
                    "train",
                    "--algo",
                    algo,
                    "--env",
                    a.env,
                    "--seed",
                    str(seed),
                    "--total-steps",
                    str(budget + hold),
                    "--eval-every",
                    str(EVAL_EVERY if a.criterion == "eval" else 0),
                    "--eval-episodes",
                    str(EVAL_EPISODES),
                    "--max-seconds",
                    str(a.max_seconds),
                    "--no-tensorboard",
                    "--no-progress",
                    "--run-dir",
                    str(run_dir),
                    *a.extra.split(),
                ]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                rec = {
                    "algo": algo,
                    "seed": seed,
                    "budget": budget,
                    "seconds": time.perf_counter() - t0,
                    "returncode": proc.returncode,
                    "command": " ".join(cmd[1:]),
                }
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                rec.update(judge(a, run_dir, thr, budget, hold))
                results.append(rec)
                print(
                    f"[stability] {algo} seed {seed}: solved={rec['solved']} at {rec['solve_steps']} "
                    f"({rec['solve_seconds']}) lowest after {rec['lowest_after']} held={rec['held']} "
                    f"[{rec['seconds']:.0f} s]",
                    file=sys.stderr,
                    flush=True,
                )
            if a.peer:
                results.append(peer_run(a, seed, thr, hold, Path(tmp) / f"sb3-ppo-s{seed}"))
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"stability: {a.env}, threshold {thr:g}, hold {hold:,} steps at >= {holding_bar(thr):g}, criterion "
        f"{'training mean of 100 episodes' if a.criterion == 'train' else 'deterministic evaluations'}, "
        f"{a.seeds} seeds {a.extra}\n{date.today().isoformat()}, {os.cpu_count()} CPU cores ({cpu})\n"
    )
    print(
        "| algo | default budget | solved in budget | median steps to solve | held | lowest mean after "
        "(median / worst) |"
    )
    print("|---|---|---|---|---|---|")
    for algo in [*a.algos, *(["sb3:ppo"] if a.peer else [])]:
        rs = [r for r in results if r["algo"] == algo]
        solved = [r for r in rs if r["solved"]]
        steps = statistics.median([r["solve_steps"] for r in solved]) if solved else None
        lows = [r["lowest_after"] for r in rs if r["lowest_after"] is not None]
        low_s = f"{statistics.median(lows):.0f} / {min(lows):.0f}" if lows else "-"
        print(
            f"| {algo} | {rs[0]['budget']:,} | {len(solved)}/{len(rs)} | "
            f"{'-' if steps is None else f'{steps:,.0f}'} | {sum(r['held'] for r in rs)}/{len(rs)} | {low_s} |"
        )
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
