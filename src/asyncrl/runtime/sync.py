"""The synchronous runtime (A2C, and FeUdal with ``--runtime sync``): ``num_envs`` envs in one process,
one batched forward per step, one update per rollout of ``n_steps x num_envs`` transitions."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from asyncrl.core.sections import RunConfig, check_batch_size
from asyncrl.optim.grads import TrainStep
from asyncrl.runtime.base import OnDevice, Runtime, register_runtime
from asyncrl.runtime.learner import cpu_model_state, cpu_optimizer_state, learner_device, to_device
from asyncrl.runtime.loop import lag_free, learn
from asyncrl.runtime.setup import RunSetup, optimizer_for, train_collector, train_envs


@dataclass(kw_only=True)
class SyncConfig(OnDevice):
    """One process (``--num-envs`` sets how many envs step together), acting and learning on ``--device``."""


def run_sync(setup: RunSetup) -> None:
    """Collect a rollout, update, repeat, until the control says stop (then the final evaluation and checkpoints).
    On a GPU (``--device cuda``) the model acts there (one forward of ``[num_envs, ...]`` observations per step)
    and learns there; checkpoints and evaluations get CPU copies."""
    cfg, algo, control = setup.cfg, setup.algo, setup.control
    device = learner_device(cfg.runtime.device)
    model = setup.model if device.type == "cpu" else copy.deepcopy(setup.model).to(device)
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

    def model_state() -> dict:
        return cpu_model_state(model)

    def optimizer_state() -> dict:
        return cpu_optimizer_state(optimizer)

    try:
        with control.saved_if_the_env_crashes(model_state, optimizer_state):
            while True:
                rollout = to_device(collector.collect(), device)
                s = learn(algo, model, rollout, cfg, step, control.schedule(c.env_steps), generator)
                c.env_steps += rollout.num_steps
                c.updates += 1
                control.episodes(c.env_steps, collector.finished, worker=0)
                collector.finished = []
                control.update_done(lag_free(s))  # every sample comes from the weights being updated
                if control.tick(model_state, optimizer_state):
                    break
    finally:
        venv.close()
    control.finish(model_state, optimizer_state)


def check_sync(cfg: RunConfig) -> None:
    check_batch_size(cfg.rollout.num_envs, cfg.rollout.n_steps, 1)


register_runtime(
    Runtime("sync", SyncConfig, run_sync, about="one process stepping --num-envs envs (A2C)", check=check_sync)
)
