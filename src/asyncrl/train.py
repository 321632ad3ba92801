"""Run one training session: set up (or resume) the run dir, build the model, hand it to the runtime.

``train(cfg)`` is what ``asyncrl train`` and the Python API call. The run dir receives
``config.json``, ``episodes.csv``, ``metrics.csv``, ``evals.csv``, TensorBoard events under
``tb/``, ``checkpoints/{latest,best}.pt``, ``curve.png`` and, when the run ends, ``result.json``
(:class:`TrainResult`); with ``--capture-video``, ``videos/``; with ``--wandb``, ``wandb/``.
"""

from __future__ import annotations

import json
import math
import os
import traceback
from dataclasses import asdict, dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from asyncrl.algos import get_algorithm
from asyncrl.checkpoint import load_checkpoint, write_atomic
from asyncrl.config import (
    FAMILY_NAMES,
    FLAT_FIELDS,
    RESUME_OVERRIDABLE,
    RunConfig,
    TrainConfig,
    applicable,
    check_applicable,
    config_json,
    env_options,
    flat_view,
    resolve,
    runtime_for,
    validate,
)
from asyncrl.core.settings import default_of, has_default
from asyncrl.envs.base import GENERIC, family_of, upgrade_saved
from asyncrl.envs.check import EnvCrashed
from asyncrl.envs.classic import NATIVE_ENVS
from asyncrl.envs.make import checked_env_spaces, env_spaces
from asyncrl.envs.vector import envpool_class
from asyncrl.errors import UsageError
from asyncrl.logger import RunLogger, WandbSink
from asyncrl.nn.build import make_model
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.spec import resolve_torso, spec_from_spaces, spec_json
from asyncrl.paths import check_train_paths
from asyncrl.plot import plot_runs
from asyncrl.record import check_renders
from asyncrl.runtime.base import can_resume, get_runtime, start_method_of
from asyncrl.runtime.control import Counters, TrainingControl
from asyncrl.runtime.evaluator import PeriodicEvaluator, VideoSpec
from asyncrl.runtime.procs import StopSignal, WorkerFailed, get_context
from asyncrl.runtime.schedule import resumed_schedule
from asyncrl.runtime.setup import RunSetup

RESULT_FILE = "result.json"
BASE_COLUMNS = (
    "updates",
    "steps_per_s",
    "lr",
    "loss/policy",
    "loss/value",
    "loss/entropy",
    "grad_norm",
    "skipped_updates",
    "policy_lag_mean",
    "policy_lag_max",
)
"""``metrics.csv`` columns of every run; the runtime's and the algorithm's ``metrics`` follow."""


@dataclass
class TrainResult:
    """How a run ended (``result.json`` in its run dir): why it stopped, its counters, the mean return of its
    last 100 training episodes, its best evaluation and its last one (``final_eval``: the mean of the
    evaluation at the end, NaN without one, e.g. after Ctrl-C or with ``--eval-every 0``)."""

    run_dir: str
    stop_reason: str
    env_steps: int
    episodes: int
    mean_return_100: float
    best_eval: float
    seconds: float
    final_eval: float = math.nan

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C or a signal (so not finished: ``--resume`` goes on)."""
        return self.stop_reason.startswith("interrupted")

    def to_json(self) -> str:
        def num(v):  # JSON has no NaN or infinity
            return v if not isinstance(v, float) or math.isfinite(v) else None

        return json.dumps({k: num(v) for k, v in asdict(self).items()}, indent=2)

    @classmethod
    def read(cls, run_dir: str) -> TrainResult | None:
        """The ``result.json`` of ``run_dir`` (``None`` if the run never ended or the file is unreadable)."""
        try:
            with open(os.path.join(run_dir, RESULT_FILE)) as f:
                data = json.load(f)
            floats = ("mean_return_100", "best_eval", "final_eval")
            values: dict[str, Any] = {k: (math.nan if k in floats and v is None else v) for k, v in data.items()}
            return cls(**values)
        except (OSError, ValueError, TypeError):
            return None

    @property
    def best_test(self) -> float:
        """The former name of :attr:`best_eval`."""
        return self.best_eval


def prepare_config(
    cfg: TrainConfig, resume: str | None = None, given: set[str] | None = None, contact: bool = True
) -> tuple[RunConfig, dict | None, tuple[gym.Space, gym.Space, bool]]:
    """Resolve ``cfg`` (or the saved config of ``resume`` with the ``given`` overrides).

    Returns the resolved config tree, the checkpoint to resume from (or ``None``) and the env's
    ``(observation_space, action_space, whether it gives action masks)``. ``contact=False`` skips the runtime's
    preflight (Ray: connecting to the cluster), as a dry run does.
    """
    check_train_paths(cfg, resume, given)  # before anything is built or written
    ckpt = None
    if resume is None:
        check_applicable(cfg)
        validate(cfg)  # before the env is built with these settings (e.g. --sticky-actions)
    else:
        cfg = resumed_config(cfg, resume, given or set())
        ckpt = load_checkpoint(os.path.join(resume, "checkpoints", "latest.pt"))
    if family_of(cfg.env) is GENERIC[0]:  # (a user's or a third party's env: checked against the API once)
        obs_space, act_space, masks = checked_env_spaces(cfg.env, env_options(cfg))
    else:
        (obs_space, act_space), masks = env_spaces(cfg.env, env_options(cfg)), False
    if resume is None:
        torso = resolve_torso(obs_space, cfg.torso or "auto")
        for name in ("hidden", "activation"):
            if getattr(cfg, name) is not None and torso not in ("mlp", "multi-input"):
                raise UsageError(
                    f"--{name} applies to the MLP torso only; --env {cfg.env} uses the {torso} torso, "
                    f"whose layers are fixed (choose one with --torso)"
                )
    run = resolve(cfg, family_of(cfg.env).defaults_key(cfg.env, act_space))
    if run.run.capture_video:
        need_modules(("imageio", "imageio_ffmpeg"), "--capture-video writes MP4", "video")
        check_renders(run.env, env_options(run))  # (now, not at the first evaluation, maybe hours in)
    if run.run.wandb:
        need_modules(("wandb",), "--wandb", "wandb")
    if contact and (preflight := get_runtime(run.runtime.kind).preflight) is not None:
        preflight(run)  # before anything is written (Ray: installed, the head answers)
    if run.rollout.vector_env == "envpool":
        envpool_class(run.env)  # (EnvPool installed, an Atari id or one of its MuJoCo tasks; else one line)
    if run.rollout.vector_env == "native" and run.env not in NATIVE_ENVS:
        raise UsageError(
            f"--vector-env native: no native version of {cfg.env!r} "
            f"(have: {', '.join(NATIVE_ENVS)}; use auto or gymnasium)"
        )
    return run, ckpt, (obs_space, act_space, masks)


def resumed_config(cfg: TrainConfig, resume: str, given: set[str]) -> TrainConfig:
    """The saved config of the run in ``resume`` with the settings ``given`` in ``cfg`` changed, where a resumed run
    may change them (budgets, evaluations, logging, workers, a runtime with the same checkpoints)."""
    with open(os.path.join(resume, "config.json")) as f:
        data = json.load(f)
    if note := upgrade_saved(data, given or ()):  # (an older run's env options as it played them)
        print(f"warning: --resume {resume}: {note}")
    for name, (f_, _, _) in FLAT_FIELDS.items():
        if name not in data and has_default(f_):
            # a setting newer than the run: it ran as if it were at its section's default (the feature off),
            # not at a tuned row added since (IMPALA's Pendulum row turns reward normalisation on)
            data[name] = default_of(f_)
    saved = TrainConfig.from_dict(data)
    changes = {k: getattr(cfg, k) for k in given if k in RESUME_OVERRIDABLE}
    bad = sorted(k for k in given - RESUME_OVERRIDABLE - {"run_dir"} if getattr(cfg, k) != getattr(saved, k))
    if bad:
        raise UsageError(
            f"--resume: cannot change {', '.join('--' + b.replace('_', '-') for b in bad)} "
            f"of a saved run (allowed: budgets, tests, logging, workers)"
        )
    before = saved.runtime or get_algorithm(saved.algo).runtimes[0]  # (None in run dirs before 0.2)
    now = runtime_for(get_algorithm(saved.algo), changes.get("runtime", before))
    if not can_resume(before, now):
        raise UsageError(
            f"--resume: cannot change --runtime {before} to {now} (allowed: "
            f"{', '.join(get_runtime(now).resumes) or 'none'}, whose checkpoints are the same)"
        )
    return replace(saved, **{**changes, "run_dir": resume})


def need_modules(modules: tuple[str, ...], what: str, extra: str) -> None:
    """Raise a one-line :class:`UsageError` unless every module in ``modules`` can be imported."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"{what} needs {', '.join(missing)}: pip install 'asyncrl[{extra}]'")


def build_model(cfg: RunConfig, obs_space: gym.Space, act_space: gym.Space, masks: bool = False) -> PolicyNet:
    """The network for ``cfg``: the algorithm's kind (:meth:`~asyncrl.algos.base.Algorithm.model_options`); with
    ``masks``, for an env that gives action masks (``info["action_mask"]``)."""
    extra = get_algorithm(cfg.algo).model_options(cfg)
    if masks:
        extra["action_masks"] = True
    try:
        spec = spec_from_spaces(
            obs_space,
            act_space,
            torso=cfg.model.torso,
            hidden=list(cfg.model.hidden),
            activation=cfg.model.activation,
            **extra,
        )
    except ValueError as e:
        raise UsageError(f"--env {cfg.env!r}: {e}") from None
    if spec.normalize_obs and (spec.torso not in ("mlp", "multi-input") or spec.obs_discrete_n):
        what = f"the {spec.torso} torso" if spec.torso != "mlp" else "Discrete (one-hot) observations"
        raise UsageError(
            f"--normalize-obs applies to MLP torsos over Box observations and to the Box entries of Dict or Tuple "
            f"observations; --env {cfg.env} gives {what} (leave --normalize-obs off)"
        )
    if spec.bounded_mean and (
        spec.action_kind != "continuous" or not all(map(math.isfinite, spec.action_low + spec.action_high))
    ):
        what = "unbounded Box actions" if spec.action_kind == "continuous" else f"{spec.action_kind} actions"
        raise UsageError(
            f"--bounded-mean squashes a Gaussian mean into finite action bounds; --env {cfg.env} has {what} "
            f"(leave --bounded-mean off)"
        )
    if spec.sde and spec.action_kind != "continuous":
        raise UsageError(
            f"--sde is exploration noise for continuous (Box) actions; --env {cfg.env} has {spec.action_kind} "
            f"actions (leave --sde off)"
        )
    if spec.sde_sample_freq and not spec.sde:
        raise UsageError(f"--sde-sample-freq {spec.sde_sample_freq} sets gSDE's noise; add --sde, or leave it at 0")
    if spec.normalize_obs and spec.normalized_positions == []:
        raise UsageError(
            f"--normalize-obs: --env {cfg.env}'s observation has no Box entry to normalise (its images and Discrete "
            f"entries are not normalised; leave --normalize-obs off)"
        )
    try:
        return make_model(spec)
    except ValueError as e:  # (a network that cannot take these spaces: FeUdal's Worker needs one categorical)
        raise UsageError(f"--algo {cfg.algo} on --env {cfg.env}: {e}") from None


def _obs_dtype(obs_space: gym.Space) -> torch.dtype:
    """The torch dtype of the observations the envs return (uint8 frames stay uint8)."""
    if isinstance(obs_space, gym.spaces.Discrete):
        return torch.int64
    return torch.from_numpy(np.zeros(0, dtype=obs_space.dtype)).dtype


def config_file_settings(
    settings: dict[str, Any], algo: str, env: str, runtime: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The settings of a config file for a run of ``algo`` on ``env`` (``train --config``, ``sweep --config``):
    another algorithm's, runtime's or env family's are left out (:func:`~asyncrl.config.applicable`), and so are
    the MLP torso's ``hidden`` and ``activation`` where the env's torso is a CNN (a run's ``config.json`` holds them
    whatever its torso). ``runtime``: the one given apart from the file (a flag). Returns the settings kept and the
    names left out, for the caller's one notice line."""
    kept, left = applicable(settings, algo, env, runtime)
    mlp_only = [name for name in ("hidden", "activation") if name in kept]
    if mlp_only:
        try:
            obs_space = env_spaces(env, env_options({**kept, "algo": algo, "env": env}))[0]
            torso = resolve_torso(obs_space, kept.get("torso") or "auto")
        except UsageError:
            torso = "mlp"  # (the run itself names what is wrong with the env)
        if torso not in ("mlp", "multi-input"):
            for name in mlp_only:
                del kept[name]
            left += mlp_only
    return kept, left


def help_defaults(algo: str, env: str, runtime: str | None = None) -> dict[str, tuple[Any, str | None]]:
    """What ``asyncrl train --algo algo --env env --help`` shows as each setting's default: ``{flat name: (value,
    row)}``, the value this run would get if not given, and for a value from one of the algorithm's tuned rows the
    row's name (the env id, or the env family's name), else ``None``. Empty where the env cannot be made (the help
    then shows the flags without their defaults)."""
    cfg = TrainConfig(algo=algo, env=env, **({"runtime": runtime} if runtime else {}))
    try:
        _, act_space = env_spaces(env, env_options(cfg))
        key = family_of(env).defaults_key(env, act_space)
        run = resolve(cfg, key)
    except (UsageError, gym.error.Error):
        return {}
    rows = get_algorithm(algo).defaults
    family = {k: FAMILY_NAMES.get(key, key) for k in rows.get(key, {})} if key not in ("discrete", "continuous") else {}
    tuned = {**family, **{k: env for k in rows.get(env, {})}}
    flat = flat_view(run)
    return {name: (value, tuned.get(name)) for name, value in flat.items() if name not in ("algo", "env", "run_dir")}


def dry_run(cfg: TrainConfig, resume: str | None = None, given: set[str] | None = None) -> tuple[str, str]:
    """What :func:`train` would run, without training or writing anything: the settings checked and resolved
    (defaults, the env family's tuned row, the env's spaces, the network built) as ``(config JSON, summary)``.
    Raises ``UsageError`` as ``train`` would; the runtime's preflight (Ray's cluster) is not contacted."""
    rcfg, ckpt, spaces = prepare_config(cfg, resume, given, contact=False)
    model = build_model(rcfg, *spaces)
    params = sum(p.numel() for p in model.parameters())
    workers = getattr(rcfg.runtime, "workers", None)
    summary = (
        f"--algo {rcfg.algo} on --env {rcfg.env}, --runtime {rcfg.runtime.kind}"
        + (f" with {workers} worker{'s' if workers > 1 else ''}" if workers else "")
        + f"; the {model.spec.torso} network ({params:,} parameters); "
        + (
            f"resumes {resume} at {ckpt['counters']['env_steps']:,} env steps"
            if ckpt is not None
            else f"run dir {rcfg.run.run_dir}"
        )
        + " (dry run: nothing trained or written)"
    )
    return config_json(rcfg), summary


def train(cfg: TrainConfig, resume: str | None = None, given: set[str] | None = None) -> TrainResult:
    """Train until a stop condition; raises ``UsageError`` for bad settings and
    :class:`~asyncrl.runtime.procs.WorkerFailed` if a worker fails."""
    torch.set_num_threads(1)  # before any parallel torch work, so forked workers cannot deadlock
    rcfg, ckpt, spaces = prepare_config(cfg, resume, given)
    torch.manual_seed(rcfg.run.seed)
    model = build_model(rcfg, *spaces)
    counters = _restore(rcfg, model, ckpt)
    schedule = resumed_schedule(
        rcfg.optim.lr, rcfg.optim.lr_schedule, rcfg.run.total_steps, counters.env_steps, counters.lr_schedule
    )
    sink = _wandb_sink(rcfg)
    os.makedirs(os.path.join(rcfg.run.run_dir, "checkpoints"), exist_ok=True)
    cfg_json = config_json(rcfg)
    with open(os.path.join(rcfg.run.run_dir, "config.json"), "w") as f:
        f.write(cfg_json)
    sjson = spec_json(model.spec)
    algo, runtime = get_algorithm(rcfg.algo), get_runtime(rcfg.runtime.kind)
    if os.path.exists(os.path.join(rcfg.run.run_dir, RESULT_FILE)):
        os.unlink(os.path.join(rcfg.run.run_dir, RESULT_FILE))  # (a resumed run: it has not ended any more)
    logger = _run_logger(rcfg, counters, sink, (*BASE_COLUMNS, *runtime.metrics, *algo.metrics))
    evaluator = _evaluator(rcfg, sjson)
    opt_state = ckpt["optimizer"] if ckpt is not None and ckpt["optimizer"] else None
    try:
        with StopSignal() as stop:
            control = TrainingControl(rcfg, sjson, logger, counters, stop, schedule, cfg_json, evaluator)
            runtime.runner(rcfg.runtime)(RunSetup(rcfg, algo, model, control, opt_state, _obs_dtype(spaces[0])))
    except BaseException as e:
        failed = WorkerFailed(traceback.format_exc()) if isinstance(e, EnvCrashed) else e  # (a serial run's env)
        if isinstance(failed, WorkerFailed):
            failed.error_log = os.path.join(rcfg.run.run_dir, "error.log")  # type: ignore[attr-defined]
            with open(failed.error_log, "a") as f:  # type: ignore[attr-defined]
                f.write(f"{failed}\n")
        if sink is not None:
            sink.close()
        if failed is not e:
            raise failed from e
        raise
    finally:
        if evaluator is not None:
            evaluator.close()
        logger.close()
    return _conclude(rcfg, control, logger, sink)


def _run_logger(rcfg: RunConfig, counters: Counters, sink: WandbSink | None, columns: tuple[str, ...]) -> RunLogger:
    """The run's logs (``metrics.csv`` with ``columns``, once each), continuing ``counters``' episodes and time."""
    logger = RunLogger(
        rcfg.run.run_dir,
        list(dict.fromkeys(columns)),
        tensorboard=rcfg.run.tensorboard,
        progress=rcfg.run.progress,
        time_offset=counters.wall_time_s,
        recent_returns=counters.recent_returns,
        wandb=sink,
    )
    logger.episode_count = counters.episodes
    logger.frames_per_step = family_of(rcfg.env).frames_per_step
    return logger


def _evaluator(rcfg: RunConfig, sjson: str) -> PeriodicEvaluator | None:
    """The evaluation process (``None`` with ``--eval-every 0``), recording videos with ``--capture-video``."""
    if not rcfg.run.eval_every:
        return None
    video = VideoSpec(os.path.join(rcfg.run.run_dir, "videos")) if rcfg.run.capture_video else None
    return PeriodicEvaluator(
        get_context(start_method_of(rcfg.runtime)),
        rcfg.env,
        sjson,
        rcfg.run.eval_episodes,
        rcfg.run.seed + 10_000,
        env_options(rcfg),
        video,
    )


def _restore(rcfg: RunConfig, model: PolicyNet, ckpt: dict | None) -> Counters:
    """The counters of a fresh run, or of the checkpoint resumed (its weights loaded into ``model``)."""
    if ckpt is None:
        return Counters()
    model.load_state_dict(ckpt["model"])
    saved = ckpt["counters"]
    best = saved.get("best_eval", saved.get("best_test", -math.inf))  # (best_test: before 0.2)
    torch.manual_seed(rcfg.run.seed + saved["updates"])
    return Counters(
        saved["env_steps"],
        saved["updates"],
        saved["episodes"],
        saved["wall_time_s"],
        best,
        list(saved["recent_returns"]),
        saved.get("lr_schedule"),
    )


def _wandb_sink(rcfg: RunConfig) -> WandbSink | None:
    """The W&B run (first: one that cannot start leaves no run dir behind), or ``None`` without ``--wandb``."""
    if not rcfg.run.wandb:
        return None
    new_dir = not os.path.exists(rcfg.run.run_dir)
    try:
        return WandbSink(
            rcfg.run.run_dir,
            rcfg.run.wandb_project,
            flat_view(rcfg),
            os.path.basename(os.path.normpath(rcfg.run.run_dir)),
        )
    except UsageError:
        if new_dir and os.path.isdir(rcfg.run.run_dir) and not os.listdir(rcfg.run.run_dir):
            os.rmdir(rcfg.run.run_dir)
        raise


def _conclude(rcfg: RunConfig, control: TrainingControl, logger: RunLogger, sink: WandbSink | None) -> TrainResult:
    """The run's ``result.json`` and ``curve.png`` (a Ctrl-C now, after training stopped, loses neither)."""
    counters = control.counters
    last = logger.last_eval
    final = last["mean"] if last is not None and last["env_steps"] == counters.env_steps else math.nan
    result = TrainResult(
        rcfg.run.run_dir,
        control.stop_reason or "stopped",
        counters.env_steps,
        counters.episodes,
        logger.mean_recent(),
        logger.best_eval,
        logger.elapsed(),
        final,
    )
    with StopSignal():
        curve = os.path.join(rcfg.run.run_dir, "curve.png")
        try:
            plot_runs([rcfg.run.run_dir], curve, title=f"{rcfg.algo} on {rcfg.env}")
            if sink is not None:
                sink.image("charts/curve", curve, counters.env_steps)
        except Exception as e:  # a missing plot must not lose a finished run
            print(f"warning: could not write curve.png: {e}")
        if sink is not None:
            sink.close()
        write_atomic(os.path.join(rcfg.run.run_dir, RESULT_FILE), result.to_json())
    return result


def format_result(r: TrainResult) -> str:
    best = f"{r.best_eval:.1f}" if math.isfinite(r.best_eval) else "-"
    return (
        f"{r.stop_reason}: {r.env_steps:,} env steps, {r.episodes:,} episodes, "
        f"mean100 {r.mean_return_100:.1f}, best eval {best}, {r.seconds:.1f}s\nrun dir: {r.run_dir}"
    )


__all__ = ["TrainResult", "RESULT_FILE", "train", "dry_run", "format_result", "prepare_config"]
