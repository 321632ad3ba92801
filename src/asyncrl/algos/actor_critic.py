"""A3C and A2C: the advantage actor-critic loss on a rollout, on the Hogwild (A3C) or the synchronous (A2C) runtime.

A3C (Mnih et al., 2016): worker processes each collect ``n_steps`` with their own envs and apply their
gradients to one shared model without locks. A2C: the same loss, one process stepping ``num_envs``
envs together, one update per rollout. The tuned defaults below are data, with the notes behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from asyncrl.algos.base import StepFn, actor_critic_options, register
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import LossConfig, RunConfig
from asyncrl.losses.actor_critic import LossOutput, actor_critic_loss
from asyncrl.losses.returns import advantages_and_returns
from asyncrl.nn.model import PolicyNet


def rollout_loss(model: PolicyNet, rollout: Rollout, p: LossConfig) -> LossOutput:
    """Forward the whole rollout (``T + 1`` steps) with gradients and return the A2C loss.

    ``gae_lambda == 1`` gives A3C's n-step returns (every step bootstraps from ``V(s_T)``);
    smaller values give GAE.
    """
    out = model(rollout.obs, rollout.core_state, rollout.first)
    v_t = out.value[:-1]
    adv, returns = advantages_and_returns(
        rollout.r_t, rollout.discount_t, v_t.detach(), out.value[-1].detach(), p.gae_lambda, p.normalize_advantages
    )
    log_prob, entropy = model.log_prob_entropy(out.params[:-1], rollout.actions, rollout.action_mask)
    return actor_critic_loss(log_prob, entropy, v_t, adv, returns, p.value_coef, p.entropy_coef)


ACTOR_CRITIC_FIELDS = (
    "lstm",
    "lstm_size",
    "log_std_init",
    "bounded_mean",
    "sde",
    "sde_sample_freq",
    "normalize_obs",
    "obs_clip",
    "normalize_reward",
    "reward_clip",
)
"""Model settings every algorithm but FeUdal (whose network is fixed by the paper) reads."""

# Search spaces of `asyncrl tune` (experiments/space.py reads them), by action space: the loss and optimiser
# settings, with ranges after RL Zoo's A2C/PPO samplers (rl_zoo3/hyperparams_opt.py), narrowed to what runs on
# the asyncrl defaults: ("log", lo, hi) log-uniform, ("float", lo, hi) uniform, ("int", lo, hi), ("choice", [...]).
# Continuous actions add the policy's initial log-std and reward normalisation, which the Pendulum and MuJoCo rows
# show to matter (BENCHMARKS.md).
_COMMON_SPACE: dict[str, tuple] = {
    "lr": ("log", 1e-4, 1e-2),
    "n_steps": ("choice", [5, 8, 16, 32]),
    "num_envs": ("choice", [8, 16, 32, 64]),
    "gamma": ("choice", [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
    "gae_lambda": ("choice", [0.8, 0.9, 0.95, 0.98, 1.0]),
    "entropy_coef": ("log", 1e-6, 0.1),
    "value_coef": ("float", 0.25, 1.0),
    "max_grad_norm": ("choice", [0.3, 0.5, 1.0, 5.0]),
    "optimizer": ("choice", ["rmsprop", "adam"]),
    "lr_schedule": ("choice", ["constant", "linear"]),
    "normalize_advantages": ("choice", [False, True]),
}
ACTOR_CRITIC_SPACE: dict[str, dict[str, tuple]] = {
    "discrete": _COMMON_SPACE,
    "continuous": {
        **_COMMON_SPACE,
        "log_std_init": ("choice", [-1.0, -0.5, 0.0]),
        "normalize_reward": ("choice", [False, True]),
    },
}

# Atari (any ALE game, standard preprocessing), from the papers and RL Zoo, not yet tuned here:
# A2C as RL Zoo's Atari A2C (16 envs x 5 steps, lr 7e-4, entropy 0.01, vf_coef 0.25, SB3's
# RMSpropTFLike with eps 1e-5): rmsprop-tf, and value_coef 0.5 because asyncrl's value loss is
# 0.5 * MSE * value_coef while SB3's is vf_coef * MSE, so 0.5 here weighs the squared error by 0.25 as there;
# A3C's t_max 5 and entropy 0.01 (Mnih et al., 2016). LSTM cores of 256 as in A3C.
#
# CartPole, tuned on 2 cores (BENCHMARKS.md): larger batches with a larger learning rate, no entropy bonus.
# RMSprop eps 3e-3 (the floor of its denominator, BENCHMARKS.md "Defaults that hold"): once CartPole is
# solved the policy gradient is mostly noise, and with eps 1e-5 RMSprop rescaled that noise to full-size
# steps, so 8 of 15 runs fell below 100 within 1M steps of solving; with 3e-3 the steps shrink with the
# gradient and every run holds, at about the same speed to solve.
#
# MuJoCo (every gymnasium.envs.mujoco id): CleanRL's and Stable-Baselines3's continuous-control choices (64x64
# tanh actor and critic, Adam 3e-4 decayed linearly, GAE lambda 0.95, no entropy bonus, observations and rewards
# normalised as VecNormalize does, advantages standardised) with A2C's short rollouts; measured, not tuned, in
# BENCHMARKS.md ("MuJoCo").
#
# Pendulum: short horizon (gamma 0.9), rewards scaled to ~[-1.6, 0], Adam, normalised advantages,
# learning rate decayed linearly to 0 at total_steps (BENCHMARKS.md: more seeds solve than with a constant lr),
# the Gaussian mean squashed into the torque bounds (BENCHMARKS.md "A bounded Gaussian mean": A2C solved 9 of 10
# seeds with it against 7 of 10 without, A3C 4 of 5 against 3 of 5), and gSDE's state-dependent noise drawn
# afresh every step from log-std 0 (Raffin et al. 2021; `sde`, `sde_sample_freq` 1): on seeds 0-9 the greedy
# policy held every evaluation at -220 or above for 1M steps after first reaching -200 on 9 of 10 (A2C) and 3 of
# 10 (A3C), against 3 and 1 of 10 with the plain Gaussian (log-std -0.5), and the training mean reached -200 on
# 10 of 10 each, sooner (medians 560k and 617k steps against 752k and 810k). Held for 4 or 16 steps, as RL Zoo's
# PPO does, the correlated noise kept the sampled training mean near -380 (BENCHMARKS.md, "Pendulum-v1's holding
# criterion").
# The 0.1 scale applies while reward normalisation is off; with it (a tune trial may draw it) the normaliser alone
# sets the scale, as VecNormalize does (runtime/rollout.py).
# MountainCar-v0 (A2C): RL Zoo's A2C row, the discrete defaults with observations and rewards normalised and no
# entropy bonus: seeds 0-4 reached -110 within 1M steps (median 551k), where the generic row never left -200
# (BENCHMARKS.md, "The tasks users try first").
MOUNTAIN_CAR_A2C: dict[str, Any] = dict(
    entropy_coef=0.0, normalize_obs=True, normalize_reward=True, total_steps=1_000_000, eval_every=100_000
)
# MountainCarContinuous-v0 (A2C): RL Zoo's A2C row without its gSDE, 4 envs x 100 steps with observations and rewards
# normalised over its 100k steps: seeds 0-4 passed a training mean of 88 at 30k-51k steps (median 46k). With gSDE
# (`sde`, noise drawn every 16 steps) also 5 of 5, median 46k: no gain, so the row leaves it off. Normalisation
# alone (16 envs x 8 steps) or 4 x 100 alone reached 0 of 2 (BENCHMARKS.md, "The tasks users try first").
MOUNTAIN_CAR_CONTINUOUS_A2C: dict[str, Any] = dict(
    num_envs=4,
    n_steps=100,
    entropy_coef=0.0,
    normalize_obs=True,
    normalize_reward=True,
    total_steps=100_000,
    eval_every=10_000,
)
PENDULUM: dict[str, Any] = dict(
    num_envs=32,
    n_steps=10,
    gamma=0.9,
    gae_lambda=0.9,
    lr=2e-3,
    reward_scale=0.1,
    lr_schedule="linear",
    log_std_init=0.0,
    sde=True,
    sde_sample_freq=1,
    optimizer="adam",
    optimizer_eps=1e-8,
    normalize_advantages=True,
    bounded_mean=True,
    total_steps=2_000_000,
    eval_every=100_000,
)
A3C_DEFAULTS: dict[str, dict[str, Any]] = {
    "discrete": dict(num_envs=1, n_steps=5, lr=7e-4, total_steps=1_000_000, eval_every=100_000),
    "continuous": dict(num_envs=1, n_steps=5, lr=3e-4, entropy_coef=0.0, total_steps=1_000_000, eval_every=100_000),
    "atari": dict(
        lstm_size=256, num_envs=4, n_steps=5, lr=7e-4, max_grad_norm=40.0, total_steps=10_000_000, eval_every=500_000
    ),
    "CartPole-v1": dict(
        num_envs=32, n_steps=5, lr=4e-3, optimizer_eps=3e-3, entropy_coef=0.0, total_steps=500_000, eval_every=50_000
    ),
    "Pendulum-v1": PENDULUM,
    "mujoco": dict(
        num_envs=4,
        n_steps=16,
        lr=3e-4,
        lr_schedule="linear",
        optimizer="adam",
        optimizer_eps=1e-5,
        gae_lambda=0.95,
        entropy_coef=0.0,
        normalize_advantages=True,
        normalize_obs=True,
        normalize_reward=True,
        total_steps=1_000_000,
        eval_every=100_000,
    ),
}
A2C_DEFAULTS: dict[str, dict[str, Any]] = {
    "discrete": dict(num_envs=16, n_steps=5, lr=7e-4, total_steps=1_000_000, eval_every=100_000),
    "continuous": dict(num_envs=16, n_steps=8, lr=7e-4, entropy_coef=0.0, total_steps=1_000_000, eval_every=100_000),
    "atari": dict(
        lstm_size=256,
        num_envs=16,
        n_steps=5,
        lr=7e-4,
        value_coef=0.5,
        optimizer="rmsprop-tf",
        total_steps=10_000_000,
        eval_every=500_000,
    ),
    "CartPole-v1": dict(
        num_envs=64, n_steps=5, lr=5e-3, optimizer_eps=3e-3, entropy_coef=0.0, total_steps=500_000, eval_every=50_000
    ),
    "Pendulum-v1": PENDULUM,
    "MountainCar-v0": MOUNTAIN_CAR_A2C,
    "MountainCarContinuous-v0": MOUNTAIN_CAR_CONTINUOUS_A2C,
    "mujoco": dict(
        num_envs=16,
        n_steps=16,
        lr=7e-4,
        lr_schedule="linear",
        optimizer="adam",
        optimizer_eps=1e-5,
        gae_lambda=0.95,
        entropy_coef=0.0,
        normalize_advantages=True,
        normalize_obs=True,
        normalize_reward=True,
        total_steps=1_000_000,
        eval_every=100_000,
    ),
}


@dataclass(frozen=True, eq=False)
class ActorCriticAlgorithm:
    """The advantage actor-critic loss with one update per rollout, on the runtime(s) it names."""

    name: str
    runtimes: tuple[str, ...]
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    fields: tuple[str, ...] = ACTOR_CRITIC_FIELDS
    config: type | None = None
    """No section of its own: the shared loss settings (``cfg.loss``) are all it reads."""
    record_logp: bool = False
    metrics: tuple[str, ...] = ()
    actor_gradient: Callable[..., tuple[bool, dict[str, float]]] | None = None
    """Set where the actors compute the gradients (a3c-ps): see :class:`~asyncrl.algos.base.ActorGradients`."""
    search_space: dict[str, dict[str, tuple]] = field(default_factory=lambda: dict(ACTOR_CRITIC_SPACE))

    def model_options(self, cfg: RunConfig) -> dict[str, Any]:
        return actor_critic_options(cfg)

    def discounts(self, cfg: RunConfig) -> float:
        return cfg.loss.gamma

    def update(
        self, model: PolicyNet, batch: Rollout, cfg: RunConfig, step: StepFn, generator: torch.Generator
    ) -> dict[str, float]:
        res = rollout_loss(model, batch, cfg.loss)
        return {**res.stats, **step(res.loss)}


A3C = register(ActorCriticAlgorithm("a3c", ("hogwild",), A3C_DEFAULTS))
A2C = register(ActorCriticAlgorithm("a2c", ("sync",), A2C_DEFAULTS))
