"""Training throughput with a Dict observation (an 84x84x4 image and a vector) against the same image alone, on the
actor-learner runtime, in one invocation (runs alternating, medians of the repeats).

    .venv/bin/python benchmarks/dict_obs_throughput.py --seconds 40 --repeats 2

The two envs (defined here) cost the same to step: cheap synthetic frames (a preallocated stack whose content
shifts each step), six actions, 200-step episodes. What differs is the observation path: one uint8 Box through
the A3C CNN, or a Dict of that image and an 8-number vector flattened to one float vector and split again by the
multi-input torso (image through the same CNN, vector through the MLP).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np


class ImageOnly(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(6)

    def __init__(self):
        self.frames = np.random.default_rng(0).integers(0, 256, (8, 4, 84, 84), dtype=np.uint8)
        self.t = 0

    def _image(self) -> np.ndarray:
        return self.frames[self.t % 8]

    def _obs(self):
        return self._image()

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action == self.t % 6), False, self.t >= 200, {}


class ImageAndVector(ImageOnly):
    observation_space = gym.spaces.Dict(
        {"image": ImageOnly.observation_space, "vector": gym.spaces.Box(-1, 1, (8,), np.float32)}
    )

    def _obs(self):
        return {"image": self._image(), "vector": np.full(8, (self.t % 7) / 7, np.float32)}


def rate(env: str, seconds: float, warmup: float) -> float:
    """Median steady env steps/s of ``asyncrl train --algo impala`` on ``env`` (this module's class)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        here = os.path.dirname(os.path.abspath(__file__))
        cmd = [sys.executable, "-m", "asyncrl.cli", "train", "--algo", "impala", "--env", f"dict_obs_throughput:{env}",
               "--max-seconds", str(seconds), "--total-steps", str(10**10), "--eval-every", "0", "--no-tensorboard",
               "--no-progress", "--run-dir", run_dir]  # fmt: skip
        env_vars = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
        subprocess.run(cmd, check=True, capture_output=True, text=True, env=env_vars)
        with open(os.path.join(run_dir, "metrics.csv")) as f:
            rows = [r for r in csv.DictReader(f) if float(r["wall_time_s"]) > warmup and r["steps_per_s"]]
        return statistics.median(float(r["steps_per_s"]) for r in rows if float(r["steps_per_s"]) > 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    when = time.strftime("%Y-%m-%d")
    print(f"dict observations: impala, {args.seconds:.0f} s per run, {when}, {os.cpu_count()} cores\n")
    rates: dict[str, list[float]] = {"ImageOnly": [], "ImageAndVector": []}
    for _ in range(args.repeats):
        for env in rates:  # alternating, so both see the same machine load
            rates[env].append(rate(env, args.seconds, args.warmup))
    image, both = (statistics.median(rates[k]) for k in ("ImageOnly", "ImageAndVector"))
    print("| observation | env steps/s (median of the repeats) | runs |")
    print("|---|---|---|")
    print(f"| uint8 [4, 84, 84] image alone | {image:,.0f} | {', '.join(f'{r:,.0f}' for r in rates['ImageOnly'])} |")
    print(f"| Dict: the same image and an 8-number vector | {both:,.0f} | "
          f"{', '.join(f'{r:,.0f}' for r in rates['ImageAndVector'])} |")  # fmt: skip
    print(f"| ratio Dict / image alone | {both / image:.3f} | |")


if __name__ == "__main__":
    main()
