"""The ``asyncrl`` command: ``train``, ``eval``, ``plot``, ``record``.

User mistakes print one line, ``asyncrl: error: ...``, and exit with code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from asyncrl.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path
from asyncrl.config import TrainConfig, env_options
from asyncrl.envs.atari import ATARI_EVAL
from asyncrl.errors import UsageError
from asyncrl.evaluate import atari_protocol, run_episodes, summarize
from asyncrl.limits import MAX_ENVS, MAX_EPISODES, MAX_SEED, need_int
from asyncrl.paths import check_checkpoint_arg, check_output_file
from asyncrl.plot import output_extensions, plot_runs
from asyncrl.record import record_gif
from asyncrl.runtime.procs import WorkerFailed
from asyncrl.train import format_result, train

# (flag, config field, type, help); bools get --x/--no-x.
_TRAIN_FLAGS: list[tuple[str, str, object, str]] = [
    ("--algo", "algo", str, "a3c (Hogwild workers), a2c (synchronous), impala, appo or a3c-ps (actor-learner), "
                            "feudal (FeUdal Networks)"),
    ("--env", "env", str, "Gymnasium id, or package.module:EnvClass"),
    ("--workers", "workers", int, "A3C workers or actor processes (default: all cores; actor-learner: one fewer)"),
    ("--num-envs", "num_envs", int, "envs per worker (A3C) or in total (A2C), stepped with one batched forward"),
    ("--seed", "seed", int, "random seed"),
    ("--total-steps", "total_steps", int, "env step budget"),
    ("--target-return", "target_return", float, "stop when the mean of the last 100 training episodes reaches this"),
    ("--max-seconds", "max_seconds", float, "stop after this many seconds"),
    ("--run-dir", "run_dir", str, "where logs and checkpoints go"),
    ("--lr", "lr", float, "learning rate"),
    ("--lr-schedule", "lr_schedule", str, "constant or linear (to 0 at --total-steps)"),
    ("--gamma", "gamma", float, "discount factor"),
    ("--n-steps", "n_steps", int, "rollout length per update (alias --t-max)"),
    ("--gae-lambda", "gae_lambda", float, "GAE lambda (1.0: n-step returns)"),
    ("--entropy-coef", "entropy_coef", float, "entropy bonus weight"),
    ("--value-coef", "value_coef", float, "value loss weight"),
    ("--max-grad-norm", "max_grad_norm", float, "gradient clipping norm (0: off)"),
    ("--normalize-advantages", "normalize_advantages", bool, "standardise advantages per update"),
    ("--reward-scale", "reward_scale", float, "multiply rewards by this for learning"),
    ("--optimizer", "optimizer", str, "rmsprop (torch's eps), rmsprop-tf (TF/A3C-paper eps inside the root) or adam"),
    ("--optimizer-eps", "optimizer_eps", float, "optimizer epsilon"),
    ("--rms-alpha", "rms_alpha", float, "RMSprop smoothing constant"),
    ("--shared-optimizer", "shared_optimizer", bool, "A3C: optimizer statistics shared by all workers"),
    ("--batch-rollouts", "batch_rollouts", int, "actor-learner: actor rollouts per learner update"),
    ("--slots-per-actor", "slots_per_actor", int, "actor-learner: shared-memory trajectory slots per actor"),
    ("--rho-bar", "rho_bar", float, "V-trace: clipping of the importance weights in the value targets"),
    ("--c-bar", "c_bar", float, "V-trace: clipping of the trace coefficients"),
    ("--pg-rho-bar", "pg_rho_bar", float, "V-trace: clipping of the importance weights in the policy gradient"),
    ("--targets", "targets", str, "APPO: vtrace or gae value targets and advantages"),
    ("--clip-range", "clip_range", float, "APPO: surrogate clipping range"),
    ("--epochs", "epochs", int, "APPO: passes over each batch"),
    ("--minibatches", "minibatches", int, "APPO: minibatches per epoch (shuffled samples; env columns with --lstm)"),
    ("--kl-coef", "kl_coef", float, "APPO: KL penalty weight (0: off)"),
    ("--max-policy-lag", "max_policy_lag", int, "drop samples more than this many updates stale (0: keep all)"),
    ("--restart-actors", "restart_actors", bool, "restart a failed actor instead of ending the run"),
    ("--device", "device", str, "IMPALA/APPO: learner device: cpu, cuda, cuda:N or auto"),
    ("--serial", "serial", bool, "actor-learner algorithms: run actors and learner in one process"),
    ("--runtime", "runtime", str, "FeUdal: hogwild (worker processes) or sync (one process)"),
    ("--worker-gamma", "worker_gamma", float, "FeUdal: the Worker's discount (paper 0.95; --gamma is the Manager's)"),
    ("--intrinsic-coef", "intrinsic_coef", float, "FeUdal: weight alpha of the intrinsic reward"),
    ("--feudal-dim", "feudal_dim", int, "FeUdal: latent state and Manager LSTM size d (paper 256)"),
    ("--goal-dim", "goal_dim", int, "FeUdal: goal embedding size k (paper 16)"),
    ("--dilation", "dilation", int, "FeUdal: dilated LSTM cores r (paper 10)"),
    ("--horizon", "horizon", int, "FeUdal: goal horizon c (paper 10)"),
    ("--noop-max", "noop_max", int, "Atari: at most this many no-ops after a reset (standard 30)"),
    ("--episodic-life", "episodic_life", bool, "Atari, training: a lost life ends the learning episode (standard on)"),
    ("--clip-rewards", "clip_rewards", bool, "Atari, training: learn from the reward's sign (standard on)"),
    ("--fire-reset", "fire_reset", bool, "Atari: press FIRE after a reset where the game has it (standard on)"),
    ("--sticky-actions", "sticky_actions", float, "Atari: repeat-action probability (default: v4 0, v5 0.25)"),
    ("--full-action-space", "full_action_space", bool, "Atari: all 18 actions"),
    ("--atari-eval", "atari_eval", str, "Atari test runs: game (whole games, no FIRE help; standard) or lives "
                                        "(a lost life resets the LSTM state and presses FIRE, as in training)"),
    ("--torso", "torso", str, "auto, mlp, a3c-cnn, nature-cnn or impala-cnn (auto: a3c-cnn for images)"),
    ("--hidden", "hidden", int, "MLP hidden sizes, e.g. --hidden 64 64"),
    ("--activation", "activation", str, "tanh, relu or elu"),
    ("--lstm", "lstm", bool, "add an LSTM core"),
    ("--lstm-size", "lstm_size", int, "LSTM hidden size"),
    ("--log-std-init", "log_std_init", float, "initial log-std of Gaussian policies"),
    ("--eval-every", "eval_every", int, "test run every this many env steps (0: off)"),
    ("--eval-episodes", "eval_episodes", int, "episodes per test run"),
    ("--checkpoint-every", "checkpoint_every_s", float, "seconds between checkpoints/latest.pt writes"),
    ("--vector-env", "vector_env", str, "auto, native or gymnasium"),
    ("--start-method", "start_method", str, "fork, spawn or forkserver"),
    ("--tensorboard", "tensorboard", bool, "write TensorBoard events"),
    ("--progress", "progress", bool, "print the live progress line"),
]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Values such as -1e3, -inf and -nan are numbers, not flags (argparse only knows -5 and -0.5), so
        # `--target-return -1e3` works and `--target-return -inf` gets validate's answer.
        self._negative_number_matcher = re.compile(
            r"^-(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)

    def error(self, message: str):  # one line, exit 2
        command = "asyncrl" if self.prog == "asyncrl" else f"asyncrl {self.prog.split()[-1]}"
        self.exit(2, f"asyncrl: error: {message} (see '{command} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="asyncrl",
                description="Asynchronous actor-critic RL (A3C, A2C, IMPALA, APPO, a3c-ps, FeUdal) on PyTorch and "
                            "Gymnasium.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train an agent (no arguments: A3C on CartPole-v1 with all cores)")
    for flag, dest, typ, help_ in _TRAIN_FLAGS:
        names = [flag, "--t-max"] if flag == "--n-steps" else [flag]
        if typ is bool:
            t.add_argument(*names, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_)
        elif dest == "hidden":
            t.add_argument(*names, dest=dest, type=int, nargs="+", default=argparse.SUPPRESS, help=help_)
        else:
            t.add_argument(*names, dest=dest, type=typ, default=argparse.SUPPRESS, help=help_)
    t.add_argument("--resume", metavar="DIR", default=None, help="continue the run in DIR")

    e = sub.add_parser("eval", help="evaluate a run dir or checkpoint")
    e.add_argument("path", help="run dir (uses checkpoints/best.pt) or a .pt checkpoint")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of the deterministic policy")
    e.add_argument("--num-envs", type=int, default=1,
                   help="play this many episodes at once, one batched forward per step (same seeds)")
    e.add_argument("--checkpoint", choices=["best", "latest"], default="best", help="which checkpoint of a run dir")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--atari-eval", choices=ATARI_EVAL, default=None,
                   help="Atari protocol (default: the run's, standard game): whole games, or lives as in training")

    pl = sub.add_parser("plot", help="plot learning curves of run dirs")
    pl.add_argument("run_dirs", nargs="+")
    pl.add_argument("-o", "--out", default="curve.png", help="output image (.png, .pdf, .svg, ...)")
    pl.add_argument("--title", default=None)

    r = sub.add_parser("record", help="record one episode as a GIF")
    r.add_argument("path", help="run dir or .pt checkpoint")
    r.add_argument("-o", "--out", default="episode.gif", help="output file: .gif, .png (animated) or .webp")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--fps", type=int, default=30)
    r.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    r.add_argument("--atari-eval", choices=ATARI_EVAL, default=None, help="Atari protocol (default: the run's)")
    return p


def _cmd_train(args: argparse.Namespace) -> int:
    given = {dest for _, dest, _, _ in _TRAIN_FLAGS if hasattr(args, dest)}
    cfg = TrainConfig(**{k: getattr(args, k) for k in given})
    try:
        result = train(cfg, resume=args.resume, given=given)
    except WorkerFailed as e:
        print(f"asyncrl: training failed: {e}", file=sys.stderr)
        return 1
    print(format_result(result))
    return 0


def _load(path: str, which: str):
    ckpt_path = resolve_checkpoint_path(path, which)
    data = load_checkpoint(ckpt_path)
    return ckpt_path, data, model_from_checkpoint(data)


def _env_options(data: dict) -> Any:
    """The env options (Atari preprocessing) saved with a checkpoint's config (``None`` without one)."""
    return env_options(json.loads(data["config"])) if "config" in data else None


def _cmd_eval(args: argparse.Namespace) -> int:
    need_int("--episodes", args.episodes, 1, MAX_EPISODES)
    need_int("--num-envs", args.num_envs, 1, MAX_ENVS)
    need_int("--seed", args.seed, 0, MAX_SEED)
    check_checkpoint_arg(args.path)
    ckpt_path, data, model = _load(args.path, args.checkpoint)
    options, protocol = atari_protocol(data["env"], _env_options(data), args.atari_eval)
    s = summarize(run_episodes(model, data["env"], args.episodes, seed=args.seed, deterministic=not args.stochastic,
                               options=options, num_envs=args.num_envs))
    if args.json:
        print(json.dumps({"mean": s["mean"], "std": s["std"], "min": s["min"], "max": s["max"],
                          "episodes": s["episodes"], "checkpoint": ckpt_path, "env": data["env"],
                          "atari_eval": protocol}))
    else:
        games = f" ({protocol} protocol)" if protocol else ""
        print(f"{data['env']} ({ckpt_path}): {s['mean']:.2f} ± {s['std']:.2f} over {s['episodes']} episodes{games} "
              f"(min {s['min']:.2f}, max {s['max']:.2f})")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    check_output_file(args.out, "-o", output_extensions())  # also: not a file of a run (plot_runs allows that)
    print(plot_runs(args.run_dirs, args.out, title=args.title))
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    need_int("--seed", args.seed, 0, MAX_SEED)  # (-o and --fps: record_gif checks them before it plays)
    check_checkpoint_arg(args.path)
    _, data, model = _load(args.path, args.checkpoint)
    options, _ = atari_protocol(data["env"], _env_options(data), args.atari_eval)
    total, frames = record_gif(model, data["env"], args.out, seed=args.seed, fps=args.fps, options=options)
    print(f"{args.out}: {frames} frames, episode return {total:.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["train"]
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    handlers = {"train": _cmd_train, "eval": _cmd_eval, "plot": _cmd_plot, "record": _cmd_record}
    try:
        return handlers[args.command](args)
    except UsageError as e:
        print(f"asyncrl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("asyncrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
