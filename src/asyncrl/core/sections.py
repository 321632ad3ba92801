"""The shared sections of the config tree and the tree itself, :class:`RunConfig` (no logic above the data).

A run's settings form a :class:`RunConfig`: the algorithm and env ids, the shared sections defined here
(:class:`RunControl`, :class:`RolloutConfig`, :class:`OptimConfig`, :class:`ModelConfig`, :class:`LossConfig`),
then the runtime's section (its ``config`` class, in its file under ``runtime/``), the algorithm's own section
(its ``config`` class, in its file under ``algos/``) and the env family's (its ``options`` class, under
``envs/``). Every field is declared once with
:func:`~asyncrl.core.settings.setting`: type, default, rule, help. :mod:`asyncrl.config` builds, resolves and
checks the tree and generates the flat view users write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from asyncrl import limits as L
from asyncrl.core.settings import NoSettings, setting
from asyncrl.errors import UsageError

VECTOR_IMPLS = ("auto", "native", "gymnasium", "envpool")
"""``--vector-env`` choices (:mod:`asyncrl.envs.vector`)."""
TORSOS = ("auto", "mlp", "a3c-cnn", "nature-cnn", "impala-cnn")
ACTIVATIONS = ("tanh", "relu", "elu")
OPTIMIZERS = ("rmsprop", "rmsprop-tf", "adam")
LR_SCHEDULES = ("constant", "linear")


# ---- the shared sections -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RunControl:
    """When a run stops, how it is evaluated, where it writes."""

    seed: int = setting(0, lo=0, hi=L.MAX_SEED, fixed=True)
    """Seed of the model initialisation, the envs and the action sampling."""
    total_steps: int = setting(lo=1, hi=L.MAX_STEPS, resume=True)
    """Budget of env steps (all workers together)."""
    target_return: float | None = setting(None, what="a finite number (omit it to stop at --total-steps)", resume=True)
    """Stop when the mean return of the last 100 training episodes reaches this."""
    max_seconds: float | None = setting(
        None, lo=0.0, lo_open=True, resume=True, what="a finite positive number (omit it for no time limit)"
    )
    """Stop after this many seconds of training."""
    run_dir: str = setting()
    """Where logs and checkpoints go (default: ``runs/<algo>-<env>-s<seed>-<time>``)."""
    eval_every: int = setting(lo=0, hi=L.MAX_STEPS, resume=True)
    """Evaluate (deterministic episodes in a separate process) every this many env steps (0: never)."""
    eval_episodes: int = setting(10, lo=1, hi=L.MAX_EPISODES, resume=True)
    """Episodes per evaluation (deterministic policy)."""
    checkpoint_every_s: float = setting(60.0, lo=0.0, lo_open=True, resume=True, fixed=True)
    """Write ``checkpoints/latest.pt`` this often (and always at the end)."""
    tensorboard: bool = setting(True, resume=True, fixed=True)
    """Write TensorBoard event files."""
    progress: bool = setting(True, resume=True, fixed=True)
    """Print the live progress line."""
    capture_video: bool = setting(False, resume=True, fixed=True)
    """Record one deterministic evaluation episode as MP4 (``videos/`` in the run dir, TensorBoard, W&B) in the
    evaluation process, every ``--video-every`` env steps; needs ``--eval-every`` above 0 and the video extra."""
    video_every: int = setting(0, lo=0, hi=L.MAX_STEPS, resume=True, fixed=True)
    """With ``--capture-video``: record at the first evaluation after every this many env steps (0: at every
    evaluation)."""
    wandb: bool = setting(False, resume=True, fixed=True)
    """Log to Weights & Biases too (the wandb extra): TensorBoard's scalars, the config, the curve and the videos;
    ``WANDB_MODE=offline`` works without a network."""
    wandb_project: str = setting("asyncrl", resume=True, fixed=True)
    """With ``--wandb``: the W&B project (the entity and group come from ``WANDB_ENTITY``/``WANDB_RUN_GROUP``)."""

    def check(self) -> None:
        if self.run_dir.strip() == "":
            raise UsageError("--run-dir must not be empty (a folder for the run)")
        if self.capture_video and self.eval_every == 0:
            raise UsageError(
                "--capture-video records in the evaluation process, so it needs --eval-every above 0 (got 0)"
            )
        if self.wandb_project.strip() == "":
            raise UsageError("--wandb-project must not be empty (a W&B project name)")


@dataclass(kw_only=True)
class RolloutConfig:
    """What one rollout is: how many envs step together, for how many steps."""

    num_envs: int = setting(lo=1, hi=L.MAX_ENVS)
    """Envs stepped together with one batched forward: per worker/actor, or in total (A2C)."""
    n_steps: int = setting(lo=1, hi=L.MAX_N_STEPS)
    """Rollout length per update (A3C's t_max)."""
    vector_env: str = setting("auto", choices=VECTOR_IMPLS, fixed=True)
    """``auto`` (native numpy envs where they exist), ``native``, ``gymnasium``, or ``envpool`` (Atari games and MuJoCo
    tasks stepped in C++ threads by EnvPool, the ``envpool`` extra; training envs only)."""


@dataclass(kw_only=True)
class OptimConfig:
    """The optimizer, its learning rate and schedule, and the gradient clip of each step."""

    lr: float = setting(lo=0.0, lo_open=True, hi=L.MAX_LR)
    """Learning rate."""
    lr_schedule: str = setting("constant", choices=LR_SCHEDULES)
    """``constant``, or ``linear`` decay to 0 at ``total_steps``."""
    optimizer: str = setting("rmsprop", choices=OPTIMIZERS)
    """``rmsprop`` (torch's form: eps added to the root), ``rmsprop-tf`` (TensorFlow's form, as in the A3C
    paper and Stable-Baselines3's ``RMSpropTFLike``: eps inside the root, statistics starting at 1) or ``adam``."""
    optimizer_eps: float = setting(1e-5, lo=0.0, lo_open=True)
    """Optimizer epsilon."""
    rms_alpha: float = setting(0.99, lo=0.0, hi=1.0, hi_open=True)
    """RMSprop smoothing constant."""
    max_grad_norm: float = setting(0.5, lo=0.0)
    """Clip each update's gradient to this global norm (0: no clipping)."""


@dataclass(kw_only=True)
class ModelConfig:
    """The network's torso and core (FeUdal's network is its own: see its section)."""

    torso: str = setting("auto", choices=TORSOS)
    """``auto`` (the A3C paper's small CNN for ``[C, H, W]`` images, else an MLP), ``mlp``, ``a3c-cnn``,
    ``nature-cnn`` or ``impala-cnn``."""
    hidden: list[int] = setting([64, 64])
    """Hidden layer sizes of the MLP torso."""
    activation: str = setting("tanh", choices=ACTIVATIONS)
    """``tanh``, ``relu`` or ``elu``."""
    lstm: bool = setting(False)
    """Add an LSTM core after the torso."""
    lstm_size: int = setting(64, lo=1, hi=L.MAX_WIDTH)
    """LSTM hidden size."""
    log_std_init: float = setting(0.0, lo=-L.MAX_LOG_STD, hi=L.MAX_LOG_STD)
    """Initial log standard deviation of Gaussian policies (state-independent, learned)."""
    bounded_mean: bool = setting(False)
    """Continuous actions: squash the Gaussian mean into the action bounds with tanh (the samples around it are
    still clipped to the bounds)."""
    sde: bool = setting(False)
    """Continuous actions: generalised state-dependent exploration (gSDE, Raffin et al. 2021): the noise is a
    linear function of the policy's features, its matrix held for ``sde_sample_freq`` steps, so exploration is
    smooth in time (Stable-Baselines3's ``use_sde``; ``log_std_init`` then starts that matrix's log-std)."""
    sde_sample_freq: int = setting(0, lo=0, hi=L.MAX_N_STEPS)
    """With ``sde``: draw each env's noise matrix every this many steps; 0: once per rollout (Stable-Baselines3's
    ``-1``)."""
    normalize_obs: bool = setting(False)
    """Standardise observations by their running mean and variance (statistics saved with the model, frozen in
    eval); MLP torsos over Box observations, and the Box entries of Dict or Tuple observations."""
    obs_clip: float = setting(10.0, lo=0.0, lo_open=True)
    """Clip normalised observations to this many standard deviations."""

    def check(self) -> None:
        check_hidden(self.hidden)


def check_hidden(hidden: list[int]) -> None:
    if not (1 <= len(hidden) <= L.MAX_LAYERS and all(1 <= h <= L.MAX_WIDTH for h in hidden)):
        raise UsageError(
            f"--hidden must be 1 to {L.MAX_LAYERS} layer sizes, each a positive integer up to "
            f"{L.MAX_WIDTH:,}, got {list(hidden)}"
        )


def check_device(device: str) -> None:
    if not (device in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", device)):
        raise UsageError(f"--device {device!r} is not supported (allowed: cpu, cuda, cuda:N, auto)")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {device}: no CUDA device is available to this PyTorch (allowed here: cpu or auto)"
            )
        n = torch.cuda.device_count()
        if device != "cuda" and int(device[5:]) >= n:
            raise UsageError(
                f"--device {device}: this machine has {n} CUDA device(s) (allowed: cuda:0 to cuda:{n - 1})"
            )


@dataclass(kw_only=True)
class LossConfig:
    """The return and the weights of the actor-critic loss every algorithm shares."""

    gamma: float = setting(0.99, lo=0.0, hi=1.0)
    """Discount factor."""
    gae_lambda: float = setting(1.0, lo=0.0, hi=1.0)
    """GAE lambda; 1.0 gives A3C's n-step returns."""
    entropy_coef: float = setting(0.01, lo=0.0)
    """Weight of the entropy bonus."""
    value_coef: float = setting(0.5, lo=0.0)
    """Weight of the value loss."""
    normalize_advantages: bool = setting(False)
    """Standardise the advantages of each update."""
    reward_scale: float = setting(1.0, lo=0.0, lo_open=True)
    """Multiply rewards by this for learning (logs report the unscaled return); not applied with
    ``normalize_reward``, whose running return statistics alone set the scale (as VecNormalize, where a fixed scale
    would cancel out)."""
    normalize_reward: bool = setting(False)
    """Scale rewards for learning by the running standard deviation of the discounted return (as VecNormalize;
    ``reward_scale`` is then not applied); logs report the unscaled return."""
    reward_clip: float = setting(10.0, lo=0.0, lo_open=True)
    """With ``normalize_reward``: clip the scaled rewards to this."""


SECTIONS: dict[str, type] = {
    "run": RunControl,
    "rollout": RolloutConfig,
    "optim": OptimConfig,
    "model": ModelConfig,
    "loss": LossConfig,
}
"""The shared sections of :class:`RunConfig`, by attribute name."""


@dataclass
class RunConfig:
    """A resolved run: every section filled, nothing left to a default (see the module docstring)."""

    algo: str
    """Algorithm: ``a3c`` (Hogwild worker processes), ``a2c`` (synchronous, one process), or on the
    actor-learner runtime ``impala`` (V-trace), ``appo`` (clipped surrogate on V-trace or GAE targets)
    and ``a3c-ps`` (actors send gradients to a central learner, applied in arrival order); ``feudal``
    (FeUdal Networks, on the Hogwild or the synchronous runtime, see ``runtime``)."""
    env: str
    """Any Gymnasium id, or ``package.module:EnvClass``."""
    run: RunControl
    rollout: RolloutConfig
    optim: OptimConfig
    model: ModelConfig
    runtime: Any
    """The runtime's section (its ``config`` class, a :class:`~asyncrl.runtime.base.RuntimeSection`; ``kind`` is
    the runtime's name)."""
    loss: LossConfig
    algo_config: Any
    """The algorithm's own section (its ``config`` class), :class:`NoSettings` if it has none."""
    env_config: Any
    """The env family's section (its ``options`` class), :class:`NoSettings` if it has none."""

    def sections(self) -> list[Any]:
        """The sections in order: the shared ones, the algorithm's, the env family's."""
        return [
            self.run,
            self.rollout,
            self.optim,
            self.model,
            self.runtime,
            self.loss,
            self.algo_config,
            self.env_config,
        ]

    def env_options(self) -> Any:
        """The env family's construction options (``None`` for a family without options)."""
        return None if isinstance(self.env_config, NoSettings) else self.env_config


def check_batch_size(num_envs: int, n_steps: int, rollouts: int) -> None:
    samples = num_envs * n_steps * rollouts
    if samples > L.MAX_BATCH_SAMPLES:
        names = "--num-envs x --n-steps" + (" x --batch-rollouts" if rollouts > 1 else "")
        raise UsageError(
            f"{names} = {samples:,} samples per update, more than the {L.MAX_BATCH_SAMPLES:,} "
            f"allowed (use fewer envs or shorter rollouts)"
        )
