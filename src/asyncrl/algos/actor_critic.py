"""Advantage actor-critic on a rollout: the model's forward, the returns, the loss (A3C and A2C)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.returns import gae_advantages, n_step_returns
from asyncrl.nn.model import ActorCritic
from asyncrl.runtime.rollout import Rollout


@dataclass
class ActorCriticParams:
    """The loss's hyperparameters (a view of :class:`~asyncrl.config.TrainConfig`)."""

    gae_lambda: float = 1.0
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    normalize_advantages: bool = False

    @classmethod
    def from_config(cls, cfg) -> ActorCriticParams:
        return cls(cfg.gae_lambda, cfg.value_coef, cfg.entropy_coef, cfg.normalize_advantages)


def rollout_loss(model: ActorCritic, rollout: Rollout, p: ActorCriticParams) -> LossOutput:
    """Forward the whole rollout (``T + 1`` steps) with gradients and return the A2C loss.

    ``gae_lambda == 1`` gives A3C's n-step returns (every step bootstraps from ``V(s_T)``);
    smaller values give GAE.
    """
    out = model(rollout.obs, rollout.core_state, rollout.first)
    v_t = out.value[:-1]
    adv, returns = advantages_and_returns(rollout.r_t, rollout.discount_t, v_t.detach(), out.value[-1].detach(),
                                          p.gae_lambda, p.normalize_advantages)
    log_prob, entropy = model.log_prob_entropy(out.params[:-1], rollout.actions)
    return actor_critic_loss(log_prob, entropy, v_t, adv, returns, p.value_coef, p.entropy_coef)


def advantages_and_returns(r_t: torch.Tensor, discount_t: torch.Tensor, v_t: torch.Tensor, bootstrap: torch.Tensor,
                           gae_lambda: float, normalize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages, returns)``, both ``[T, B]``, from detached values ``v_t [T, B]`` and ``bootstrap [B]``:
    n-step returns for ``gae_lambda == 1`` (A3C), GAE otherwise; the advantages standardised if
    ``normalize`` (the returns, the value targets, never are)."""
    if gae_lambda == 1.0:
        returns = n_step_returns(r_t, discount_t, bootstrap)
        adv = returns - v_t
    else:
        adv = gae_advantages(r_t, discount_t, v_t, bootstrap, gae_lambda)
        returns = adv + v_t
    if normalize and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return adv, returns


def backward_and_clip(params: list[torch.Tensor], loss: torch.Tensor, max_grad_norm: float
                      ) -> tuple[list[torch.Tensor], float]:
    """Fresh gradients of ``loss`` w.r.t. ``params`` (never accumulated into old ones), clipped
    to ``max_grad_norm`` (0: no clipping) as ``clip_grad_norm_`` does. Returns the gradients (also
    left in ``.grad``) and their norm before clipping."""
    grads = list(torch.autograd.grad(loss, params, allow_unused=True))
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if max_grad_norm > 0:
        torch._foreach_mul_(grads, torch.clamp(max_grad_norm / (norm + 1e-6), max=1.0).item())
    for p, g in zip(params, grads):
        p.grad = g
    return grads, float(norm)
