"""Stable-Baselines3 A2C training throughput on an Atari game, the peer row of benchmarks/throughput.py.

RL Zoo's Atari A2C (rl_zoo3 2.9.2, hyperparams/a2c.yml, "atari"): CnnPolicy, 16 envs, frame stack 4,
ent_coef 0.01, vf_coef 0.25, RMSpropTFLike with eps 1e-5; SB3's AtariWrapper does the same standard
preprocessing as asyncrl (no-op starts, frame skip 4 with max-pool, episodic life, fire reset, 84x84
grayscale, reward clipping). Trains for ``--seconds`` and prints one JSON line with the steady
env steps/s (after ``--warmup`` seconds) and frames/s (x4). Run it in the peer venv:

    .venv-bench/bin/python benchmarks/sb3_atari_throughput.py --env PongNoFrameskip-v4 --seconds 25
"""

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="PongNoFrameskip-v4")
    p.add_argument("--seconds", type=float, default=25.0)
    p.add_argument("--warmup", type=float, default=8.0)
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()

    import ale_py
    import gymnasium as gym
    import torch
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    torch.set_num_threads(args.torch_threads)
    env = VecFrameStack(make_atari_env(args.env, n_envs=args.n_envs, seed=0), n_stack=4)
    model = A2C(
        "CnnPolicy",
        env,
        ent_coef=0.01,
        vf_coef=0.25,
        device="cpu",
        seed=0,
        verbose=0,
        policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)),
    )
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            now = time.perf_counter() - t0
            marks.append((now, self.model.num_timesteps))
            return now < args.seconds

    model.learn(total_timesteps=10**9, callback=Clock())
    steady = [(t, n) for t, n in marks if t >= args.warmup]
    (ta, na), (tb, nb) = steady[0], steady[-1]
    rate = (nb - na) / (tb - ta)
    print(
        json.dumps(
            {
                "env": args.env,
                "n_envs": args.n_envs,
                "torch_threads": args.torch_threads,
                "steps_per_s": rate,
                "frames_per_s": 4 * rate,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
