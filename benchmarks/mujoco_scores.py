"""MuJoCo scores and wall time at a step budget: asyncrl's algorithms against Stable-Baselines3 PPO (RL Zoo's
tuned hyperparameters), in one run on one machine.

Protocol: each run trains for ``--steps`` env steps with the algorithm's MuJoCo defaults (no periodic tests),
then its final checkpoint plays 10 deterministic evaluation episodes with the normalisation statistics frozen
(``asyncrl eval RUN --checkpoint latest --episodes 10``); the score is their mean. SB3 PPO runs in the peer venv
(``make bench-env``, ``benchmarks/sb3_mujoco.py``), evaluated the same way (VecNormalize frozen). Its wall time
may be measured over fewer steps (``--sb3-steps``) and is then reported per 1M steps: PPO's cost per env step is
constant (fixed epochs per rollout). Prints a table; ``--json`` keeps every result.

    .venv/bin/python benchmarks/mujoco_scores.py --envs HalfCheetah-v5 Hopper-v5 --runs appo a2c sb3:ppo --seeds 0 \
        --steps 1000000 --sb3-steps 100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SB3 = ROOT / "benchmarks" / "sb3_mujoco.py"


def run_asyncrl(algo: str, env: str, seed: int, steps: int, out: Path, extra: list[str]) -> dict:
    run = out / f"{algo}-{env}-s{seed}"
    cmd = [
        sys.executable,
        "-m",
        "asyncrl.cli",
        "train",
        "--algo",
        algo,
        "--env",
        env,
        "--seed",
        str(seed),
        "--total-steps",
        str(steps),
        "--eval-every",
        "0",
        "--run-dir",
        str(run),
        "--no-progress",
        "--no-tensorboard",
        *extra,
    ]
    shutil.rmtree(run, ignore_errors=True)  # (a benchmark's own folder: a re-run replaces its runs)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    train_s = time.perf_counter() - t0
    ev = subprocess.run(
        [
            sys.executable,
            "-m",
            "asyncrl.cli",
            "eval",
            str(run),
            "--checkpoint",
            "latest",
            "--episodes",
            "10",
            "--num-envs",
            "10",
            "--seed",
            "10000",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(ev.stdout)
    return {
        "run": algo,
        "env": env,
        "seed": seed,
        "steps": steps,
        "train_s": round(train_s, 1),
        "score": res["mean"],
        "score_std": res["std"],
        "run_dir": str(run),
    }


def run_sb3(env: str, seed: int, steps: int, python: str) -> dict:
    p = subprocess.run(
        [python, str(SB3), "--env", env, "--seed", str(seed), "--steps", str(steps)],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(p.stdout.strip().splitlines()[-1])
    return {
        "run": "sb3:ppo",
        "env": env,
        "seed": seed,
        "steps": res["steps"],
        "train_s": res["train_s"],
        "score": res["score"],
        "score_std": res["score_std"],
    }


def table(results: list[dict]) -> str:
    rows = [
        "| env | run | seeds | steps | score (mean of seeds) | scores per seed | train s | s per 1M steps | "
        "vs SB3 PPO (time per step) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    per_m = {}
    for r in results:
        per_m.setdefault((r["env"], r["run"]), []).append(r["train_s"] * 1e6 / r["steps"])
    for env in dict.fromkeys(r["env"] for r in results):
        sb3 = per_m.get((env, "sb3:ppo"))
        for run in dict.fromkeys(r["run"] for r in results if r["env"] == env):
            rs = [r for r in results if r["env"] == env and r["run"] == run]
            scores = [r["score"] for r in rs]
            t = statistics.median(per_m[env, run])
            ratio = f"{t / statistics.median(sb3):.2f}" if sb3 else "-"
            rows.append(
                f"| {env} | {run} | {len(rs)} | {rs[0]['steps']:,} | {statistics.mean(scores):,.0f} | "
                f"{', '.join(f'{s:,.0f}' for s in scores)} | "
                f"{statistics.median(r['train_s'] for r in rs):,.0f} | {t:,.0f} | {ratio} |"
            )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"])
    p.add_argument("--runs", nargs="+", default=["appo", "a2c", "sb3:ppo"], help="asyncrl algorithms, sb3:ppo")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--sb3-steps", type=int, default=None, help="SB3's budget (default: --steps)")
    p.add_argument("--sb3-seeds", nargs="+", type=int, default=[0])
    p.add_argument("--sb3-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    p.add_argument("--out", default=str(ROOT / "runs" / "bench-mujoco"), help="folder for the asyncrl run dirs")
    p.add_argument("--asyncrl-args", default="", help="extra train flags for every asyncrl run")
    p.add_argument("--json", help="write every result to this file")
    a = p.parse_args()
    results: list[dict] = []
    for env in a.envs:
        for run in a.runs:
            for seed in a.sb3_seeds if run == "sb3:ppo" else a.seeds:
                if run == "sb3:ppo":
                    r = run_sb3(env, seed, a.sb3_steps or a.steps, a.sb3_python)
                else:
                    r = run_asyncrl(run, env, seed, a.steps, Path(a.out), a.asyncrl_args.split())
                results.append(r)
                print(json.dumps(r), flush=True)
                if a.json:
                    Path(a.json).write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
