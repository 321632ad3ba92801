"""FeUdal Networks (Vezhnevets et al., 2017) on a rollout: the forward, both critics' returns, the loss.

Runs on the Hogwild (``--runtime hogwild``, as A3C) and the synchronous (``--runtime sync``, as
A2C) runtimes. Per rollout of ``T`` steps:

- **Manager**: advantage ``A^M_t = R^M_t - V^M(x_t)`` on the extrinsic reward with its discount
  ``gamma`` (paper 0.99); loss = the transition policy gradient
  (:func:`~asyncrl.losses.feudal.transition_policy_loss`) + ``value_coef`` x its critic's loss.
- **Worker**: actor-critic on ``r_t + alpha * r^I_{t+1}`` with its own discount ``worker_gamma``
  (paper 0.95), plus the entropy bonus. With ``intrinsic_gate`` > 0 alpha is scaled by the batch's goal
  cosine (:func:`~asyncrl.losses.feudal.intrinsic_weight`; not in the paper). The intrinsic reward of the
  state an action leads to, ``r^I(s_{t+1})``, is credited to that action; it is 0 where the episode ended
  after step ``t``.

Deviations from the paper (all listed in docs/feudal.md): the ``c``-step displacement is cut at
the rollout's and the episode's end (the paper does not say how it handles them); the intrinsic
reward counts goals from before the episode's start as 0; no random goals for exploration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from asyncrl import limits as L
from asyncrl.algos.base import StepFn, register
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import LossConfig, RunConfig
from asyncrl.core.settings import setting
from asyncrl.errors import UsageError
from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.feudal import (
    cosine,
    goal_diversity,
    intrinsic_weight,
    manager_displacement,
    transition_policy_loss,
)
from asyncrl.losses.returns import advantages_and_returns
from asyncrl.nn.model import PolicyNet


@dataclass(kw_only=True)
class FeudalConfig:
    """FeUdal's section, with the paper's values as defaults: d = 256, k = 16, r = c = 10, the Worker's discount
    0.95 (the Manager's is ``gamma``, 0.99), alpha 0.5 from the paper's range [0, 1]."""

    worker_gamma: float = setting(0.95, lo=0.0, hi=1.0)
    """FeUdal: the Worker's discount (the paper's 0.95); ``gamma`` is the Manager's (0.99)."""
    intrinsic_coef: float = setting(0.5, lo=0.0)
    """FeUdal: weight alpha of the intrinsic reward in the Worker's reward."""
    intrinsic_gate: float = setting(0.0, lo=0.0, hi=1.0)
    """FeUdal: > 0: alpha is scaled by the batch's goal cosine over this value (0 while the goals predict
    nothing, full from it on); 0: the paper's constant alpha."""
    feudal_dim: int = setting(256, lo=1, hi=L.MAX_WIDTH)
    """FeUdal: size d of the perception output, the latent state and the Manager's LSTM (paper 256)."""
    goal_dim: int = setting(16, lo=1, hi=L.MAX_WIDTH)
    """FeUdal: size k of the Worker's goal embedding (paper 16)."""
    dilation: int = setting(10, lo=1, hi=L.MAX_DILATION)
    """FeUdal: cores r of the Manager's dilated LSTM (paper 10)."""
    horizon: int = setting(10, lo=1, hi=L.MAX_N_STEPS)
    """FeUdal: goal horizon c: goals pooled, intrinsic reward and transition gradient (paper 10)."""


def feudal_loss(model, rollout: Rollout, loss: LossConfig, p: FeudalConfig) -> LossOutput:
    """Forward the whole rollout (``T + 1`` steps, ``model`` a
    :class:`~asyncrl.nn.feudal.FeudalNet`) and return the FeUdal loss with its statistics.

    ``rollout.r_t`` and ``rollout.discount_t`` are ``[T, B, 2]``: Manager then Worker.
    """
    out = model.forward_full(rollout.obs, rollout.core_state, rollout.first)
    v_m, v_w = out.value[..., 0], out.value[..., 1]  # [T + 1, B]
    delta, mask = manager_displacement(out.s.detach(), rollout.first, p.horizon)
    goals = out.goals[:-1]
    cos = cosine(delta, goals.detach())
    m = mask.to(cos.dtype)
    goal_cos = float((cos * m).sum() / m.sum().clamp_min(1.0))
    alpha = intrinsic_weight(p.intrinsic_coef, goal_cos, p.intrinsic_gate)
    not_first = (~rollout.first[1:]).to(v_w.dtype)
    r_int = out.intrinsic[1:] * not_first  # r^I(s_{t+1}) for action a_t, within the episode
    r_w = rollout.r_t[..., 1] + alpha * r_int
    vw, vm = v_w.detach(), v_m.detach()
    adv_w, ret_w = advantages_and_returns(
        r_w, rollout.discount_t[..., 1], vw[:-1], vw[-1], loss.gae_lambda, loss.normalize_advantages
    )
    adv_m, ret_m = advantages_and_returns(
        rollout.r_t[..., 0], rollout.discount_t[..., 0], vm[:-1], vm[-1], loss.gae_lambda, loss.normalize_advantages
    )
    manager_pg = transition_policy_loss(adv_m, delta, goals, mask)
    manager_value = 0.5 * (ret_m - v_m[:-1]).pow(2).mean()
    log_prob, entropy = model.log_prob_entropy(out.params[:-1], rollout.actions)
    worker = actor_critic_loss(log_prob, entropy, v_w[:-1], adv_w, ret_w, loss.value_coef, loss.entropy_coef)
    total = worker.loss + manager_pg + loss.value_coef * manager_value
    stats = {
        **worker.stats,
        "feudal/manager_loss": manager_pg.item(),
        "feudal/manager_value_loss": manager_value.item(),
        "feudal/worker_value_loss": worker.stats["loss/value"],
        "feudal/intrinsic_reward": float(r_int.sum() / not_first.sum().clamp_min(1.0)),
        "feudal/intrinsic_weight": alpha,
        "feudal/goal_cos": goal_cos,
        "feudal/goal_diversity": float(goal_diversity(goals.detach())),
    }
    return LossOutput(total, stats)


FEUDAL_COLUMNS = (
    "feudal/manager_loss",
    "feudal/manager_value_loss",
    "feudal/worker_value_loss",
    "feudal/intrinsic_reward",
    "feudal/intrinsic_weight",
    "feudal/goal_cos",
    "feudal/goal_diversity",
)
"""The FeUdal statistics logged to ``metrics.csv`` and TensorBoard."""

# The paper's values are its section's defaults (FeudalConfig); rollouts of 4c steps so most steps see a whole
# c-step displacement. With --runtime sync num_envs is the total, as for A2C.
DEFAULTS: dict[str, dict[str, Any]] = {
    "discrete": dict(num_envs=16, n_steps=40, lr=7e-4, max_grad_norm=40.0, total_steps=1_000_000, eval_every=100_000),
    "atari": dict(num_envs=4, n_steps=40, lr=7e-4, max_grad_norm=40.0, total_steps=10_000_000, eval_every=500_000),
}

# `asyncrl tune`'s space: the learning rate, the entropy bonus, the weight of the Worker's intrinsic reward (alpha)
# and its own discount, in ranges around the paper's values (the defaults above); the network's sizes stay fixed.
SEARCH_SPACE: dict[str, dict[str, tuple]] = {
    "discrete": {
        "lr": ("log", 1e-4, 3e-3),
        "entropy_coef": ("log", 1e-4, 0.05),
        "intrinsic_coef": ("float", 0.0, 1.0),
        "worker_gamma": ("choice", [0.9, 0.95, 0.99]),
    }
}


class FeUdal:
    """FeUdal Networks: :func:`feudal_loss` (two critics, two discounts), on the Hogwild or the synchronous runtime."""

    name = "feudal"
    runtimes = ("hogwild", "sync")
    record_logp = False
    metrics = FEUDAL_COLUMNS
    config = FeudalConfig
    fields = ()
    defaults = DEFAULTS
    search_space = SEARCH_SPACE

    def model_options(self, cfg: RunConfig) -> dict[str, Any]:
        f = cfg.algo_config
        return dict(kind="feudal", feudal_dim=f.feudal_dim, goal_dim=f.goal_dim, dilation=f.dilation, horizon=f.horizon)

    def discounts(self, cfg: RunConfig) -> tuple[float, float]:
        """(Manager, Worker)."""
        return (cfg.loss.gamma, cfg.algo_config.worker_gamma)

    def update(
        self, model: PolicyNet, batch: Rollout, cfg: RunConfig, step: StepFn, generator: torch.Generator
    ) -> dict[str, float]:
        res = feudal_loss(model, batch, cfg.loss, cfg.algo_config)
        return {**res.stats, **step(res.loss)}

    def check(self, cfg: RunConfig) -> None:
        """The goal horizon fits in a rollout."""
        horizon, n_steps = cfg.algo_config.horizon, cfg.rollout.n_steps
        if horizon > n_steps:
            raise UsageError(
                f"--horizon {horizon} is longer than --n-steps {n_steps}: every c-step "
                f"displacement would be cut at the rollout's end (allowed: --horizon 1 to "
                f"{n_steps}, or a longer --n-steps)"
            )


register(FeUdal())
