"""The synchronous runtime (A2C, and FeUdal with ``--runtime sync``): ``num_envs`` envs in one process,
one batched forward per step, one update per rollout of ``n_steps x num_envs`` transitions."""

from __future__ import annotations

import time

import torch

from asyncrl.nn.normalize import observe_rollout
from asyncrl.optim.grads import TrainStep
from asyncrl.runtime.control import NonFiniteGuard, mean_stats
from asyncrl.runtime.setup import RunSetup, optimizer_for, train_collector, train_envs


def run_sync(setup: RunSetup) -> None:
    """Collect a rollout, update, repeat, until the control says stop (then the final test and checkpoints)."""
    cfg, algo, model, control = setup.cfg, setup.algo, setup.model, setup.control
    venv = train_envs(cfg, cfg.run.seed)
    seed = cfg.run.seed + 7919 * control.counters.updates  # a resumed run does not replay the same episodes
    collector = train_collector(cfg, algo, venv, model, seed)
    params: list[torch.Tensor] = list(model.parameters())
    optimizer = optimizer_for(cfg.optim, params, shared=False)
    if setup.optimizer_state is not None:
        optimizer.load_state_dict(setup.optimizer_state)
    step = TrainStep(params, optimizer, cfg.optim.max_grad_norm)
    generator = torch.Generator().manual_seed(seed)
    c = control.counters
    guard = NonFiniteGuard()
    stats: dict[str, list[float]] = {}
    last_metrics = time.perf_counter()
    try:
        while True:
            rollout = collector.collect()
            step.lr = control.schedule(c.env_steps)
            s = algo.update(model, rollout, cfg, step, generator)
            observe_rollout(model, rollout)  # the normalisers' statistics, after the update (as every runtime)
            c.env_steps += rollout.num_steps
            c.updates += 1
            control.episodes(c.env_steps, collector.finished, worker=0)
            collector.finished = []
            # Synchronous: every sample comes from the weights being updated, so the policy lag is 0.
            for k, v in {**s, "lr": step.lr, "policy_lag_mean": 0.0, "policy_lag_max": 0.0}.items():
                stats.setdefault(k, []).append(v)
            if time.perf_counter() - last_metrics >= 1.0:
                control.metrics(mean_stats(stats))
                stats.clear()
                last_metrics = time.perf_counter()
            if control.tick(model.state_dict, optimizer.state_dict):
                break
            guard.update(s["skipped_updates"] > 0)
        if stats:
            control.metrics(mean_stats(stats))
    finally:
        venv.close()
    control.finish(model.state_dict, optimizer.state_dict)
