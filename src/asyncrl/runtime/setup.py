"""What every runtime is given: one :class:`RunSetup`, so that all of them share one signature, ``run(setup)``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from asyncrl.algos.base import Algorithm
from asyncrl.core.sections import OptimConfig, RunConfig
from asyncrl.envs.vector import make_vec_env
from asyncrl.nn.model import PolicyNet
from asyncrl.optim.shared import make_optimizer
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.rollout import RolloutCollector


@dataclass
class RunSetup:
    """A resolved run: its config and algorithm, the model to train (updated in place), the control
    (logging, tests, checkpoints, stop decisions), the optimizer state to resume from (or ``None``) and the
    dtype observations are stored in (``uint8`` for frames)."""

    cfg: RunConfig
    algo: Algorithm
    model: PolicyNet
    control: TrainingControl
    optimizer_state: dict | None = None
    obs_dtype: torch.dtype = torch.float32


def train_envs(cfg: RunConfig, seed: int | None):
    """The ``num_envs`` training envs of one worker, actor or synchronous run, with the env family's options.
    EnvPool's threads share the cores among the processes that step envs (all of them in a synchronous run)."""
    stepping = getattr(cfg.runtime, "workers", None) or 1
    return make_vec_env(
        cfg.env,
        cfg.rollout.num_envs,
        seed=seed,
        impl=cfg.rollout.vector_env,
        options=cfg.env_options(),
        threads=max(1, len(os.sched_getaffinity(0)) // stepping),
    )


def train_collector(cfg: RunConfig, algo: Algorithm, venv, model: PolicyNet, seed: int) -> RolloutCollector:
    """The rollout collector of one worker, actor or synchronous run: ``n_steps`` per rollout, the algorithm's
    discounts, the reward scale."""
    return RolloutCollector(
        venv,
        model,
        cfg.rollout.n_steps,
        algo.discounts(cfg),
        cfg.loss.reward_scale,
        seed=seed,
        record_logp=algo.record_logp,
        reward_clip=cfg.loss.reward_clip,
    )


def optimizer_for(cfg: OptimConfig, params: list[torch.Tensor], shared: bool):
    """The optimizer of the ``optim`` section over ``params`` (its state in shared memory if ``shared``). It has no
    learning rate of its own: every step gets the scheduled one (:class:`~asyncrl.optim.grads.TrainStep`)."""
    return make_optimizer(cfg.optimizer, params, None, shared=shared, eps=cfg.optimizer_eps, alpha=cfg.rms_alpha)
