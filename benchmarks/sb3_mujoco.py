"""One Stable-Baselines3 PPO run on a MuJoCo task with RL Zoo's tuned hyperparameters, for benchmarks/mujoco_scores.py.

Trains for ``--steps`` env steps, then plays 10 deterministic evaluation episodes with the VecNormalize
statistics frozen (rewards unnormalised) and prints one JSON line: ``{"env", "seed", "train_s", "score",
"score_std", "scores", ...}``. Run it in the peer venv (``make bench-env``; it needs ``gymnasium[mujoco]``):

    .venv-bench/bin/python benchmarks/sb3_mujoco.py --env HalfCheetah-v5 --seed 0 --steps 1000000
"""

import argparse
import json
import time
from typing import Any

# RL Zoo's PPO hyperparameters, by value from rl-baselines3-zoo hyperparams/ppo.yml (tuned on the v3 envs, which
# v5 keeps the dynamics of). Ant has no tuned entry there: its row is the zoo's "mujoco-defaults" (normalize, SB3's
# PPO defaults). Every entry: policy MlpPolicy, n_envs 1, normalize true.
TUNED_NET = dict(log_std_init=-2, ortho_init=False, activation_fn="ReLU", net_arch=dict(pi=[256, 256], vf=[256, 256]))
ZOO: dict[str, dict[str, Any]] = {
    "HalfCheetah-v5": dict(
        batch_size=64,
        n_steps=512,
        gamma=0.98,
        learning_rate=2.0633e-05,
        ent_coef=0.000401762,
        clip_range=0.1,
        n_epochs=20,
        gae_lambda=0.92,
        max_grad_norm=0.8,
        vf_coef=0.58096,
        policy_kwargs=TUNED_NET,
    ),
    "Hopper-v5": dict(
        batch_size=32,
        n_steps=512,
        gamma=0.999,
        learning_rate=9.80828e-05,
        ent_coef=0.00229519,
        clip_range=0.2,
        n_epochs=5,
        gae_lambda=0.99,
        max_grad_norm=0.7,
        vf_coef=0.835671,
        policy_kwargs=TUNED_NET,
    ),
    "Walker2d-v5": dict(
        batch_size=32,
        n_steps=512,
        gamma=0.99,
        learning_rate=5.05041e-05,
        ent_coef=0.000585045,
        clip_range=0.1,
        n_epochs=20,
        gae_lambda=0.95,
        max_grad_norm=1.0,
        vf_coef=0.871923,
    ),
    "Ant-v5": dict(),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=sorted(ZOO), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()

    import numpy as np
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(args.torch_threads)
    hp = dict(ZOO[args.env])
    if "policy_kwargs" in hp:
        kw = dict(hp["policy_kwargs"])
        kw["activation_fn"] = getattr(torch.nn, kw["activation_fn"])
        hp["policy_kwargs"] = kw
    t0 = time.perf_counter()
    env = VecNormalize(make_vec_env(args.env, n_envs=1, seed=args.seed))
    model = sb3.PPO("MlpPolicy", env, seed=args.seed, device="cpu", verbose=0, **hp)
    model.learn(total_timesteps=args.steps)
    train_s = time.perf_counter() - t0

    eval_env = VecNormalize(
        make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000), training=False, norm_reward=False
    )
    eval_env.obs_rms = env.obs_rms
    scores = []
    for _ in range(args.episodes):
        obs, done, total = eval_env.reset(), False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, dones, _ = eval_env.step(action)
            total += float(eval_env.get_original_reward()[0])
            done = bool(dones[0])
        scores.append(total)
    print(
        json.dumps(
            {
                "env": args.env,
                "seed": args.seed,
                "steps": int(model.num_timesteps),
                "train_s": round(train_s, 1),
                "score": float(np.mean(scores)),
                "score_std": float(np.std(scores)),
                "scores": scores,
                "sb3_version": sb3.__version__,
                "torch_version": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
