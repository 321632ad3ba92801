"""IMPALA (Espeholt et al., 2018): the actor-critic loss on V-trace targets, for off-policy rollouts.

The actors act with a policy ``mu`` that may lag the learner's ``pi`` by a few updates; V-trace
corrects the value targets and the policy gradient for that lag with truncated importance
weights ``pi/mu`` (rho-bar, c-bar, pg-rho-bar: 1.0 in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from asyncrl.algos.actor_critic import ACTOR_CRITIC_FIELDS, ACTOR_CRITIC_SPACE
from asyncrl.algos.base import StepFn, actor_critic_options, register
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import LossConfig, RunConfig
from asyncrl.core.settings import setting
from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.vtrace import vtrace
from asyncrl.nn.model import PolicyNet


@dataclass(kw_only=True)
class VTraceConfig:
    """IMPALA's section: V-trace's truncation levels (1.0 in the paper). Its lambda is ``gae_lambda``."""

    rho_bar: float = setting(1.0, lo=0.0, lo_open=True)
    """V-trace: clipping of the importance weights in the value targets (rho-bar)."""
    c_bar: float = setting(1.0, lo=0.0, lo_open=True)
    """V-trace: clipping of the trace coefficients (c-bar)."""
    pg_rho_bar: float = setting(1.0, lo=0.0, lo_open=True)
    """V-trace: clipping of the importance weights in the policy gradient."""


def impala_loss(model: PolicyNet, batch: Rollout, loss: LossConfig, p: VTraceConfig) -> LossOutput:
    """Forward ``batch`` (``[T + 1, B]``, with ``behaviour_logp [T, B]``) and return the V-trace loss.

    ``policy = -mean(log pi(a_t) * pg_adv_t)`` with V-trace's policy-gradient advantages,
    ``value = 0.5 * mean((v_s - V(x_s))^2)`` towards the V-trace targets, and the entropy bonus.
    """
    assert batch.behaviour_logp is not None, "IMPALA needs the behaviour log-probabilities"
    out = model(batch.obs, batch.core_state, batch.first)
    v_t = out.value[:-1]
    log_prob, entropy = model.log_prob_entropy(out.params[:-1], batch.actions, batch.action_mask)
    log_rhos = log_prob.detach() - batch.behaviour_logp
    vt = vtrace(
        log_rhos,
        batch.discount_t,
        batch.r_t,
        v_t.detach(),
        out.value[-1].detach(),
        rho_bar=p.rho_bar,
        c_bar=p.c_bar,
        pg_rho_bar=p.pg_rho_bar,
        lambda_=loss.gae_lambda,
    )
    adv = vt.pg_advantages
    if loss.normalize_advantages and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    res = actor_critic_loss(log_prob, entropy, v_t, adv, vt.vs, loss.value_coef, loss.entropy_coef)
    res.stats["vtrace/rho_mean"] = float(log_rhos.exp().mean())
    return res


# Atari: the paper's unroll 20, RMSprop 6e-4, entropy 0.01 and gradient clip 40 (Espeholt et al., 2018),
# but RMSprop eps 1e-5 instead of the paper's 0.01, which suits its summed losses: with asyncrl's
# mean-reduced losses it shrank every step about 100x and Pong stayed at -20 for 3M frames. LSTM core of 256.
# MuJoCo: the continuous-control choices of algos/actor_critic.py (Adam 3e-4 decayed linearly, V-trace lambda
# 0.95, normalisation on) with one actor of 16 envs x 32 steps; measured, not tuned (BENCHMARKS.md, "MuJoCo").
# Pendulum: found by `asyncrl tune` (80 trials of 1M env steps on 2 cores, 22 minutes; BENCHMARKS.md, "Tuning"):
# few envs and short rollouts (8 x 8), RMSprop 5.9e-4 decayed linearly, V-trace lambda 0.98, reward normalisation,
# a small value weight and a tight gradient clip. On 5 fresh seeds (100-104) it scores -150 +- 3 over 100 episodes
# at 1M steps, against -1,168 +- 36 with the generic continuous row, which has no Pendulum entry of its own.
# Its trials ran `--jobs 1` on 2 cores, so with one actor (the default is one per core but the learner's): the row
# pins `workers=1`, since with 15 actors on a 16-core box feeding a learner of 64-sample batches the policy lag
# and the balance of acting and learning are not what was tuned. `--workers N` still overrides it.
# CartPole, tuned on 2 cores (BENCHMARKS.md): one actor of 64 envs; RMSprop eps 5e-3 (with 1e-3 2 of 3 seeds
# still fell after solving, with 3e-3 1 of 5 dipped to 418, and its former entropy bonus of 0.01 did not
# stop the fall).
DEFAULTS: dict[str, dict[str, Any]] = {
    "discrete": dict(num_envs=32, n_steps=20, lr=6e-4, total_steps=1_000_000, eval_every=100_000),
    "continuous": dict(num_envs=32, n_steps=20, lr=3e-4, entropy_coef=0.0, total_steps=1_000_000, eval_every=100_000),
    "atari": dict(
        lstm_size=256,
        num_envs=16,
        n_steps=20,
        lr=6e-4,
        optimizer_eps=1e-5,
        max_grad_norm=40.0,
        total_steps=10_000_000,
        eval_every=500_000,
    ),
    "CartPole-v1": dict(
        num_envs=64, n_steps=10, lr=4e-3, optimizer_eps=5e-3, entropy_coef=0.0, total_steps=500_000, eval_every=50_000
    ),
    "Pendulum-v1": dict(
        num_envs=8,
        n_steps=8,
        lr=5.9e-4,
        lr_schedule="linear",
        gae_lambda=0.98,
        entropy_coef=2.5e-6,
        value_coef=0.25,
        max_grad_norm=0.3,
        normalize_reward=True,
        workers=1,
        total_steps=1_000_000,
        eval_every=100_000,
    ),
    "mujoco": dict(
        num_envs=16,
        n_steps=32,
        lr=3e-4,
        lr_schedule="linear",
        optimizer="adam",
        optimizer_eps=1e-5,
        gae_lambda=0.95,
        entropy_coef=0.0,
        normalize_obs=True,
        normalize_reward=True,
        total_steps=1_000_000,
        eval_every=100_000,
    ),
}


class IMPALA:
    """IMPALA: :func:`impala_loss`, one optimizer step per batch of actor rollouts."""

    name = "impala"
    runtimes = ("actor-learner", "ray")
    record_logp = True
    metrics = ("vtrace/rho_mean",)
    config = VTraceConfig
    fields = ACTOR_CRITIC_FIELDS
    defaults = DEFAULTS
    search_space = ACTOR_CRITIC_SPACE  # (gae_lambda is V-trace's lambda here)

    def model_options(self, cfg: RunConfig) -> dict[str, Any]:
        return actor_critic_options(cfg)

    def discounts(self, cfg: RunConfig) -> float:
        return cfg.loss.gamma

    def update(
        self, model: PolicyNet, batch: Rollout, cfg: RunConfig, step: StepFn, generator: torch.Generator
    ) -> dict[str, float]:
        res = impala_loss(model, batch, cfg.loss, cfg.algo_config)
        return {**res.stats, **step(res.loss)}


register(IMPALA())
