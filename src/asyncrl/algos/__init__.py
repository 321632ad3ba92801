"""Algorithms: a loss plus a runtime. ``a3c`` = actor-critic loss on the Hogwild runtime,
``a2c`` = the same loss on the synchronous runtime, ``feudal`` = the FeUdal loss on either."""

from __future__ import annotations


def on_policy_loss(cfg):
    """``(loss_fn, params)`` of an on-policy algorithm (a3c, a2c, feudal):
    ``loss_fn(model, rollout, params) -> LossOutput``."""
    if cfg.algo == "feudal":
        from asyncrl.algos.feudal import FeudalParams, feudal_loss

        return feudal_loss, FeudalParams.from_config(cfg)
    from asyncrl.algos.actor_critic import ActorCriticParams, rollout_loss

    return rollout_loss, ActorCriticParams.from_config(cfg)


def rollout_discounts(cfg) -> float | tuple[float, float]:
    """The discount(s) rollouts are collected with: ``gamma``, or FeUdal's (Manager, Worker) pair."""
    return (cfg.gamma, cfg.worker_gamma) if cfg.algo == "feudal" else cfg.gamma
