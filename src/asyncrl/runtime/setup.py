"""What every runtime is given: one :class:`RunSetup`, so that all of them share one signature, ``run(setup)``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from asyncrl.algos.base import Algorithm
from asyncrl.config import TrainConfig, env_options
from asyncrl.envs.vector import make_vec_env
from asyncrl.runtime.control import TrainingControl


@dataclass
class RunSetup:
    """A resolved run: its config and algorithm, the model to train (updated in place), the control
    (logging, tests, checkpoints, stop decisions), the optimizer state to resume from (or ``None``) and the
    dtype observations are stored in (``uint8`` for frames)."""

    cfg: TrainConfig
    algo: Algorithm
    model: nn.Module
    control: TrainingControl
    optimizer_state: dict | None = None
    obs_dtype: torch.dtype = torch.float32


def train_envs(cfg: TrainConfig, seed: int | None):
    """The ``num_envs`` training envs of one worker, actor or synchronous run, with the env family's options."""
    return make_vec_env(cfg.env, cfg.num_envs, seed=seed, impl=cfg.vector_env, options=env_options(cfg))
