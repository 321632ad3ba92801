"""IMPALA (Espeholt et al., 2018): the actor-critic loss on V-trace targets, for off-policy rollouts.

The actors act with a policy ``mu`` that may lag the learner's ``pi`` by a few updates; V-trace
corrects the value targets and the policy gradient for that lag with truncated importance
weights ``pi/mu`` (rho-bar, c-bar, pg-rho-bar: 1.0 in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.vtrace import vtrace
from asyncrl.nn.model import ActorCritic
from asyncrl.runtime.rollout import Rollout


@dataclass
class VTraceParams:
    """The V-trace loss's hyperparameters (a view of :class:`~asyncrl.config.TrainConfig`)."""

    rho_bar: float = 1.0
    c_bar: float = 1.0
    pg_rho_bar: float = 1.0
    lambda_: float = 1.0
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    normalize_advantages: bool = False

    @classmethod
    def from_config(cls, cfg) -> VTraceParams:
        return cls(cfg.rho_bar, cfg.c_bar, cfg.pg_rho_bar, cfg.gae_lambda, cfg.value_coef, cfg.entropy_coef,
                   cfg.normalize_advantages)


def impala_loss(model: ActorCritic, batch: Rollout, p: VTraceParams) -> LossOutput:
    """Forward ``batch`` (``[T + 1, B]``, with ``behaviour_logp [T, B]``) and return the V-trace loss.

    ``policy = -mean(log pi(a_t) * pg_adv_t)`` with V-trace's policy-gradient advantages,
    ``value = 0.5 * mean((v_s - V(x_s))^2)`` towards the V-trace targets, and the entropy bonus.
    """
    assert batch.behaviour_logp is not None, "IMPALA needs the behaviour log-probabilities"
    out = model(batch.obs, batch.core_state, batch.first)
    v_t = out.value[:-1]
    log_prob, entropy = model.log_prob_entropy(out.params[:-1], batch.actions)
    log_rhos = log_prob.detach() - batch.behaviour_logp
    vt = vtrace(log_rhos, batch.discount_t, batch.r_t, v_t.detach(), out.value[-1].detach(),
                rho_bar=p.rho_bar, c_bar=p.c_bar, pg_rho_bar=p.pg_rho_bar, lambda_=p.lambda_)
    adv = vt.pg_advantages
    if p.normalize_advantages and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    res = actor_critic_loss(log_prob, entropy, v_t, adv, vt.vs, p.value_coef, p.entropy_coef)
    res.stats["vtrace/rho_mean"] = float(log_rhos.exp().mean())
    return res
