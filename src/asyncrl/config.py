"""The typed training configuration, its per-env defaults and its validation.

Every field left as ``None`` is filled by :func:`resolve` from the algorithm's defaults
(:attr:`asyncrl.algos.base.Algorithm.defaults`: the row of the env id over the row of the env family)
over :data:`_COMMON`, so a user only names what they want to change. The resolved config is saved as ``config.json``
beside every run and is enough to reproduce it.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

import torch

from asyncrl import limits as L
from asyncrl.algos import ALGORITHMS, get_algorithm
from asyncrl.algos.base import gradient_actor, runtime_of
from asyncrl.envs.atari import ATARI_EVAL
from asyncrl.envs.base import all_option_fields, family_of, make_options
from asyncrl.envs.vector import VECTOR_IMPLS
from asyncrl.errors import UsageError

TARGETS = ("vtrace", "gae")
TORSOS = ("auto", "mlp", "a3c-cnn", "nature-cnn", "impala-cnn")
OPTIMIZERS = ("rmsprop", "rmsprop-tf", "adam")
LR_SCHEDULES = ("constant", "linear")
START_METHODS = ("fork", "spawn", "forkserver")
FAMILY_NAMES = {"atari": "Atari games", "doom": "ViZDoom scenarios", "minigrid": "MiniGrid envs"}
"""How error messages name env families."""
RUNTIMES = ("hogwild", "sync")
"""``--runtime`` choices (for an algorithm with more than one: FeUdal)."""


RESUMABLE = {"resume": True}
"""Field metadata of the settings a resumed run may change (budgets, evaluation, logging, workers)."""


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
    workers: int | None = field(default=None, metadata=RESUMABLE)
    """A3C worker processes or actor processes of the actor-learner algorithms (default: the
    machine's cores; one fewer for impala and appo, whose learner takes a core). A2C runs in one
    process."""
    num_envs: int | None = None
    """Envs stepped together with one batched forward: per worker/actor, or in total (A2C)."""
    seed: int = 0
    """Seed of the model initialisation, the envs and the action sampling."""
    total_steps: int | None = field(default=None, metadata=RESUMABLE)
    """Budget of env steps (all workers together)."""
    target_return: float | None = field(default=None, metadata=RESUMABLE)
    """Stop when the mean return of the last 100 training episodes reaches this."""
    max_seconds: float | None = field(default=None, metadata=RESUMABLE)
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
    max_policy_lag: int | None = field(default=None, metadata=RESUMABLE)
    """Drop samples produced by a policy more than this many updates old (0: keep all)."""
    restart_actors: bool = field(default=False, metadata=RESUMABLE)
    """Restart an actor that raises or dies (counted in the logs) instead of ending the run."""
    device: str | None = field(default=None, metadata=RESUMABLE)
    """IMPALA/APPO: where the learner computes: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (cuda when
    available). Actors always act on the CPU."""
    serial: bool = field(default=False, metadata=RESUMABLE)
    """Run the workers (Hogwild) or the actors and learner (actor-learner) in one process, taking turns
    (debugging, determinism)."""

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
    atari_eval: str | None = field(default=None, metadata=RESUMABLE)
    """Atari: how evaluations (and ``asyncrl eval``/``record`` unless they override it) play: ``game``
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

    # ---- evaluation, checkpoints, logs ---------------------------------------------------
    eval_every: int | None = field(default=None, metadata=RESUMABLE)
    """Evaluate (deterministic episodes in a separate process) every this many env steps (0: never)."""
    eval_episodes: int | None = field(default=None, metadata=RESUMABLE)
    """Episodes per evaluation (deterministic policy)."""
    checkpoint_every_s: float = field(default=60.0, metadata=RESUMABLE)
    """Write ``checkpoints/latest.pt`` this often (and always at the end)."""
    vector_env: str = "auto"
    """``auto`` (native numpy envs where they exist), ``native`` or ``gymnasium``."""
    start_method: str | None = field(default=None, metadata=RESUMABLE)
    """Multiprocessing start method for worker processes (default: fork on Linux, else spawn)."""
    tensorboard: bool = field(default=True, metadata=RESUMABLE)
    """Write TensorBoard event files."""
    progress: bool = field(default=True, metadata=RESUMABLE)
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


_COMMON: dict[str, Any] = dict(
    lr_schedule="constant", gamma=0.99, gae_lambda=1.0, entropy_coef=0.01, value_coef=0.5,
    max_grad_norm=0.5, normalize_advantages=False, reward_scale=1.0, optimizer="rmsprop",
    optimizer_eps=1e-5, rms_alpha=0.99, shared_optimizer=True, hidden=[64, 64], activation="tanh",
    lstm=False, lstm_size=64, log_std_init=0.0, eval_episodes=10, torso="auto",
    batch_rollouts=1, slots_per_actor=2, rho_bar=1.0, c_bar=1.0, pg_rho_bar=1.0, targets="vtrace",
    clip_range=0.2, epochs=1, minibatches=1, kl_coef=0.0, max_policy_lag=0, device="cpu",
)
"""Defaults under every algorithm's own (its ``defaults``, in its file under ``algos/``)."""
def _usable_cores() -> int:
    """Cores this process may run on (respects CPU affinity, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_run_dir(cfg: TrainConfig) -> str:
    env = cfg.env.replace("/", "_").replace(":", "_")
    return os.path.join("runs", f"{cfg.algo}-{env}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}")


def only_for() -> dict[str, tuple[str, ...]]:
    """Settings that only some algorithms use (each registered algorithm's ``fields``), with their users;
    giving one to another algorithm is an error, not a no-op."""
    algos = ALGORITHMS.values()
    return {name: tuple(a.name for a in algos if name in a.fields)
            for name in dict.fromkeys(f for a in algos for f in a.fields)}


def algos_on(runtime: str) -> tuple[str, ...]:
    """The registered algorithms that run on ``runtime``."""
    return tuple(a.name for a in ALGORITHMS.values() if runtime in a.runtimes)


def _check_algo(cfg: TrainConfig) -> None:
    get_algorithm(cfg.algo)  # a UsageError naming the choices for an unknown one


def env_options(cfg: TrainConfig | dict) -> Any:
    """The typed construction options a config (or its JSON dict) sets for its env's family
    (:class:`~asyncrl.envs.atari.AtariOptions` for Atari; ``None`` for a family without options)."""
    data = cfg if isinstance(cfg, dict) else asdict(cfg)
    return make_options(family_of(data["env"]), data)


def not_applicable(name: str, algo: str, env: str) -> str | None:
    """Why setting ``name`` does not apply to ``--algo algo --env env`` (it belongs to another env family or
    to other algorithms), or ``None`` if it does."""
    owner = all_option_fields().get(name)
    if owner is not None and owner is not family_of(env):
        return f"{flag_of(name)} applies to {FAMILY_NAMES.get(owner.name, owner.name)} only, not --env {env}"
    users = only_for().get(name)
    if users is not None and algo not in users:
        return f"{flag_of(name)} does not apply to --algo {algo} (it is used by: {', '.join(users)})"
    return None


def check_applicable(cfg: TrainConfig) -> None:
    """Refuse settings the chosen algorithm would ignore (call on a user's config, before :func:`resolve`)."""
    _check_types(cfg)
    _check_algo(cfg)
    for name in (*all_option_fields(), *only_for()):
        if getattr(cfg, name) is not None and (why := not_applicable(name, cfg.algo, cfg.env)):
            raise UsageError(why)
    runtime = runtime_of(ALGORITHMS[cfg.algo], cfg.runtime)
    if runtime != "hogwild" and cfg.shared_optimizer is not None:
        raise UsageError(f"--shared-optimizer does not apply to --algo {cfg.algo} --runtime {runtime} (one process, "
                         f"one optimizer)")


def resolve(cfg: TrainConfig, action_family: str) -> TrainConfig:
    """Fill every ``None`` field from :data:`DEFAULTS` and validate; returns a new config."""
    _check_algo(cfg)
    algo = ALGORITHMS[cfg.algo]
    values = dict(_COMMON)
    if action_family not in algo.defaults:
        raise UsageError(f"--algo {cfg.algo} needs a discrete action space; --env {cfg.env} has "
                         f"{action_family} actions")
    values.update(algo.defaults[action_family])
    values.update(algo.defaults.get(cfg.env, {}))
    runtime = runtime_of(algo, cfg.runtime or values.get("runtime"))
    if runtime == "hogwild" or (runtime == "actor-learner" and gradient_actor(algo) is not None):
        values["workers"] = _usable_cores()  # (a3c-ps: the learner only applies the actors' gradients)
    elif runtime == "actor-learner":
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


def flag_of(name: str) -> str:
    """The command-line flag of a config field."""
    return "--checkpoint-every" if name == "checkpoint_every_s" else "--" + name.replace("_", "-")


def field_kind(f: Field) -> str:
    """A config field's type without ``| None``, as written: ``int``, ``float``, ``str``, ``bool``, ``list[int]``."""
    return next(p.strip() for p in str(f.type).split("|") if p.strip() != "None")


def _check_types(cfg: TrainConfig) -> None:
    """Every field holds its annotated type (the Python API passes values argparse never saw)."""
    for f in fields(cfg):
        kind, v = field_kind(f), getattr(cfg, f.name)
        if v is None and "None" in str(f.type):
            continue
        flag = flag_of(f.name)
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
    ints = dict(seed=(0, L.MAX_SEED), workers=(1, L.MAX_WORKERS), num_envs=(1, L.MAX_ENVS),
                total_steps=(1, L.MAX_STEPS), n_steps=(1, L.MAX_N_STEPS), batch_rollouts=(1, L.MAX_BATCH_SAMPLES),
                slots_per_actor=(1, L.MAX_SLOTS), epochs=(1, L.MAX_EPOCHS), minibatches=(1, L.MAX_BATCH_SAMPLES),
                max_policy_lag=(0, L.MAX_POLICY_LAG), feudal_dim=(1, L.MAX_WIDTH), goal_dim=(1, L.MAX_WIDTH),
                dilation=(1, L.MAX_DILATION), horizon=(1, L.MAX_N_STEPS), noop_max=(0, L.MAX_NOOPS),
                lstm_size=(1, L.MAX_WIDTH), eval_every=(0, L.MAX_STEPS), eval_episodes=(1, L.MAX_EPISODES))
    for name, (lo, hi) in ints.items():
        if getattr(cfg, name) is not None:
            L.need_int(flag_of(name), getattr(cfg, name), lo, hi)
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
            L.need_float(flag_of(name), getattr(cfg, name), **rule)
    if cfg.hidden is not None and not (1 <= len(cfg.hidden) <= L.MAX_LAYERS
                                       and all(1 <= h <= L.MAX_WIDTH for h in cfg.hidden)):
        raise UsageError(f"--hidden must be 1 to {L.MAX_LAYERS} layer sizes, each a positive integer up to "
                         f"{L.MAX_WIDTH:,}, got {list(cfg.hidden)}")
    if cfg.num_envs is not None and cfg.n_steps is not None:
        on_slots = cfg.algo in algos_on("actor-learner")
        rollouts = cfg.batch_rollouts if on_slots and cfg.batch_rollouts else 1
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
    _check_algo(cfg)
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
    need(cfg.device is None or cfg.device in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", cfg.device),
         f"--device {cfg.device!r} is not supported (allowed: cpu, cuda, cuda:N, auto)")
    if cfg.device is not None and cfg.device.startswith("cuda"):
        need(torch.cuda.is_available(), f"--device {cfg.device}: no CUDA device is available to this PyTorch "
                                        f"(allowed here: cpu or auto)")
        n = torch.cuda.device_count()
        need(cfg.device == "cuda" or int(cfg.device[5:]) < n,
             f"--device {cfg.device}: this machine has {n} CUDA device(s) (allowed: cuda:0 to cuda:{n - 1})")
    need(cfg.runtime is None or cfg.runtime in RUNTIMES,
         f"--runtime {cfg.runtime!r} is not supported (allowed: {', '.join(RUNTIMES)})")
    algo = ALGORITHMS[cfg.algo]
    runtime = runtime_of(algo, cfg.runtime)
    serial_algos = dict.fromkeys((*algos_on("hogwild"), *algos_on("actor-learner")))
    need(not cfg.serial or runtime in ("hogwild", "actor-learner"),
         f"--serial applies to the Hogwild and actor-learner runtimes only ({', '.join(serial_algos)}), "
         f"not --algo {cfg.algo} (on the {runtime} runtime, already one process)")
    need(not cfg.restart_actors or runtime == "actor-learner",
         f"--restart-actors applies to the actor-learner algorithms only ({', '.join(algos_on('actor-learner'))}), "
         f"not --algo {cfg.algo}")
    if runtime == "actor-learner" and None not in (cfg.workers, cfg.slots_per_actor, cfg.batch_rollouts):
        need(cfg.batch_rollouts <= cfg.workers * cfg.slots_per_actor,
             f"--batch-rollouts {cfg.batch_rollouts} is more than the {cfg.workers * cfg.slots_per_actor} slots "
             f"(--workers x --slots-per-actor) that exist; allowed: 1 to {cfg.workers * cfg.slots_per_actor}")
    if check := getattr(algo, "check", None):
        check(cfg)  # the algorithm's own rules (e.g. APPO's minibatches, FeUdal's horizon)
    need(cfg.start_method is None or cfg.start_method in START_METHODS,
         f"--start-method {cfg.start_method!r} is not supported (allowed: {', '.join(START_METHODS)})")
