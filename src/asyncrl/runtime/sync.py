"""The synchronous runtime (A2C, and FeUdal with ``--runtime sync``): ``num_envs`` envs in one process,
one batched forward per step, one update per rollout of ``n_steps x num_envs`` transitions."""

from __future__ import annotations

import math
import time

from asyncrl.algos import on_policy_loss, rollout_discounts
from asyncrl.algos.actor_critic import backward_and_clip
from asyncrl.config import TrainConfig, env_options
from asyncrl.envs.vector import make_vec_env
from asyncrl.nn.model import ActorCritic
from asyncrl.optim import make_optimizer
from asyncrl.runtime.control import NonFiniteGuard, TrainingControl, mean_stats
from asyncrl.runtime.rollout import RolloutCollector


def run_sync(cfg: TrainConfig, model: ActorCritic, control: TrainingControl, optimizer_state: dict | None) -> None:
    venv = make_vec_env(cfg.env, cfg.num_envs, seed=cfg.seed, impl=cfg.vector_env, options=env_options(cfg))
    seed = cfg.seed + 7919 * control.counters.updates  # a resumed run does not replay the same episodes
    collector = RolloutCollector(venv, model, cfg.n_steps, rollout_discounts(cfg), cfg.reward_scale, seed=seed)
    params = list(model.parameters())
    optimizer = make_optimizer(cfg.optimizer, params, cfg.lr, shared=False, eps=cfg.optimizer_eps,
                               alpha=cfg.rms_alpha)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    loss_fn, loss_params = on_policy_loss(cfg)
    c = control.counters
    guard = NonFiniteGuard()
    stats: dict[str, list[float]] = {}
    last_metrics = time.perf_counter()
    try:
        while True:
            rollout = collector.collect()
            out = loss_fn(model, rollout, loss_params)
            grads, grad_norm = backward_and_clip(params, out.loss, cfg.max_grad_norm)
            lr = control.schedule(c.env_steps)
            skipped = not math.isfinite(grad_norm)  # a non-finite gradient never reaches the weights
            if not skipped:
                optimizer.step(params, grads, lr)
            c.env_steps += rollout.num_steps
            c.updates += 1
            control.episodes(c.env_steps, collector.finished, worker=0)
            collector.finished = []
            # Synchronous: every sample comes from the weights being updated, so the policy lag is 0.
            for k, v in {**out.stats, "grad_norm": grad_norm, "lr": lr, "skipped_updates": float(skipped),
                         "policy_lag_mean": 0.0, "policy_lag_max": 0.0}.items():
                stats.setdefault(k, []).append(v)
            if time.perf_counter() - last_metrics >= 1.0:
                control.metrics(mean_stats(stats))
                stats.clear()
                last_metrics = time.perf_counter()
            if control.tick(model.state_dict, optimizer.state_dict):
                break
            guard.update(skipped)
        if stats:
            control.metrics(mean_stats(stats))
    finally:
        venv.close()
    control.finish(model.state_dict, optimizer.state_dict)
