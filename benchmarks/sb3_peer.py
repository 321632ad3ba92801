"""One Stable-Baselines3 training run for the time-to-solve benchmark.

Protocol (shared with benchmarks/time_to_solve.py): train until the mean return of
the last 100 finished training episodes (all envs together, in finishing order,
full window of 100 required) first reaches the env's threshold (THRESHOLDS of time_to_solve.py: CartPole-v1 475,
Pendulum-v1: -200), then stop. A step budget and a wall-clock cap end runs that
never solve. Prints one JSON line on stdout:

    {"algo", "env", "seed", "solved", "seconds", "env_steps", "final_mean100", ...}

`seconds` counts from just after the stdlib imports (before torch/SB3) to the
solve (or stop) moment; the harness reports its own outer wall time of the whole
subprocess instead. `env_steps` is SB3's num_timesteps (all envs) at that moment.

Run it inside the peer venv (`make bench-env`):

    .venv-bench/bin/python benchmarks/sb3_peer.py --algo ppo --env CartPole-v1 --seed 0
"""

import argparse
import csv
import json
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from time_to_solve import THRESHOLDS, WINDOW  # one table of bars for both sides (a stdlib-only module)

T0 = time.perf_counter()  # before torch/SB3 are imported (in main): they are part of the cost


# RL Zoo tuned hyperparameters, copied by value from rl-baselines3-zoo
# (rl_zoo3 2.9.2, rl_zoo3/hyperparams/ppo.yml and a2c.yml; policy 'MlpPolicy' for all).
# "lin_X" is the zoo's linear schedule X * progress_remaining, decaying to 0 at
# n_timesteps. Everything not listed is the SB3 default (e.g. A2C: n_steps 5,
# lr 7e-4, RMSprop; PPO Pendulum: batch_size 64).
#   ppo CartPole-v1: n_envs 8, n_timesteps 1e5, n_steps 32, batch_size 256,
#       gae_lambda 0.8, gamma 0.98, n_epochs 20, ent_coef 0.0,
#       learning_rate lin_0.001, clip_range lin_0.2
#   a2c CartPole-v1: n_envs 8, n_timesteps 5e5, ent_coef 0.0
#   ppo Pendulum-v1: n_envs 4, n_timesteps 1e5, n_steps 1024, gae_lambda 0.95,
#       gamma 0.9, n_epochs 10, ent_coef 0.0, learning_rate 1e-3, clip_range 0.2,
#       use_sde True, sde_sample_freq 4
#   ppo LunarLander (the zoo's LunarLander-v2 row, the same task as v3): n_envs 16, n_timesteps 1e6,
#       n_steps 1024, batch_size 64, gae_lambda 0.98, gamma 0.999, n_epochs 4, ent_coef 0.01
#   a2c LunarLander: n_envs 8, n_timesteps 2e5, gamma 0.995, n_steps 5, learning_rate lin_0.00083,
#       ent_coef 1e-5
#   ppo Acrobot-v1: normalize, n_envs 16, n_timesteps 1e6, n_steps 256, gae_lambda 0.94, gamma 0.99,
#       n_epochs 4, ent_coef 0.0
#   ppo MountainCar-v0: normalize, n_envs 16, n_timesteps 1e6, n_steps 16, gae_lambda 0.98, gamma 0.99,
#       n_epochs 4, ent_coef 0.0
# "normalize" wraps the vector env in VecNormalize (observations and rewards, the zoo's `normalize: true`).
ZOO: dict[tuple[str, str], dict[str, Any]] = {
    ("ppo", "CartPole-v1"): {
        "n_envs": 8,
        "n_timesteps": 100_000,
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": "lin_0.001",
        "clip_range": "lin_0.2",
    },
    ("a2c", "CartPole-v1"): {"n_envs": 8, "n_timesteps": 500_000, "ent_coef": 0.0},
    ("ppo", "Pendulum-v1"): {
        "n_envs": 4,
        "n_timesteps": 100_000,
        "n_steps": 1024,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "use_sde": True,
        "sde_sample_freq": 4,
    },
    ("ppo", "LunarLander-v3"): {
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "n_steps": 1024,
        "batch_size": 64,
        "gae_lambda": 0.98,
        "gamma": 0.999,
        "n_epochs": 4,
        "ent_coef": 0.01,
    },
    ("a2c", "LunarLander-v3"): {
        "n_envs": 8,
        "n_timesteps": 200_000,
        "gamma": 0.995,
        "n_steps": 5,
        "learning_rate": "lin_0.00083",
        "ent_coef": 1e-5,
    },
    ("ppo", "Acrobot-v1"): {
        "normalize": True,
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "n_steps": 256,
        "gae_lambda": 0.94,
        "gamma": 0.99,
        "n_epochs": 4,
        "ent_coef": 0.0,
    },
    ("ppo", "MountainCar-v0"): {
        "normalize": True,
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "n_steps": 16,
        "gae_lambda": 0.98,
        "gamma": 0.99,
        "n_epochs": 4,
        "ent_coef": 0.0,
    },
    ("ppo", "MountainCarContinuous-v0"): {
        "normalize": True,
        "n_envs": 1,
        "n_timesteps": 20_000,
        "batch_size": 256,
        "n_steps": 8,
        "gamma": 0.9999,
        "learning_rate": 7.77e-5,
        "ent_coef": 0.00429,
        "clip_range": 0.1,
        "n_epochs": 10,
        "gae_lambda": 0.9,
        "max_grad_norm": 5,
        "vf_coef": 0.19,
        "use_sde": True,
        "policy_kwargs": {"log_std_init": -3.29, "ortho_init": False},
    },
    ("a2c", "MountainCarContinuous-v0"): {
        "normalize": True,
        "n_envs": 4,
        "n_timesteps": 100_000,
        "n_steps": 100,
        "ent_coef": 0.0,
        "use_sde": True,
        "sde_sample_freq": 16,
        "policy_kwargs": {"log_std_init": 0.0, "ortho_init": False},
    },
}


def linear(start: float, budget: int, anchor: int) -> Callable[[float], float]:
    """The zoo's lin_X schedule, anchored at `anchor` steps although learn() runs `budget`.

    SB3 passes progress_remaining = 1 - steps/budget; the zoo decays to 0 at its own
    n_timesteps, so rescale to keep the tuned decay rate (0 from `anchor` on).
    """
    return lambda remaining: start * max(0.0, 1.0 - (1.0 - remaining) * budget / anchor)


def periodic_evaluations(args: argparse.Namespace, train_env: Any, normalize: bool, base: type) -> Any:
    """A callback that evaluates the policy deterministically every ``--eval-every`` env steps on its own env
    (seeded apart from training; with ``normalize`` it reads the training env's observation statistics, frozen)
    and appends ``wall_time_s,env_steps,mean,median,std,min,max,episodes`` to RUN_DIR/evals.csv."""
    import numpy as np
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    if normalize:
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
    file = open(os.path.join(args.run_dir, "evals.csv"), "w", newline="")  # noqa: SIM115
    out = csv.writer(file)
    out.writerow(["wall_time_s", "env_steps", "mean", "median", "std", "min", "max", "episodes"])

    class Evaluations(base):  # type: ignore[misc, valid-type]
        next_at = args.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_at:
                self.next_at += args.eval_every
                if normalize:
                    sync_envs_normalization(train_env, eval_env)
                returns, _ = evaluate_policy(
                    self.model,
                    eval_env,
                    n_eval_episodes=args.eval_episodes,
                    deterministic=True,
                    return_episode_rewards=True,
                )
                r = np.asarray(returns, dtype=np.float64)
                row = [r.mean(), np.median(r), r.std(), r.min(), r.max()]
                out.writerow([round(time.perf_counter() - T0, 3), self.num_timesteps, *map(float, row), len(r)])
                file.flush()  # (a run killed at its time cap keeps what it measured)
            return True

    return Evaluations()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", choices=sorted({a for a, _ in ZOO}), required=True)
    p.add_argument("--env", choices=sorted(THRESHOLDS), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-steps", type=int, help="step cap (default: 5x the zoo n_timesteps)")
    p.add_argument("--max-seconds", type=float, default=float("inf"), help="wall-clock cap")
    p.add_argument("--threshold", type=float, help="override the env's solve threshold")
    p.add_argument(
        "--schedule-steps", type=int, help="steps at which lin_ schedules reach 0 (default: the zoo n_timesteps)"
    )
    p.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument(
        "--run-dir",
        help="write every episode to RUN_DIR/episodes.csv (asyncrl's columns) and keep "
        "training past the threshold, to the budget (benchmarks/stability.py)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="with --run-dir: every N env steps, K deterministic episodes on a separate env, written to "
        "RUN_DIR/evals.csv in asyncrl's columns (benchmarks/stability.py --criterion eval)",
    )
    p.add_argument("--eval-episodes", type=int, default=10, help="K of --eval-every (default 10)")
    args = p.parse_args()
    if args.eval_every and not args.run_dir:
        p.error("--eval-every needs --run-dir (the evaluations are written there)")
    if (args.algo, args.env) not in ZOO:
        p.error(f"no zoo hyperparameters for {args.algo} on {args.env}")

    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(args.torch_threads)
    hp = dict(ZOO[args.algo, args.env])
    n_envs, zoo_steps, normalize = hp.pop("n_envs"), hp.pop("n_timesteps"), hp.pop("normalize", False)
    budget = args.budget_steps or 5 * zoo_steps
    anchor = args.schedule_steps or zoo_steps
    for key, value in hp.items():
        if isinstance(value, str) and value.startswith("lin_"):
            hp[key] = linear(float(value[4:]), budget, anchor)
    threshold = THRESHOLDS[args.env] if args.threshold is None else args.threshold
    returns: deque[float] = deque(maxlen=WINDOW)
    result: dict[str, Any] = {"solved": False}

    log = None
    if args.run_dir:
        os.makedirs(args.run_dir, exist_ok=True)
        log = csv.writer(open(os.path.join(args.run_dir, "episodes.csv"), "w", newline=""))  # noqa: SIM115
        log.writerow(["wall_time_s", "env_steps", "episode_return", "episode_length", "worker", "frames"])

    class SolveWatch(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:  # added by the Monitor wrapper of make_vec_env
                    returns.append(float(info["episode"]["r"]))
                    if log is not None:
                        log.writerow(
                            [
                                round(time.perf_counter() - T0, 3),
                                self.num_timesteps,
                                info["episode"]["r"],
                                info["episode"]["l"],
                                0,
                                self.num_timesteps,
                            ]
                        )
                    if len(returns) == WINDOW and sum(returns) / WINDOW >= threshold and not result["solved"]:
                        result["solved"] = True
                        if log is None:
                            return False
            return bool(time.perf_counter() - T0 < args.max_seconds)

    env = make_vec_env(args.env, n_envs=n_envs, seed=args.seed)
    if normalize:  # (the Monitor inside make_vec_env still reports raw episode returns)
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize(env)
    callbacks: list[BaseCallback] = [SolveWatch()]
    if args.eval_every:
        callbacks.append(periodic_evaluations(args, env, normalize, BaseCallback))
    algo_cls = {"ppo": sb3.PPO, "a2c": sb3.A2C}[args.algo]
    model = algo_cls("MlpPolicy", env, seed=args.seed, device="cpu", verbose=0, **hp)
    model.learn(total_timesteps=budget, callback=callbacks)
    seconds = time.perf_counter() - T0
    print(
        json.dumps(
            {
                "algo": args.algo,
                "env": args.env,
                "seed": args.seed,
                "solved": result["solved"],
                "seconds": round(seconds, 3),
                "env_steps": int(model.num_timesteps),
                "final_mean100": sum(returns) / len(returns) if returns else None,
                "episodes_window": len(returns),
                "threshold": threshold,
                "budget_steps": budget,
                "schedule_steps": anchor,
                "torch_threads": args.torch_threads,
                "sb3_version": sb3.__version__,
                "torch_version": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
