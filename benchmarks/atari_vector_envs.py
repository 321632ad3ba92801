"""Raw Atari stepping speed of asyncrl's vector envs, random actions, one process: the ale-py path
(``--vector-env gymnasium``) against EnvPool (``--vector-env envpool``) with 1 and 2 threads.

python benchmarks/atari_vector_envs.py --env PongNoFrameskip-v4 --num-envs 16 --seconds 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from asyncrl.envs.atari import AtariOptions
from asyncrl.envs.vector import make_vec_env


def frames_per_second(impl: str, env: str, num_envs: int, seconds: float, threads: int = 1) -> float:
    venv = make_vec_env(env, num_envs, seed=0, impl=impl, options=AtariOptions(), threads=threads)
    venv.reset()
    rng = np.random.default_rng(0)
    n = venv.single_action_space.n
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(rng.integers(0, n, size=num_envs))
        steps += num_envs
    elapsed = time.perf_counter() - t0
    venv.close()
    return 4 * steps / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="PongNoFrameskip-v4")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0)
    a = p.parse_args()
    rows = [
        ("ale-py (gymnasium)", frames_per_second("gymnasium", a.env, a.num_envs, a.seconds)),
        ("envpool, 1 thread", frames_per_second("envpool", a.env, a.num_envs, a.seconds, threads=1)),
        ("envpool, 2 threads", frames_per_second("envpool", a.env, a.num_envs, a.seconds, threads=2)),
    ]
    base = rows[0][1]
    print(f"| vector env ({a.env}, {a.num_envs} envs, random actions) | frames/s | ratio |")
    print("|---|---|---|")
    for name, fps in rows:
        print(f"| {name} | {fps:,.0f} | {fps / base:.2f}x |")


if __name__ == "__main__":
    main()
