"""FeUdal Networks (Vezhnevets et al., 2017) on a rollout: the forward, both critics' returns, the loss.

Runs on the Hogwild (``--runtime hogwild``, as A3C) and the synchronous (``--runtime sync``, as
A2C) runtimes. Per rollout of ``T`` steps:

- **Manager**: advantage ``A^M_t = R^M_t - V^M(x_t)`` on the extrinsic reward with its discount
  ``gamma`` (paper 0.99); loss = the transition policy gradient
  (:func:`~asyncrl.losses.feudal.transition_policy_loss`) + ``value_coef`` x its critic's loss.
- **Worker**: actor-critic on ``r_t + alpha * r^I_{t+1}`` with its own discount ``worker_gamma``
  (paper 0.95), plus the entropy bonus. The intrinsic reward of the state an action leads to,
  ``r^I(s_{t+1})``, is credited to that action; it is 0 where the episode ended after step ``t``.

Deviations from the paper (all listed in the README's FeUdal section): the ``c``-step displacement is cut at
the rollout's and the episode's end (the paper does not say how it handles them); the intrinsic
reward counts goals from before the episode's start as 0; no random goals for exploration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from asyncrl.algos.base import StepFn, register
from asyncrl.core.batch import Rollout
from asyncrl.errors import UsageError
from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.feudal import cosine, goal_diversity, manager_displacement, transition_policy_loss
from asyncrl.losses.returns import advantages_and_returns


@dataclass
class FeudalParams:
    """The loss's hyperparameters (a view of :class:`~asyncrl.config.TrainConfig`)."""

    gae_lambda: float = 1.0
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    normalize_advantages: bool = False
    intrinsic_coef: float = 0.5
    horizon: int = 10

    @classmethod
    def from_config(cls, cfg) -> FeudalParams:
        return cls(cfg.gae_lambda, cfg.value_coef, cfg.entropy_coef, cfg.normalize_advantages,
                   cfg.intrinsic_coef, cfg.horizon)


def feudal_loss(model, rollout: Rollout, p: FeudalParams) -> LossOutput:
    """Forward the whole rollout (``T + 1`` steps, ``model`` a
    :class:`~asyncrl.nn.feudal.FeudalNet`) and return the FeUdal loss with its statistics.

    ``rollout.r_t`` and ``rollout.discount_t`` are ``[T, B, 2]``: Manager then Worker.
    """
    out = model.forward_full(rollout.obs, rollout.core_state, rollout.first)
    v_m, v_w = out.value[..., 0], out.value[..., 1]  # [T + 1, B]
    not_first = (~rollout.first[1:]).to(v_w.dtype)
    r_int = out.intrinsic[1:] * not_first  # r^I(s_{t+1}) for action a_t, within the episode
    r_w = rollout.r_t[..., 1] + p.intrinsic_coef * r_int
    vw, vm = v_w.detach(), v_m.detach()
    adv_w, ret_w = advantages_and_returns(r_w, rollout.discount_t[..., 1], vw[:-1], vw[-1], p.gae_lambda,
                                          p.normalize_advantages)
    adv_m, ret_m = advantages_and_returns(rollout.r_t[..., 0], rollout.discount_t[..., 0], vm[:-1], vm[-1],
                                          p.gae_lambda, p.normalize_advantages)
    delta, mask = manager_displacement(out.s.detach(), rollout.first, p.horizon)
    goals = out.goals[:-1]
    manager_pg = transition_policy_loss(adv_m, delta, goals, mask)
    manager_value = 0.5 * (ret_m - v_m[:-1]).pow(2).mean()
    log_prob, entropy = model.log_prob_entropy(out.params[:-1], rollout.actions)
    worker = actor_critic_loss(log_prob, entropy, v_w[:-1], adv_w, ret_w, p.value_coef, p.entropy_coef)
    loss = worker.loss + manager_pg + p.value_coef * manager_value
    cos = cosine(delta, goals.detach())
    m = mask.to(cos.dtype)
    stats = {
        **worker.stats,
        "feudal/manager_loss": manager_pg.item(),
        "feudal/manager_value_loss": manager_value.item(),
        "feudal/worker_value_loss": worker.stats["loss/value"],
        "feudal/intrinsic_reward": float(r_int.sum() / not_first.sum().clamp_min(1.0)),
        "feudal/goal_cos": float((cos * m).sum() / m.sum().clamp_min(1.0)),
        "feudal/goal_diversity": float(goal_diversity(goals.detach())),
    }
    return LossOutput(loss, stats)


FEUDAL_COLUMNS = ("feudal/manager_loss", "feudal/manager_value_loss", "feudal/worker_value_loss",
                  "feudal/intrinsic_reward", "feudal/goal_cos", "feudal/goal_diversity")
"""The FeUdal statistics logged to ``metrics.csv`` and TensorBoard."""

# The paper's d = 256, k = 16, r = c = 10, discounts 0.99 (Manager) and 0.95 (Worker); rollouts of 4c steps so
# most steps see a whole c-step displacement; alpha 0.5 from the paper's range [0, 1]. With --runtime sync
# num_envs is the total, as for A2C. Its own settings are filled for feudal runs only, so other runs'
# config.json stays free of them.
_FEUDAL: dict[str, Any] = dict(runtime="hogwild", worker_gamma=0.95, intrinsic_coef=0.5, feudal_dim=256, goal_dim=16,
                               dilation=10, horizon=10)
DEFAULTS: dict[str, dict[str, Any]] = {
    "discrete": dict(num_envs=16, n_steps=40, lr=7e-4, max_grad_norm=40.0, total_steps=1_000_000,
                     eval_every=100_000, **_FEUDAL),
    "atari": dict(num_envs=4, n_steps=40, lr=7e-4, max_grad_norm=40.0, total_steps=10_000_000,
                  eval_every=500_000, **_FEUDAL),
}


class FeUdal:
    """FeUdal Networks: :func:`feudal_loss` (two critics, two discounts), on the Hogwild or the synchronous runtime."""

    name = "feudal"
    runtimes = ("hogwild", "sync")
    record_logp = False
    metrics = FEUDAL_COLUMNS
    fields = ("shared_optimizer", "runtime", "worker_gamma", "intrinsic_coef", "feudal_dim", "goal_dim", "dilation",
              "horizon")
    defaults = DEFAULTS

    def model_options(self, cfg: Any) -> dict[str, Any]:
        return dict(kind="feudal", feudal_dim=cfg.feudal_dim, goal_dim=cfg.goal_dim, dilation=cfg.dilation,
                    horizon=cfg.horizon)

    def loss_params(self, cfg: Any) -> FeudalParams:
        return FeudalParams.from_config(cfg)

    def discounts(self, cfg: Any) -> tuple[float, float]:
        """(Manager, Worker)."""
        return (cfg.gamma, cfg.worker_gamma)

    def update(self, model: nn.Module, batch: Rollout, params: FeudalParams, step: StepFn,
               generator: torch.Generator) -> dict[str, float]:
        res = feudal_loss(model, batch, params)
        return {**res.stats, **step(res.loss)}

    def check(self, cfg: Any) -> None:
        """The goal horizon fits in a rollout; the synchronous runtime is one process with one optimizer."""
        if cfg.horizon is not None and cfg.n_steps is not None and cfg.horizon > cfg.n_steps:
            raise UsageError(f"--horizon {cfg.horizon} is longer than --n-steps {cfg.n_steps}: every c-step "
                             f"displacement would be cut at the rollout's end (allowed: --horizon 1 to "
                             f"{cfg.n_steps}, or a longer --n-steps)")
        if cfg.runtime == "sync" and cfg.workers not in (None, 1):
            raise UsageError(f"--workers {cfg.workers}: --algo feudal --runtime sync runs in one process (use "
                             f"--runtime hogwild for worker processes)")


register(FeUdal())
