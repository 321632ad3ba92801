"""The advantage actor-critic loss (Mnih et al., 2016): A3C, A2C and a3c-ps; IMPALA on V-trace targets and
FeUdal's Worker use it too."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class LossOutput:
    """The scalar loss to minimise and detached statistics for the logs."""

    loss: Tensor
    stats: dict[str, float]


def actor_critic_loss(
    log_prob: Tensor,
    entropy: Tensor,
    v_t: Tensor,
    advantages: Tensor,
    returns: Tensor,
    value_coef: float,
    entropy_coef: float,
) -> LossOutput:
    """Policy gradient with a learned baseline, a value regression and an entropy bonus.

    ``policy = -mean(log pi(a_t|s_t) * A_t)``, ``value = 0.5 * mean((G_t - V(s_t))^2)``,
    ``loss = policy + value_coef * value - entropy_coef * mean(H_t)``.

    Args:
        log_prob: ``[T, B]`` log-probabilities of the actions taken (with gradient).
        entropy: ``[T, B]`` policy entropies (with gradient).
        v_t: ``[T, B]`` value estimates (with gradient).
        advantages: ``[T, B]`` advantages (treated as constants).
        returns: ``[T, B]`` value targets (treated as constants).
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
    """
    assert log_prob.shape == entropy.shape == v_t.shape == advantages.shape == returns.shape
    adv = advantages.detach()
    policy_loss = -(log_prob * adv).mean()
    value_loss = 0.5 * (returns.detach() - v_t).pow(2).mean()
    ent = entropy.mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * ent
    stats = {
        "loss/policy": policy_loss.item(),
        "loss/value": value_loss.item(),
        "loss/entropy": ent.item(),
    }
    return LossOutput(loss, stats)
