"""Steady-state training throughput (env steps/s) against the raw env loop, on this machine.

For each algorithm it runs ``asyncrl train`` for a fixed time with no stop target and reads the
``steps_per_s`` column of ``metrics.csv`` (one row a second), dropping the first
``--warmup`` seconds; the median of the rest is the steady rate. The raw rate of the same env
(random actions, no policy, no learning) is measured in the same run as the physical limit.

    .venv/bin/python benchmarks/throughput.py --env CartPole-v1 --seconds 20

Policy lag (mean and max over the run, in learner updates) comes from the same ``metrics.csv``,
so one table gives lag against throughput, e.g. for several actor counts and batch sizes:

    .venv/bin/python benchmarks/throughput.py --seconds 15 --runs impala "impala:--workers 2" \
        "impala:--batch-rollouts 2" "impala:--workers 2 --batch-rollouts 4"
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def raw_rate(env_id: str, num_envs: int, impl: str, seconds: float = 3.0) -> float:
    """Env steps/s of the vector env alone with random actions."""
    from asyncrl.envs.vector import make_vec_env

    venv = make_vec_env(env_id, num_envs, seed=0, impl=impl)
    venv.reset()
    space = venv.single_action_space
    rng = np.random.default_rng(0)
    if hasattr(space, "n"):
        acts = [rng.integers(0, space.n, size=num_envs) for _ in range(64)]
    else:
        acts = [rng.uniform(space.low, space.high, size=(num_envs, *space.shape)).astype(np.float32) for _ in range(64)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(acts[n % 64])
        n += 1
    return n * num_envs / (time.perf_counter() - t0)


def gym_atari_raw_rate(env_id: str, num_envs: int = 16, seconds: float = 3.0) -> float:
    """Env steps/s of the reference Atari loop of one process: gymnasium's own ``AtariPreprocessing`` (no-op starts,
    frame skip 4 with max-pool, 84x84 gray) and ``FrameStackObservation`` (4), ``num_envs`` envs in one
    ``SyncVectorEnv``, random actions. This is what a user would write without asyncrl."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)

    def make():
        env = gym.make(env_id)  # (NoFrameskip: the wrapper skips)
        return gym.wrappers.FrameStackObservation(gym.wrappers.AtariPreprocessing(env), 4)

    venv = gym.vector.SyncVectorEnv([make for _ in range(num_envs)])
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = [rng.integers(0, venv.single_action_space.n, size=num_envs) for _ in range(64)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(acts[n % 64])
        n += 1
    rate = n * num_envs / (time.perf_counter() - t0)
    venv.close()
    return rate


def train_rate(
    algo: str, env_id: str, seconds: float, warmup: float, extra: list[str], src: str | None = None
) -> dict[str, float]:
    """Median steady steps/s, policy lag (mean of the per-second means, max of the maxima) and the
    final mean100 of one ``asyncrl train`` run (of the code in ``src``, another checkout's ``src/``, if given)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        cmd = [
            os.path.join(os.path.dirname(sys.executable), "asyncrl"),
            "train",
            "--algo",
            algo,
            "--env",
            env_id,
            "--max-seconds",
            str(seconds),
            "--total-steps",
            str(10**10),
            "--eval-every",
            "0",
            "--no-tensorboard",
            "--no-progress",
            "--run-dir",
            run_dir,
            *extra,
        ]
        env = {**os.environ, "PYTHONPATH": src} if src else None
        subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        with open(os.path.join(run_dir, "metrics.csv")) as f:
            rows = [r for r in csv.DictReader(f) if float(r["wall_time_s"]) > warmup and r["steps_per_s"]]
        rates = [float(r["steps_per_s"]) for r in rows if float(r["steps_per_s"]) > 0]
        lag_mean = [float(r["policy_lag_mean"]) for r in rows if r.get("policy_lag_mean")]
        lag_max = [float(r["policy_lag_max"]) for r in rows if r.get("policy_lag_max")]
        wire = [float(r["wire_bytes_per_step"]) for r in rows if r.get("wire_bytes_per_step")]  # --runtime ray
        with open(os.path.join(run_dir, "episodes.csv")) as f:
            rets = [float(r["episode_return"]) for r in csv.DictReader(f)][-100:]
        return {
            "rate": statistics.median(rates),
            "lag_mean": statistics.mean(lag_mean) if lag_mean else float("nan"),
            "lag_max": max(lag_max) if lag_max else float("nan"),
            "mean100": sum(rets) / len(rets) if rets else float("nan"),
            "wire": statistics.mean(wire) if wire else float("nan"),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument(
        "--sb3-a2c",
        action="store_true",
        help="Atari: add Stable-Baselines3 A2C rows (1 and 2 torch threads; needs make bench-env)",
    )
    ap.add_argument(
        "--runs", nargs="+", default=["a2c", "a3c"], help="algo[:extra flags], e.g. 'a3c:--workers 2 --num-envs 16'"
    )
    ap.add_argument(
        "--old-src",
        help="also run every spec with the code of another checkout (its src/ folder), "
        "alternating with this one: a before/after comparison in one run",
    )
    ap.add_argument("--repeats", type=int, default=1, help="runs of each spec (the median is reported)")
    args = ap.parse_args()
    print(
        f"throughput: {args.env}, {args.seconds:.0f} s per run, {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}\n"
    )
    print("| what | env steps/s | policy lag mean | policy lag max | final mean100 |")
    print("|---|---|---|---|---|")
    for impl in ("native", "gymnasium"):
        try:
            print(f"| raw env loop, 1 process, 16 envs ({impl}) | {raw_rate(args.env, 16, impl):,.0f} | - | - | - |")
        except Exception as e:  # no native version of this env
            print(f"| raw env loop ({impl}) | n/a ({e}) | - | - | - |")
    if "NoFrameskip" in args.env:
        rate = gym_atari_raw_rate(args.env, 16, seconds=min(args.seconds, 10.0))
        what = "raw env loop, 1 process, 16 envs (gymnasium AtariPreprocessing + FrameStackObservation)"
        print(f"| {what} | {rate:,.0f} | - | - | - |")
    frames = 4 if "NoFrameskip" in args.env or args.env.startswith(("ALE/", "atari:", "doom:", "Vizdoom")) else 1
    if frames > 1:
        print(f"(frames/s = env steps/s x {frames})")
    if args.sb3_a2c:
        peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sb3_atari_throughput.py")
        bench_python = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv-bench", "bin", "python"
        )
        for threads in (1, 2):
            out = subprocess.run(
                [
                    bench_python,
                    peer,
                    "--env",
                    args.env,
                    "--seconds",
                    str(args.seconds),
                    "--warmup",
                    str(args.warmup),
                    "--torch-threads",
                    str(threads),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
            print(
                f"| Stable-Baselines3 A2C, RL Zoo Atari settings, 16 envs, {threads} torch thread(s) | "
                f"{r['steps_per_s']:,.0f} | - | - | - |",
                flush=True,
            )
    versions = [("", None)] + ([(" (old)", args.old_src)] if args.old_src else [])
    for spec in args.runs:
        algo, _, extra = spec.partition(":")
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for label, src in versions:  # alternating, so both versions see the same machine load
                results.setdefault(label, []).append(
                    train_rate(algo, args.env, args.seconds, args.warmup, extra.split(), src)
                )
        for label, _ in versions:
            rs = results[label]
            rate = statistics.median(r["rate"] for r in rs)
            wire = f" [{rs[0]['wire']:,.0f} wire bytes/env step]" if rs[0]["wire"] == rs[0]["wire"] else ""
            print(
                f"| asyncrl{label} {algo} {extra}{wire} | {rate:,.0f} | {rs[0]['lag_mean']:.2f} | "
                f"{rs[0]['lag_max']:.0f} | {rs[0]['mean100']:.1f} |",
                flush=True,
            )
        if args.old_src:
            new, old = (statistics.median(r["rate"] for r in results[k]) for k, _ in versions)
            print(f"| ratio this / old, {algo} {extra} | {new / old:.3f} | | | |", flush=True)


if __name__ == "__main__":
    main()
