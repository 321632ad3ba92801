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

from asyncrl.algos.actor_critic import advantages_and_returns
from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.feudal import cosine, goal_diversity, manager_displacement, transition_policy_loss
from asyncrl.runtime.rollout import Rollout


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


FEUDAL_COLUMNS = ["feudal/manager_loss", "feudal/manager_value_loss", "feudal/worker_value_loss",
                  "feudal/intrinsic_reward", "feudal/goal_cos", "feudal/goal_diversity"]
"""The FeUdal statistics logged to ``metrics.csv`` and TensorBoard."""
