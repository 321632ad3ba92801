"""A3C with a parameter server (``a3c-ps``): the design the AsyncRL seed argues for, done asynchronously.

Each actor computes the advantage actor-critic gradient (:mod:`asyncrl.algos.actor_critic`) of its
own rollout with the weights it last received, clips it and writes it, flattened, into its
trajectory slot; the learner applies the gradients one at a time in arrival order with one
(non-shared) optimizer and publishes fresh weights after each. Unlike Hogwild A3C, only the
learner ever writes the weights, and the staleness of every gradient is measured.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from asyncrl.algos.actor_critic import (
    A3C_DEFAULTS,
    ActorCriticAlgorithm,
    rollout_loss,
)
from asyncrl.algos.base import register
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import RunConfig
from asyncrl.nn.model import PolicyNet
from asyncrl.optim.grads import backward_and_clip


def actor_gradient(
    model: PolicyNet, rollout: Rollout, cfg: RunConfig, out: torch.Tensor
) -> tuple[bool, dict[str, float]]:
    """Write the gradient of the rollout's loss (``cfg.loss``), clipped to ``cfg.optim.max_grad_norm``,
    flattened, into ``out [P]``.

    Returns whether it is finite (a non-finite gradient must not be applied) and the loss statistics.
    """
    params: list[torch.Tensor] = list(model.parameters())
    res = rollout_loss(model, rollout, cfg.loss)
    grads, norm = backward_and_clip(params, res.loss, cfg.optim.max_grad_norm)
    torch.cat([g.reshape(-1) for g in grads], out=out)
    return math.isfinite(norm), {**res.stats, "grad_norm": norm}


# A3C's settings (the same loss; Atari from Mnih et al., 2016, CartPole's RMSprop eps 3e-3 from BENCHMARKS.md);
# no Pendulum row yet (BENCHMARKS.md: it did not solve within the generic continuous budget).
DEFAULTS: dict[str, dict[str, Any]] = {k: v for k, v in A3C_DEFAULTS.items() if k != "Pendulum-v1"}


A3C_PS = register(ActorCriticAlgorithm("a3c-ps", ("actor-learner", "ray"), DEFAULTS, actor_gradient=actor_gradient))
"""a3c-ps: A3C's loss, but the actors compute the gradients and the learner applies them in arrival order."""
