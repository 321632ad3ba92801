"""The typed training configuration, its per-env defaults and its validation.

Every field left as ``None`` is filled by :func:`resolve` from :data:`DEFAULTS` (first the
exact ``(algo, env id)`` entry, then the algorithm's entry for the action-space family), so a
user only names what they want to change. The resolved config is saved as ``config.json``
beside every run and is enough to reproduce it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from asyncrl.errors import UsageError

ALGOS = ("a3c", "a2c", "impala", "appo", "a3c-ps", "feudal")
ACTOR_LEARNER_ALGOS = ("impala", "appo", "a3c-ps")
"""Algorithms on the actor-learner runtime (:mod:`asyncrl.runtime.actor_learner`)."""
TARGETS = ("vtrace", "gae")
TORSOS = ("auto", "mlp", "a3c-cnn", "nature-cnn", "impala-cnn")
OPTIMIZERS = ("rmsprop", "rmsprop-tf", "adam")
LR_SCHEDULES = ("constant", "linear")
START_METHODS = ("fork", "spawn", "forkserver")
VECTOR_IMPLS = ("auto", "native", "gymnasium")
RUNTIMES = ("hogwild", "sync")
ATARI_EVAL = ("game", "lives")
"""Atari evaluation protocols (see :class:`TrainConfig.atari_eval`)."""


@dataclass
class TrainConfig:
    """Settings of one training run. ``None`` means "the default for this algorithm and env"."""

    algo: str = "a3c"
    """Algorithm: ``a3c`` (Hogwild worker processes), ``a2c`` (synchronous, one process), or on the
    actor-learner runtime ``impala`` (V-trace), ``appo`` (clipped surrogate on V-trace or GAE targets)
    and ``a3c-ps`` (actors send gradients to a central learner, applied in arrival order); ``feudal``
    (FeUdal Networks, on the Hogwild or the synchronous runtime, see ``runtime``)."""
    env: str = "CartPole-v1"
    """Any Gymnasium id, or ``package.module:EnvClass``."""
    workers: int | None = None
    """A3C worker processes or actor processes of the actor-learner algorithms (default: the
    machine's cores; one fewer for impala and appo, whose learner takes a core). A2C runs in one
    process."""
    num_envs: int | None = None
    """Envs stepped together with one batched forward: per worker/actor, or in total (A2C)."""
    seed: int = 0
    """Seed of the model initialisation, the envs and the action sampling."""
    total_steps: int | None = None
    """Budget of env steps (all workers together)."""
    target_return: float | None = None
    """Stop when the mean return of the last 100 training episodes reaches this."""
    max_seconds: float | None = None
    """Stop after this many seconds of training."""
    run_dir: str | None = None
    """Where logs and checkpoints go (default: ``runs/<algo>-<env>-s<seed>-<time>``)."""

    # ---- algorithm hyperparameters ------------------------------------------------------
    lr: float | None = None
    """Learning rate."""
    lr_schedule: str | None = None
    """``constant``, or ``linear`` decay to 0 at ``total_steps``."""
    gamma: float | None = None
    """Discount factor."""
    n_steps: int | None = None
    """Rollout length per update (A3C's t_max)."""
    gae_lambda: float | None = None
    """GAE lambda; 1.0 gives A3C's n-step returns."""
    entropy_coef: float | None = None
    """Weight of the entropy bonus."""
    value_coef: float | None = None
    """Weight of the value loss."""
    max_grad_norm: float | None = None
    """Clip each update's gradient to this global norm (0: no clipping)."""
    normalize_advantages: bool | None = None
    """Standardise the advantages of each update."""
    reward_scale: float | None = None
    """Multiply rewards by this for learning (logs report the unscaled return)."""
    optimizer: str | None = None
    """``rmsprop`` (torch's form: eps added to the root), ``rmsprop-tf`` (TensorFlow's form, as in the A3C
    paper and Stable-Baselines3's ``RMSpropTFLike``: eps inside the root, statistics starting at 1) or ``adam``."""
    optimizer_eps: float | None = None
    """Optimizer epsilon."""
    rms_alpha: float | None = None
    """RMSprop smoothing constant."""
    shared_optimizer: bool | None = None
    """A3C: one optimizer state in shared memory for all workers (else one per worker)."""

    # ---- actor-learner runtime (impala, appo, a3c-ps) ------------------------------------
    batch_rollouts: int | None = None
    """Actor rollouts (of ``n_steps x num_envs`` steps each) per learner update."""
    slots_per_actor: int | None = None
    """Preallocated shared-memory trajectory slots per actor; an actor waits for a free one
    (backpressure), so at most ``workers x slots_per_actor`` rollouts are in flight."""
    rho_bar: float | None = None
    """V-trace: clipping of the importance weights in the value targets (rho-bar)."""
    c_bar: float | None = None
    """V-trace: clipping of the trace coefficients (c-bar)."""
    pg_rho_bar: float | None = None
    """V-trace: clipping of the importance weights in the policy gradient."""
    targets: str | None = None
    """APPO: value targets and advantages from ``vtrace`` or ``gae``."""
    clip_range: float | None = None
    """APPO: the surrogate's clipping range epsilon."""
    epochs: int | None = None
    """APPO: passes over each batch of rollouts."""
    minibatches: int | None = None
    """APPO: minibatches per epoch: shuffled samples for a feed-forward model (targets computed once per
    batch, as in PPO), env columns for an LSTM model (so sequences stay whole)."""
    kl_coef: float | None = None
    """APPO: weight of a KL(behaviour || current) penalty (0: none)."""
    max_policy_lag: int | None = None
    """Drop samples produced by a policy more than this many updates old (0: keep all)."""
    restart_actors: bool = False
    """Restart an actor that raises or dies (counted in the logs) instead of ending the run."""
    device: str | None = None
    """IMPALA/APPO: where the learner computes: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (cuda when
    available). Actors always act on the CPU."""
    serial: bool = False
    """Run the actor-learner algorithms' actors and learner in one process (debugging, determinism)."""

    # ---- FeUdal Networks (feudal) ------------------------------------------------------------
    runtime: str | None = None
    """FeUdal: ``hogwild`` (worker processes on a shared model, as A3C) or ``sync`` (one process, as A2C)."""
    worker_gamma: float | None = None
    """FeUdal: the Worker's discount (the paper's 0.95); ``gamma`` is the Manager's (0.99)."""
    intrinsic_coef: float | None = None
    """FeUdal: weight alpha of the intrinsic reward in the Worker's reward."""
    feudal_dim: int | None = None
    """FeUdal: size d of the perception output, the latent state and the Manager's LSTM (paper 256)."""
    goal_dim: int | None = None
    """FeUdal: size k of the Worker's goal embedding (paper 16)."""
    dilation: int | None = None
    """FeUdal: cores r of the Manager's dilated LSTM (paper 10)."""
    horizon: int | None = None
    """FeUdal: goal horizon c: goals pooled, intrinsic reward and transition gradient (paper 10)."""

    # ---- Atari preprocessing (envs/atari.py; None: the standard setting) ---------------------
    noop_max: int | None = None
    """Atari: at most this many random no-ops after a reset (standard: 30; 0: none)."""
    episodic_life: bool | None = None
    """Atari, training only: a lost life ends the learning episode (standard: on)."""
    clip_rewards: bool | None = None
    """Atari, training only: learn from the sign of the reward (standard: on)."""
    fire_reset: bool | None = None
    """Atari: press FIRE after a reset in games that have it (standard: on)."""
    sticky_actions: float | None = None
    """Atari: probability of repeating the previous action (default: 0 for v4 ids, 0.25 for ALE/...-v5)."""
    full_action_space: bool | None = None
    """Atari: all 18 actions instead of the game's minimal set."""
    atari_eval: str | None = None
    """Atari: how test runs (and ``asyncrl eval``/``record`` unless they override it) play: ``game``
    (standard: whole games, no life-loss signal, no FIRE after a lost life, Machado et al., 2018) or
    ``lives`` (as in training: a lost life restarts the recurrent state and FIRE is pressed)."""

    # ---- model --------------------------------------------------------------------------
    torso: str | None = None
    """``auto`` (the A3C paper's small CNN for ``[C, H, W]`` images, else an MLP), ``mlp``, ``a3c-cnn``,
    ``nature-cnn`` or ``impala-cnn``."""
    hidden: list[int] | None = None
    """Hidden layer sizes of the MLP torso."""
    activation: str | None = None
    """``tanh``, ``relu`` or ``elu``."""
    lstm: bool | None = None
    """Add an LSTM core after the torso."""
    lstm_size: int | None = None
    """LSTM hidden size."""
    log_std_init: float | None = None
    """Initial log standard deviation of Gaussian policies."""

    # ---- test runs, checkpoints, logs ---------------------------------------------------
    eval_every: int | None = None
    """Run test episodes every this many env steps (0: never)."""
    eval_episodes: int | None = None
    """Episodes per test run (deterministic policy)."""
    checkpoint_every_s: float = 60.0
    """Write ``checkpoints/latest.pt`` this often (and always at the end)."""
    vector_env: str = "auto"
    """``auto`` (native numpy envs where they exist), ``native`` or ``gymnasium``."""
    start_method: str | None = None
    """Multiprocessing start method for worker processes (default: fork on Linux, else spawn)."""
    tensorboard: bool = True
    """Write TensorBoard event files."""
    progress: bool = True
    """Print the live progress line."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown config keys {unknown}")
        return cls(**data)


# Per-(algo, env) defaults; "discrete"/"continuous" entries cover every other env.
_COMMON: dict[str, Any] = dict(
    lr_schedule="constant", gamma=0.99, gae_lambda=1.0, entropy_coef=0.01, value_coef=0.5,
    max_grad_norm=0.5, normalize_advantages=False, reward_scale=1.0, optimizer="rmsprop",
    optimizer_eps=1e-5, rms_alpha=0.99, shared_optimizer=True, hidden=[64, 64], activation="tanh",
    lstm=False, lstm_size=64, log_std_init=0.0, eval_episodes=10, torso="auto",
    batch_rollouts=1, slots_per_actor=2, rho_bar=1.0, c_bar=1.0, pg_rho_bar=1.0, targets="vtrace",
    clip_range=0.2, epochs=1, minibatches=1, kl_coef=0.0, max_policy_lag=0, device="cpu",
)
_FEUDAL: dict[str, Any] = dict(runtime="hogwild", worker_gamma=0.95, intrinsic_coef=0.5, feudal_dim=256, goal_dim=16,
                               dilation=10, horizon=10)
"""FeUdal's own settings (only feudal runs get them, so other runs' config.json stays free of them)."""
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("a3c", "discrete"): dict(num_envs=1, n_steps=5, lr=7e-4, total_steps=1_000_000, eval_every=100_000),
    ("a3c", "continuous"): dict(num_envs=1, n_steps=5, lr=3e-4, entropy_coef=0.0, total_steps=1_000_000,
                                eval_every=100_000),
    ("a2c", "discrete"): dict(num_envs=16, n_steps=5, lr=7e-4, total_steps=1_000_000, eval_every=100_000),
    ("a2c", "continuous"): dict(num_envs=16, n_steps=8, lr=7e-4, entropy_coef=0.0, total_steps=1_000_000,
                                eval_every=100_000),
    ("impala", "discrete"): dict(num_envs=32, n_steps=20, lr=6e-4, total_steps=1_000_000, eval_every=100_000),
    ("impala", "continuous"): dict(num_envs=32, n_steps=20, lr=3e-4, entropy_coef=0.0, total_steps=1_000_000,
                                   eval_every=100_000),
    ("appo", "discrete"): dict(num_envs=32, n_steps=16, lr=3e-4, optimizer="adam", optimizer_eps=1e-8, epochs=2,
                               minibatches=2, total_steps=1_000_000, eval_every=100_000),
    ("appo", "continuous"): dict(num_envs=32, n_steps=16, lr=3e-4, optimizer="adam", optimizer_eps=1e-8,
                                 entropy_coef=0.0, epochs=2, minibatches=2, total_steps=1_000_000,
                                 eval_every=100_000),
    ("a3c-ps", "discrete"): dict(num_envs=1, n_steps=5, lr=7e-4, total_steps=1_000_000, eval_every=100_000),
    ("a3c-ps", "continuous"): dict(num_envs=1, n_steps=5, lr=3e-4, entropy_coef=0.0, total_steps=1_000_000,
                                   eval_every=100_000),
    # FeUdal: the paper's d = 256, k = 16, r = c = 10, discounts 0.99 (Manager) and 0.95 (Worker);
    # rollouts of 4c steps so most steps see a whole c-step displacement; alpha 0.5 from the paper's
    # range [0, 1]. With --runtime sync num_envs is the total, as for A2C.
    ("feudal", "discrete"): dict(num_envs=16, n_steps=40, lr=7e-4, max_grad_norm=40.0, total_steps=1_000_000,
                                 eval_every=100_000, **_FEUDAL),
    ("feudal", "atari"): dict(num_envs=4, n_steps=40, lr=7e-4, max_grad_norm=40.0, total_steps=10_000_000,
                              eval_every=500_000, **_FEUDAL),
    # Tuned on 2 cores (BENCHMARKS.md): larger batches with a larger learning rate, no entropy bonus.
    # RMSprop eps 3e-3 (the floor of its denominator, BENCHMARKS.md "Defaults that hold"): once CartPole is
    # solved the policy gradient is mostly noise, and with eps 1e-5 RMSprop rescaled that noise to full-size
    # steps, so 8 of 15 runs fell below 100 within 1M steps of solving; with 3e-3 the steps shrink with the
    # gradient and every run holds, at about the same speed to solve.
    ("a3c", "CartPole-v1"): dict(num_envs=32, n_steps=5, lr=4e-3, optimizer_eps=3e-3, entropy_coef=0.0,
                                 total_steps=500_000, eval_every=50_000),
    ("a2c", "CartPole-v1"): dict(num_envs=64, n_steps=5, lr=5e-3, optimizer_eps=3e-3, entropy_coef=0.0,
                                 total_steps=500_000, eval_every=50_000),
    # Atari (any ALE game, standard preprocessing), from the papers and RL Zoo, not yet tuned here:
    # A2C as RL Zoo's Atari A2C (16 envs x 5 steps, lr 7e-4, entropy 0.01, vf_coef 0.25, SB3's
    # RMSpropTFLike with eps 1e-5): rmsprop-tf, and value_coef 0.5 because asyncrl's value loss is
    # 0.5 * MSE * value_coef while SB3's is vf_coef * MSE, so 0.5 here weighs the squared error by 0.25 as there;
    # A3C's t_max 5 and entropy 0.01 (Mnih et al., 2016); IMPALA's unroll 20, RMSprop 6e-4, entropy 0.01
    # and gradient clip 40 (Espeholt et al., 2018), but RMSprop eps 1e-5 instead of the paper's 0.01,
    # which suits its summed losses: with asyncrl's mean-reduced losses it shrank every step about 100x
    # and Pong stayed at -20 for 3M frames; APPO with PPO's Atari Adam 2.5e-4 and clip 0.1 (Schulman
    # et al., 2017), one epoch (Sample Factory's default). LSTM cores of 256 as in A3C.
    ("a2c", "atari"): dict(lstm_size=256, num_envs=16, n_steps=5, lr=7e-4, value_coef=0.5, optimizer="rmsprop-tf",
                           total_steps=10_000_000,
                           eval_every=500_000),
    ("a3c", "atari"): dict(lstm_size=256, num_envs=4, n_steps=5, lr=7e-4, max_grad_norm=40.0, total_steps=10_000_000,
                           eval_every=500_000),
    ("a3c-ps", "atari"): dict(lstm_size=256, num_envs=4, n_steps=5, lr=7e-4, max_grad_norm=40.0, total_steps=10_000_000,
                              eval_every=500_000),
    ("impala", "atari"): dict(lstm_size=256, num_envs=16, n_steps=20, lr=6e-4, optimizer_eps=1e-5, max_grad_norm=40.0,
                              total_steps=10_000_000, eval_every=500_000),
    ("appo", "atari"): dict(lstm_size=256, num_envs=16, n_steps=32, lr=2.5e-4, optimizer="adam", optimizer_eps=1e-5,
                            clip_range=0.1, total_steps=10_000_000, eval_every=500_000),
    # Actor-learner algorithms on CartPole, tuned on 2 cores (BENCHMARKS.md): one actor of 64 envs.
    # The optimizer's eps as for A3C above: IMPALA's RMSprop 5e-3 (with 1e-3 2 of 3 seeds still fell after
    # solving, with 3e-3 1 of 5 dipped to 418, and its former entropy bonus of 0.01 did not stop the fall);
    # APPO's Adam 1e-3 (with 1e-8, 1e-5 and 1e-4 one run in 5 dropped below 210 after solving each time;
    # halving the lr did not help).
    ("impala", "CartPole-v1"): dict(num_envs=64, n_steps=10, lr=4e-3, optimizer_eps=5e-3, entropy_coef=0.0,
                                    total_steps=500_000, eval_every=50_000),
    ("appo", "CartPole-v1"): dict(num_envs=64, n_steps=10, lr=3e-3, optimizer_eps=1e-3, entropy_coef=0.0, epochs=2,
                                  minibatches=2, total_steps=500_000, eval_every=50_000),
    ("a3c-ps", "CartPole-v1"): dict(num_envs=32, n_steps=5, lr=4e-3, optimizer_eps=3e-3, entropy_coef=0.0,
                                    total_steps=500_000, eval_every=50_000),
    # Pendulum: short horizon (gamma 0.9), rewards scaled to ~[-1.6, 0], Adam, normalised advantages,
    # learning rate decayed linearly to 0 at total_steps (BENCHMARKS.md: more seeds solve than with a constant lr).
    ("a3c", "Pendulum-v1"): dict(num_envs=32, n_steps=10, gamma=0.9, gae_lambda=0.9, lr=2e-3, reward_scale=0.1,
                                 lr_schedule="linear",
                                 log_std_init=-0.5, optimizer="adam", optimizer_eps=1e-8,
                                 normalize_advantages=True, total_steps=2_000_000, eval_every=100_000),
    ("a2c", "Pendulum-v1"): dict(num_envs=32, n_steps=10, gamma=0.9, gae_lambda=0.9, lr=2e-3, reward_scale=0.1,
                                 lr_schedule="linear",
                                 log_std_init=-0.5, optimizer="adam", optimizer_eps=1e-8,
                                 normalize_advantages=True, total_steps=2_000_000, eval_every=100_000),
    # APPO on Pendulum: the A2C settings above with 64 envs, one epoch of one minibatch per batch
    # (Sample Factory's default too): more env steps than several epochs, but less wall time (BENCHMARKS.md).
    ("appo", "Pendulum-v1"): dict(num_envs=64, n_steps=10, gamma=0.9, gae_lambda=0.9, lr=3e-3, reward_scale=0.1,
                                  lr_schedule="linear", log_std_init=-0.5, optimizer="adam", optimizer_eps=1e-8,
                                  normalize_advantages=True, epochs=1, minibatches=1, total_steps=2_000_000,
                                  eval_every=100_000),
}


def _usable_cores() -> int:
    """Cores this process may run on (respects CPU affinity, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_run_dir(cfg: TrainConfig) -> str:
    import time

    env = cfg.env.replace("/", "_").replace(":", "_")
    return os.path.join("runs", f"{cfg.algo}-{env}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}")


ONLY_FOR: dict[str, tuple[str, ...]] = {
    "batch_rollouts": ACTOR_LEARNER_ALGOS, "slots_per_actor": ACTOR_LEARNER_ALGOS,
    "max_policy_lag": ACTOR_LEARNER_ALGOS, "rho_bar": ("impala", "appo"), "c_bar": ("impala", "appo"),
    "pg_rho_bar": ("impala",), "targets": ("appo",), "clip_range": ("appo",), "epochs": ("appo",),
    "minibatches": ("appo",), "kl_coef": ("appo",), "device": ("impala", "appo"), "shared_optimizer": ("a3c", "feudal"),
    "lstm": ("a3c", "a2c", *ACTOR_LEARNER_ALGOS), "lstm_size": ("a3c", "a2c", *ACTOR_LEARNER_ALGOS),
    "log_std_init": ("a3c", "a2c", *ACTOR_LEARNER_ALGOS),
    **{name: ("feudal",) for name in ("runtime", "worker_gamma", "intrinsic_coef", "feudal_dim", "goal_dim",
                                      "dilation", "horizon")},
}
"""Settings that only some algorithms use; giving one to another algorithm is an error, not a no-op."""


ATARI_FIELDS = ("noop_max", "episodic_life", "clip_rewards", "fire_reset", "sticky_actions", "full_action_space",
                "atari_eval")
"""Config fields that set :class:`~asyncrl.envs.atari.AtariOptions`."""


def env_options(cfg: TrainConfig | dict) -> dict:
    """The env construction options a config (or its JSON dict) sets: Atari preprocessing settings."""
    data = cfg if isinstance(cfg, dict) else asdict(cfg)
    return {k: data[k] for k in ATARI_FIELDS if data.get(k) is not None}


def check_applicable(cfg: TrainConfig) -> None:
    """Refuse settings the chosen algorithm would ignore (call on a user's config, before :func:`resolve`)."""
    _check_types(cfg)
    if cfg.algo not in ALGOS:
        raise UsageError(f"--algo {cfg.algo!r} is not supported (allowed: {', '.join(ALGOS)})")
    from asyncrl.envs.atari import atari_game

    if atari_game(cfg.env) is None:
        for name in ATARI_FIELDS:
            if getattr(cfg, name) is not None:
                raise UsageError(f"--{name.replace('_', '-')} applies to Atari games only, not --env {cfg.env}")
    for name, algos in ONLY_FOR.items():
        if getattr(cfg, name) is not None and cfg.algo not in algos:
            raise UsageError(f"--{name.replace('_', '-')} does not apply to --algo {cfg.algo} "
                             f"(it is used by: {', '.join(algos)})")
    if cfg.algo == "feudal" and cfg.runtime == "sync" and cfg.shared_optimizer is not None:
        raise UsageError("--shared-optimizer does not apply to --algo feudal --runtime sync (one process, "
                         "one optimizer)")


def resolve(cfg: TrainConfig, action_family: str) -> TrainConfig:
    """Fill every ``None`` field from :data:`DEFAULTS` and validate; returns a new config."""
    if cfg.algo not in ALGOS:
        raise UsageError(f"--algo {cfg.algo!r} is not supported (allowed: {', '.join(ALGOS)})")
    values = dict(_COMMON)
    if (cfg.algo, action_family) not in DEFAULTS:
        raise UsageError(f"--algo {cfg.algo} needs a discrete action space; --env {cfg.env} has "
                         f"{action_family} actions")
    values.update(DEFAULTS[(cfg.algo, action_family)])
    values.update(DEFAULTS.get((cfg.algo, cfg.env), {}))
    if cfg.algo in ("a3c", "a3c-ps") or (cfg.algo == "feudal" and (cfg.runtime or "hogwild") == "hogwild"):
        values["workers"] = _usable_cores()
    elif cfg.algo in ACTOR_LEARNER_ALGOS:
        values["workers"] = max(1, _usable_cores() - 1)  # the learner takes a core
    else:
        values["workers"] = 1
    values["start_method"] = "fork" if os.name == "posix" and hasattr(os, "fork") else "spawn"
    data = asdict(cfg)
    for k, v in data.items():
        if v is None and k in values:
            data[k] = values[k]
    if data["run_dir"] is None:
        data["run_dir"] = default_run_dir(cfg)
    out = TrainConfig(**data)
    validate(out)
    return out


def _flag(name: str) -> str:
    """The command-line flag of a config field."""
    return "--checkpoint-every" if name == "checkpoint_every_s" else "--" + name.replace("_", "-")


def _check_types(cfg: TrainConfig) -> None:
    """Every field holds its annotated type (the Python API passes values argparse never saw)."""
    for f in fields(cfg):
        parts = [p.strip() for p in str(f.type).split("|")]
        kinds = [p for p in parts if p != "None"]
        v = getattr(cfg, f.name)
        if len(kinds) != 1 or (v is None and "None" in parts):
            continue
        kind, flag = kinds[0], _flag(f.name)
        if kind == "int" and (isinstance(v, bool) or not isinstance(v, int)):
            raise UsageError(f"{flag} must be an integer, got {v!r}")
        if kind == "float" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise UsageError(f"{flag} must be a number, got {v!r}")
        if kind == "str" and not isinstance(v, str):
            raise UsageError(f"{flag} must be a string, got {v!r}")
        if kind == "bool" and not isinstance(v, bool):
            raise UsageError(f"{flag} must be true or false, got {v!r}")
        if kind == "list[int]" and (not isinstance(v, (list, tuple))
                                    or any(isinstance(h, bool) or not isinstance(h, int) for h in v)):
            raise UsageError(f"{flag} must be a list of integers, got {v!r}")


def _check_numbers(cfg: TrainConfig) -> None:
    """Ranges of the numeric settings (:mod:`asyncrl.limits`): finite floats, generous upper bounds."""
    from asyncrl import limits as L

    ints = dict(seed=(0, L.MAX_SEED), workers=(1, L.MAX_WORKERS), num_envs=(1, L.MAX_ENVS),
                total_steps=(1, L.MAX_STEPS), n_steps=(1, L.MAX_N_STEPS), batch_rollouts=(1, L.MAX_BATCH_SAMPLES),
                slots_per_actor=(1, L.MAX_SLOTS), epochs=(1, L.MAX_EPOCHS), minibatches=(1, L.MAX_BATCH_SAMPLES),
                max_policy_lag=(0, L.MAX_POLICY_LAG), feudal_dim=(1, L.MAX_WIDTH), goal_dim=(1, L.MAX_WIDTH),
                dilation=(1, L.MAX_DILATION), horizon=(1, L.MAX_N_STEPS), noop_max=(0, L.MAX_NOOPS),
                lstm_size=(1, L.MAX_WIDTH), eval_every=(0, L.MAX_STEPS), eval_episodes=(1, L.MAX_EPISODES))
    for name, (lo, hi) in ints.items():
        if getattr(cfg, name) is not None:
            L.need_int(_flag(name), getattr(cfg, name), lo, hi)
    positive = dict(lo=0.0, lo_open=True)
    floats: dict[str, dict] = dict(
        target_return=dict(what="a finite number (omit it to stop at --total-steps)"),
        max_seconds=dict(positive, what="a finite positive number (omit it for no time limit)"),
        lr=dict(positive, hi=L.MAX_LR), gamma=dict(lo=0.0, hi=1.0),
        gae_lambda=dict(lo=0.0, hi=1.0), worker_gamma=dict(lo=0.0, hi=1.0), entropy_coef=dict(lo=0.0),
        value_coef=dict(lo=0.0), max_grad_norm=dict(lo=0.0), kl_coef=dict(lo=0.0), intrinsic_coef=dict(lo=0.0),
        reward_scale=positive, optimizer_eps=positive, rms_alpha=dict(lo=0.0, hi=1.0, hi_open=True),
        rho_bar=positive, c_bar=positive, pg_rho_bar=positive, clip_range=positive,
        sticky_actions=dict(lo=0.0, hi=1.0, what="a probability in [0, 1]"),
        log_std_init=dict(lo=-L.MAX_LOG_STD, hi=L.MAX_LOG_STD), checkpoint_every_s=positive)
    for name, rule in floats.items():
        if getattr(cfg, name) is not None:
            L.need_float(_flag(name), getattr(cfg, name), **rule)
    if cfg.hidden is not None and not (1 <= len(cfg.hidden) <= L.MAX_LAYERS
                                       and all(1 <= h <= L.MAX_WIDTH for h in cfg.hidden)):
        raise UsageError(f"--hidden must be 1 to {L.MAX_LAYERS} layer sizes, each a positive integer up to "
                         f"{L.MAX_WIDTH:,}, got {list(cfg.hidden)}")
    if cfg.num_envs is not None and cfg.n_steps is not None:
        rollouts = cfg.batch_rollouts if cfg.algo in ACTOR_LEARNER_ALGOS and cfg.batch_rollouts else 1
        samples = cfg.num_envs * cfg.n_steps * rollouts
        if samples > L.MAX_BATCH_SAMPLES:
            names = "--num-envs x --n-steps" + (" x --batch-rollouts" if rollouts > 1 else "")
            raise UsageError(f"{names} = {samples:,} samples per update, more than the {L.MAX_BATCH_SAMPLES:,} "
                             f"allowed (use fewer envs or shorter rollouts)")


def validate(cfg: TrainConfig) -> None:
    """Raise :class:`UsageError` naming the first bad value and what is allowed."""

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise UsageError(msg)

    _check_types(cfg)
    need(cfg.algo in ALGOS, f"--algo {cfg.algo!r} is not supported (allowed: {', '.join(ALGOS)})")
    need(cfg.env.strip() != "", "--env must not be empty (allowed: a Gymnasium id, or package.module:EnvClass)")
    need(cfg.run_dir is None or cfg.run_dir.strip() != "", "--run-dir must not be empty (a folder for the run)")
    _check_numbers(cfg)
    need(cfg.vector_env in VECTOR_IMPLS,
         f"--vector-env {cfg.vector_env!r} is not supported (allowed: {', '.join(VECTOR_IMPLS)})")
    need(cfg.optimizer is None or cfg.optimizer in OPTIMIZERS,
         f"--optimizer {cfg.optimizer!r} is not supported (allowed: {', '.join(OPTIMIZERS)})")
    need(cfg.lr_schedule is None or cfg.lr_schedule in LR_SCHEDULES,
         f"--lr-schedule {cfg.lr_schedule!r} is not supported (allowed: {', '.join(LR_SCHEDULES)})")
    need(cfg.activation is None or cfg.activation in ("tanh", "relu", "elu"),
         f"--activation {cfg.activation!r} is not supported (allowed: tanh, relu, elu)")
    need(cfg.torso is None or cfg.torso in TORSOS,
         f"--torso {cfg.torso!r} is not supported (allowed: {', '.join(TORSOS)})")
    need(cfg.targets is None or cfg.targets in TARGETS,
         f"--targets {cfg.targets!r} is not supported (allowed: {', '.join(TARGETS)})")
    need(cfg.atari_eval is None or cfg.atari_eval in ATARI_EVAL,
         f"--atari-eval {cfg.atari_eval!r} is not supported (allowed: {', '.join(ATARI_EVAL)})")
    if cfg.algo == "appo" and None not in (cfg.minibatches, cfg.num_envs, cfg.batch_rollouts, cfg.n_steps):
        columns = cfg.num_envs * cfg.batch_rollouts
        if cfg.lstm:
            need(cfg.minibatches <= columns,
                 f"--minibatches {cfg.minibatches} is more than the {columns} env columns of a batch "
                 f"(--num-envs x --batch-rollouts; an LSTM model splits by env); allowed: 1 to {columns}")
        else:
            samples = columns * cfg.n_steps
            need(cfg.minibatches <= samples,
                 f"--minibatches {cfg.minibatches} is more than the {samples} samples of a batch "
                 f"(--num-envs x --n-steps x --batch-rollouts); allowed: 1 to {samples}")
    need(cfg.device is None or cfg.device in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", cfg.device),
         f"--device {cfg.device!r} is not supported (allowed: cpu, cuda, cuda:N, auto)")
    if cfg.device is not None and cfg.device.startswith("cuda"):
        import torch

        need(torch.cuda.is_available(), f"--device {cfg.device}: no CUDA device is available to this PyTorch "
                                        f"(allowed here: cpu or auto)")
        n = torch.cuda.device_count()
        need(cfg.device == "cuda" or int(cfg.device[5:]) < n,
             f"--device {cfg.device}: this machine has {n} CUDA device(s) (allowed: cuda:0 to cuda:{n - 1})")
    need(not cfg.serial or cfg.algo in ACTOR_LEARNER_ALGOS,
         f"--serial applies to the actor-learner algorithms only ({', '.join(ACTOR_LEARNER_ALGOS)}), "
         f"not --algo {cfg.algo}")
    need(not cfg.restart_actors or cfg.algo in ACTOR_LEARNER_ALGOS,
         f"--restart-actors applies to the actor-learner algorithms only ({', '.join(ACTOR_LEARNER_ALGOS)}), "
         f"not --algo {cfg.algo}")
    if cfg.algo in ACTOR_LEARNER_ALGOS and None not in (cfg.workers, cfg.slots_per_actor, cfg.batch_rollouts):
        need(cfg.batch_rollouts <= cfg.workers * cfg.slots_per_actor,
             f"--batch-rollouts {cfg.batch_rollouts} is more than the {cfg.workers * cfg.slots_per_actor} slots "
             f"(--workers x --slots-per-actor) that exist; allowed: 1 to {cfg.workers * cfg.slots_per_actor}")
    need(cfg.runtime is None or cfg.runtime in RUNTIMES,
         f"--runtime {cfg.runtime!r} is not supported (allowed: {', '.join(RUNTIMES)})")
    need(cfg.horizon is None or cfg.n_steps is None or cfg.horizon <= cfg.n_steps,
         f"--horizon {cfg.horizon} is longer than --n-steps {cfg.n_steps}: every c-step displacement would be cut "
         f"at the rollout's end (allowed: --horizon 1 to {cfg.n_steps}, or a longer --n-steps)")
    need(cfg.algo != "feudal" or cfg.runtime != "sync" or cfg.workers in (None, 1),
         f"--workers {cfg.workers}: --algo feudal --runtime sync runs in one process (use --runtime hogwild "
         f"for worker processes)")
    need(cfg.start_method is None or cfg.start_method in START_METHODS,
         f"--start-method {cfg.start_method!r} is not supported (allowed: {', '.join(START_METHODS)})")
