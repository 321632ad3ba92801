"""The ``asyncrl`` command: ``train``, ``eval``, ``plot``, ``record``, ``tune``, ``sweep``.

User mistakes print one line, ``asyncrl: error: ...``, and exit with code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
from dataclasses import Field, asdict, fields
from typing import Any

from asyncrl.algos import ALGORITHMS, get_algorithm
from asyncrl.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path
from asyncrl.config import (
    DEFAULT_ALGO,
    DEFAULT_ENV,
    RunConfig,
    TrainConfig,
    env_options,
    field_kind,
    flag_of,
    not_applicable,
    read_config_file,
    section_of,
)
from asyncrl.envs.atari import ATARI_EVAL
from asyncrl.errors import UsageError
from asyncrl.evaluate import atari_protocol, run_episodes, summarize
from asyncrl.limits import MAX_ENVS, MAX_EPISODES, MAX_SEED, need_int
from asyncrl.paths import check_checkpoint_arg, check_output_file, check_writable_dir
from asyncrl.plot import output_extensions, plot_runs
from asyncrl.record import record_video
from asyncrl.runtime.procs import WorkerFailed, failure_summary
from asyncrl.train import config_file_settings, dry_run, format_result, help_defaults, need_modules, train

ALIASES = {"n_steps": ["--t-max"]}
"""Second flag names (A3C's t_max)."""


def train_flags(algo: str, env: str, runtime: str | None = None) -> list[tuple[str, Field]]:
    """The flat settings (:class:`~asyncrl.config.TrainConfig`, generated from the config tree's sections) that
    ``--algo algo --env env --runtime runtime`` can set, with their flags: every setting but those of other
    algorithms (:func:`~asyncrl.config.only_for`), other runtimes and other env families. Each field's ``doc``
    metadata is its help."""
    return [(flag_of(f.name), f) for f in fields(TrainConfig) if not_applicable(f.name, algo, env, runtime) is None]


def _add_field(parser: Any, flag: str, f: Field, help_: str) -> None:
    kind = field_kind(f)
    names = [flag, *ALIASES.get(f.name, [])]
    common: dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_)
    if kind == "bool":
        parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
    elif kind == "list[int]":
        parser.add_argument(*names, type=int, nargs="+", metavar="N", **common)
    else:
        parser.add_argument(
            *names,
            type={"int": int, "float": float, "str": str}[kind],
            metavar=flag[2:].upper().replace("-", "_"),
            **common,
        )


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Values such as -1e3, -inf and -nan are numbers, not flags (argparse only knows -5 and -0.5), so
        # `--target-return -1e3` works and `--target-return -inf` gets validate's answer.
        self._negative_number_matcher = re.compile(
            r"^-(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE
        )

    algo, env = DEFAULT_ALGO, DEFAULT_ENV
    runtime: str | None = None
    """The train parser's ``--algo``, ``--env`` and ``--runtime``: whose settings it knows."""

    def error(self, message: str):  # one line, exit 2
        command = "asyncrl" if self.prog == "asyncrl" else f"asyncrl {self.prog.split()[-1]}"
        unknown = message.split(":", 1)[1].split() if message.startswith("unrecognized arguments:") else []
        if why := self._not_applicable(unknown):
            message, command = why, "asyncrl train"
        self.exit(2, f"asyncrl: error: {message} (see '{command} --help')\n")

    def _not_applicable(self, tokens: list[str]) -> str | None:
        """For a setting of another algorithm or env family, the message the Python API gives too."""
        names = {flag_of(f.name): f.name for f in fields(TrainConfig)}
        for token in tokens:
            flag = token.split("=", 1)[0]
            name = names.get(flag) or names.get(flag.replace("--no-", "--", 1))
            if name is not None and (why := not_applicable(name, self.algo, self.env, self.runtime)):
                return why
        return None


def build_parser(
    algo: str = DEFAULT_ALGO, env: str = DEFAULT_ENV, runtime: str | None = None, show_defaults: bool = False
) -> argparse.ArgumentParser:
    """The ``asyncrl`` parser; its ``train`` command knows the settings of ``algo`` on ``env`` and ``runtime``
    (:func:`train_flags`). ``show_defaults`` (for ``--help``): each flag's help ends with the value this run would
    get, and the tuned row it comes from (:func:`~asyncrl.train.help_defaults`; this makes the env once)."""
    p = _Parser(
        prog="asyncrl",
        description="Asynchronous actor-critic RL (A3C, A2C, IMPALA, APPO, a3c-ps, FeUdal) on PyTorch and Gymnasium.",
    )
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    _add_train(p, sub, algo, env, runtime, help_defaults(algo, env, runtime) if show_defaults else {})
    _add_eval(sub)
    _add_plot(sub)
    _add_record(sub)
    _add_tune(sub)
    _add_sweep(sub)
    return p


def _shown_default(default: tuple[Any, str | None] | None) -> str:
    """The end of a flag's help: `` (default: VALUE)``, or `` (default: VALUE, tuned for ROW)``."""
    if default is None or default[0] is None:
        return ""
    value = " ".join(str(v) for v in default[0]) if isinstance(default[0], list) else default[0]
    return f" (default: {value}{f', tuned for {default[1]}' if default[1] else ''})"


def _add_dry_run(parser: Any, checks: str) -> None:
    """``--dry-run`` of ``train``, ``tune`` and ``sweep``: ``checks`` says what it resolves and prints."""
    parser.add_argument("--dry-run", action="store_true", help=f"{checks} and exit: nothing is trained or written")


def _add_train(
    p: Any, sub: Any, algo: str, env: str, runtime: str | None, shown: dict[str, tuple[Any, str | None]]
) -> None:
    t = sub.add_parser(
        "train",
        help="train an agent (no arguments: A3C on CartPole-v1 with all cores)",
        description=f"Train --algo {algo} on --env {env}. The flags below are the settings that "
        f"apply to them: name --algo, --env and --runtime first to see another's.",
    )
    for parser in (p, t):  # (the top-level parser reports a subcommand's unknown flags)
        parser.algo, parser.env, parser.runtime = algo, env, runtime  # type: ignore[attr-defined]
    groups: dict[type, Any] = {}
    for flag, f in train_flags(algo, env, runtime):  # one help group per section of the config tree
        section = section_of(f.name, algo, runtime)
        if section not in groups:
            title = "algorithm and env" if section is RunConfig else section.__name__
            doc = (section.__doc__ or "").strip().split("\n\n")[0].replace("``", "")
            groups[section] = t.add_argument_group(title, None if section is RunConfig else " ".join(doc.split()))
        _add_field(groups[section], flag, f, (f.metadata["doc"] + _shown_default(shown.get(f.name))).replace("%", "%%"))
    t.add_argument("--resume", metavar="DIR", default=None, help="continue the run in DIR")
    t.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="start from the settings in FILE (JSON of flat names: a run's config.json, whose run_dir is "
        "left out, or the best_config.json of asyncrl tune); flags given here override it",
    )
    _add_dry_run(
        t, "check and resolve the settings (defaults, tuned rows, the env's spaces, the network), print them as JSON"
    )


def _add_eval(sub: Any) -> None:
    e = sub.add_parser("eval", help="evaluate a run dir or checkpoint")
    e.add_argument("path", help="run dir (uses checkpoints/best.pt) or a .pt checkpoint")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of the deterministic policy")
    e.add_argument(
        "--num-envs",
        type=int,
        default=1,
        help="play this many episodes at once, one batched forward per step (same seeds)",
    )
    e.add_argument("--checkpoint", choices=["best", "latest"], default="best", help="which checkpoint of a run dir")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument(
        "--atari-eval",
        choices=ATARI_EVAL,
        default=None,
        help="Atari protocol (default: the run's, standard game): whole games, or lives as in training",
    )


def _add_plot(sub: Any) -> None:
    pl = sub.add_parser("plot", help="plot learning curves of run dirs")
    pl.add_argument("run_dirs", nargs="+")
    pl.add_argument("-o", "--out", default="curve.png", help="output image (.png, .pdf, .svg, ...)")
    pl.add_argument("--title", default=None)
    pl.add_argument(
        "--group",
        default=None,
        metavar="FIELDS",
        help="one curve (mean ± std) per value of these config fields, comma-separated, e.g. algo,env "
        "(default: runs that differ only in their seed)",
    )


def _add_record(sub: Any) -> None:
    r = sub.add_parser("record", help="record one episode as an MP4 video or an animated GIF")
    r.add_argument("path", help="run dir or .pt checkpoint")
    r.add_argument(
        "-o",
        "--out",
        default="episode.gif",
        help="output file: .mp4 (needs the video extra), .gif, .png (animated) or .webp",
    )
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--fps", type=int, default=30)
    r.add_argument(
        "--max-frames",
        type=int,
        default=5000,
        help="record at most this many frames (the episode still plays to its end)",
    )
    r.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    r.add_argument("--atari-eval", choices=ATARI_EVAL, default=None, help="Atari protocol (default: the run's)")


def _add_tune(sub: Any) -> None:
    from asyncrl.experiments.tune import OBJECTIVES

    tu = sub.add_parser(
        "tune",
        help="search hyperparameters with Optuna (TPE, median pruning)",
        description="Search hyperparameters of --algo on --env with Optuna: TPE draws each trial "
        "from the algorithm's search space (or --space FILE), every trial is an "
        "asyncrl train run in the study folder, and the median pruner stops poor "
        "trials at their periodic evaluations. Ctrl-C stops cleanly; --resume goes on.",
    )
    tu.add_argument("--algo", default=None, help=f"the algorithm to tune (default: {DEFAULT_ALGO})")
    tu.add_argument("--env", default=None, help=f"the env id (default: {DEFAULT_ENV})")
    tu.add_argument(
        "--study",
        default=None,
        metavar="DIR",
        help="the study's folder: database, trial run dirs, reports (default: runs/tune-ALGO-ENV)",
    )
    tu.add_argument("--resume", action="store_true", help="continue the study in --study (its saved settings)")
    tu.add_argument("--trials", type=int, default=None, help="trials in the study in all (default: 20)")
    tu.add_argument(
        "--jobs", type=int, default=None, help="trials at once, each on its share of the cores (default: 1)"
    )
    tu.add_argument("--budget-steps", type=int, default=None, help="env steps per trial (default: 100000)")
    tu.add_argument(
        "--evals", type=int, default=None, help="evaluations per trial: the pruner's checkpoints (default: 5)"
    )
    tu.add_argument("--eval-episodes", type=int, default=None, help="episodes per evaluation (default: 10)")
    tu.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=None,
        help="final-eval: the mean return of the last evaluation (maximised); time-to-target: env "
        "steps until the 100-episode mean reaches --target-return (minimised)",
    )
    tu.add_argument("--target-return", type=float, default=None, help="the target of --objective time-to-target")
    tu.add_argument(
        "--space",
        default=None,
        metavar="FILE",
        help='JSON overriding the algorithm\'s search space: {"lr": ["log", 1e-4, 1e-2], '
        '"n_steps": ["choice", [8, 16]], "clip_range": 0.2, "gamma": null}',
    )
    tu.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="an Optuna storage URL (default: SQLite in the study folder); several machines can "
        "share a study on PostgreSQL or MySQL",
    )
    tu.add_argument("--study-name", default=None, help="the study's name in its storage (default: asyncrl)")
    tu.add_argument(
        "--timeout", type=float, default=None, help="start no trial after this many seconds (running trials finish)"
    )
    tu.add_argument(
        "--seed", type=int, default=None, help="the sampler's seed; trial k trains with seed SEED + k (default: 0)"
    )
    _add_dry_run(tu, "check the settings and resolve the search space, print them as JSON")


def _add_sweep(sub: Any) -> None:
    sw = sub.add_parser(
        "sweep",
        help="run a grid of settings x seeds, --jobs at a time, and summarise it",
        description="Run every combination of --algo x --env x --set values x seeds as asyncrl "
        "train runs in -o DIR; re-running skips finished runs and resumes interrupted "
        "ones. Prints and writes summary.md: final eval and time to target, mean ± std "
        "over seeds per group.",
    )
    sw.add_argument("--algo", nargs="+", default=None, help="algorithms (default: --config's, else a3c)")
    sw.add_argument("--env", nargs="+", default=None, help="env ids (default: --config's, else CartPole-v1)")
    sw.add_argument("--seeds", type=int, default=3, help="seeds per grid point: FIRST_SEED ... (default: 3)")
    sw.add_argument("--first-seed", type=int, default=0, help="the first seed (default: 0)")
    sw.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a setting for every run (one value) or a grid axis (several), by flat name, e.g. "
        "--set lr=1e-3,3e-3 --set total_steps=200000; repeatable",
    )
    sw.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="settings for every run from a JSON file (as train --config; e.g. tune's best_config.json; "
        "its run_dir and workers are left out: each run's workers follow its cores); --set overrides "
        "it",
    )
    sw.add_argument("--jobs", type=int, default=1, help="runs at once, each on its share of the cores (default: 1)")
    sw.add_argument("-o", "--out", default="runs/sweep", help="the sweep's folder (default: runs/sweep)")
    sw.add_argument(
        "--target",
        type=float,
        default=None,
        help="the summary's target return (default: --set target_return, else the env's threshold)",
    )
    _add_dry_run(sw, "check every grid point as train would and list the runs")


def _cmd_tune(args: argparse.Namespace) -> int:
    need_modules(("optuna",), "asyncrl tune", "tune")
    from asyncrl.experiments import tune as T
    from asyncrl.experiments.space import read_space_file

    names = (
        "algo",
        "env",
        "trials",
        "jobs",
        "budget_steps",
        "evals",
        "eval_episodes",
        "objective",
        "target_return",
        "storage",
        "study_name",
        "timeout",
        "seed",
    )
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.resume:
        if args.study is None:
            raise UsageError("--resume needs --study DIR (the study to continue)")
        check_writable_dir(args.study, f"--study {args.study!r}")
        fixed = sorted(set(given) - {"trials", "jobs", "timeout"}) + (["space"] if args.space else [])
        if fixed:
            raise UsageError(
                f"--resume: cannot change {', '.join('--' + f.replace('_', '-') for f in fixed)} of a "
                f"study (allowed: --trials, --jobs, --timeout)"
            )
        settings = T.resume_settings(args.study, given, dry_run=args.dry_run)
    else:
        algo, env = given.pop("algo", DEFAULT_ALGO), given.pop("env", DEFAULT_ENV)
        get_algorithm(algo)
        study = args.study or os.path.join("runs", f"tune-{algo}-{env.replace('/', '_').replace(':', '_')}")
        check_writable_dir(study, f"--study {study!r}")
        overrides = read_space_file(args.space) if args.space else None
        settings = T.new_study(study, T.TuneSettings(algo=algo, env=env, **given), overrides, dry_run=args.dry_run)
        args.study = study
    if args.dry_run:
        print(json.dumps(asdict(settings), indent=2))
        print(f"asyncrl tune: study {args.study} (dry run: nothing trained or written)", file=sys.stderr)
        return 0
    _, failing = T.run_tune(args.study, settings, resume=args.resume)
    return 1 if failing else 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from asyncrl.experiments import sweep as S

    need_int("--seeds", args.seeds, 1, 10_000)
    need_int("--first-seed", args.first_seed, 0, MAX_SEED - args.seeds + 1)
    base = read_config_file(args.config) if args.config else {}
    algos = args.algo or [str(base.get("algo", DEFAULT_ALGO))]
    envs = args.env or [str(base.get("env", DEFAULT_ENV))]
    for name in ("algo", "env", "seed", "run_dir", "workers"):
        base.pop(name, None)  # (the sweep's own --algo, --env and seeds, its run dirs; workers follow each run's cores)
    algos, envs = list(dict.fromkeys(algos)), list(dict.fromkeys(envs))
    for algo in algos:
        get_algorithm(algo)
    check_writable_dir(args.out, f"-o {args.out!r}")
    axes = S.parse_set(args.set)
    fitted, notes = {}, []
    for algo, env in itertools.product(algos, envs):  # (each grid point gets the file's settings that apply to it)
        fitted[algo, env], left = config_file_settings({k: v for k, v in base.items() if k not in axes}, algo, env)
        if left:
            notes.append(f"{', '.join(left)} for --algo {algo} on --env {env}")
    if notes:
        print(
            f"asyncrl sweep: --config {args.config}: left out {'; '.join(notes)} (they do not apply)", file=sys.stderr
        )
    runs = S.grid(algos, envs, axes, list(range(args.first_seed, args.first_seed + args.seeds)), fitted)
    S.preflight(runs)
    if args.dry_run:
        for run in runs:
            print(f"{os.path.join(args.out, run.name)}: {json.dumps(run.settings)}")
        print(f"asyncrl sweep: {len(runs)} runs in {args.out} (dry run: nothing trained or written)", file=sys.stderr)
        return 0
    outcomes = S.run_sweep(args.out, runs, args.jobs)
    print("\n" + S.write_summary(args.out, runs, args.target))
    print(f"summary: {os.path.join(args.out, 'summary.md')}")
    return 1 if "failed" in outcomes.values() else 0


def _cmd_train(args: argparse.Namespace) -> int:
    given = {f.name for f in fields(TrainConfig) if hasattr(args, f.name)}
    values = {k: getattr(args, k) for k in given}
    if args.config is not None:
        if args.resume is not None:
            raise UsageError("--config does not apply with --resume (a resumed run keeps its saved config)")
        settings = read_config_file(args.config)
        settings.pop("run_dir", None)  # (a run's config.json names its own run dir: this run gets its own)
        algo = str(values.get("algo") or settings.get("algo") or DEFAULT_ALGO)
        env = str(values.get("env") or settings.get("env") or DEFAULT_ENV)
        kept, left = config_file_settings(settings, algo, env, values.get("runtime"))
        if left:
            on = f", --runtime {values['runtime']}" if "runtime" in values else ""
            print(
                f"asyncrl train: --config {args.config}: left out {', '.join(left)} (they do not apply to --algo "
                f"{algo} on --env {env}{on})",
                file=sys.stderr,
            )
        values = {**kept, "algo": algo, "env": env, **values}
        given |= set(values)
    cfg = TrainConfig(**values)
    if args.dry_run:
        config, summary = dry_run(cfg, resume=args.resume, given=given)
        print(config)
        print(f"asyncrl train: {summary}", file=sys.stderr)
        return 0
    try:
        result = train(cfg, resume=args.resume, given=given)
    except WorkerFailed as e:
        log = getattr(e, "error_log", None)
        where = f" (the whole traceback: {log})" if log and "\n" in str(e).strip() else ""
        print(f"asyncrl: training failed: {failure_summary(str(e))}{where}", file=sys.stderr)
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
    s = summarize(
        run_episodes(
            model,
            data["env"],
            args.episodes,
            seed=args.seed,
            deterministic=not args.stochastic,
            options=options,
            num_envs=args.num_envs,
        )
    )
    if args.json:
        print(
            json.dumps(
                {
                    "mean": s["mean"],
                    "std": s["std"],
                    "min": s["min"],
                    "max": s["max"],
                    "episodes": s["episodes"],
                    "checkpoint": ckpt_path,
                    "env": data["env"],
                    "atari_eval": protocol,
                }
            )
        )
    else:
        games = f" ({protocol} protocol)" if protocol else ""
        print(
            f"{data['env']} ({ckpt_path}): {s['mean']:.2f} ± {s['std']:.2f} over {s['episodes']} episodes{games} "
            f"(min {s['min']:.2f}, max {s['max']:.2f})"
        )
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    check_output_file(args.out, "-o", output_extensions())  # also: not a file of a run (plot_runs allows that)
    group = [g.strip() for g in args.group.split(",") if g.strip()] if args.group is not None else None
    if group is not None and not group:
        raise UsageError("--group needs at least one config field, e.g. --group algo,env")
    print(plot_runs(args.run_dirs, args.out, title=args.title, group_by=group))
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    need_int("--seed", args.seed, 0, MAX_SEED)  # (-o and --fps: record_video checks them before it plays)
    check_checkpoint_arg(args.path)
    _, data, model = _load(args.path, args.checkpoint)
    options, _ = atari_protocol(data["env"], _env_options(data), args.atari_eval)
    total, frames = record_video(
        model, data["env"], args.out, seed=args.seed, fps=args.fps, max_frames=args.max_frames, options=options
    )
    print(f"{args.out}: {frames} frames, episode return {total:.2f}")
    return 0


def _wants_help(argv: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def _algo_env_runtime(argv: list[str]) -> tuple[str, str, str | None]:
    """``train``'s ``--algo``, ``--env`` and ``--runtime`` (first pass, as Sample Factory parses): given, else those
    of the run that ``--resume`` names, else the defaults; they decide which settings the full parser knows."""
    if argv[0] != "train":
        return DEFAULT_ALGO, DEFAULT_ENV, None
    pre = argparse.ArgumentParser(add_help=False)
    for flag in ("--algo", "--env", "--runtime", "--resume", "--config"):
        pre.add_argument(flag)
    known, _ = pre.parse_known_args(argv[1:])
    saved: dict[str, Any] = {}
    source = os.path.join(known.resume, "config.json") if known.resume else known.config
    if source:
        try:
            with open(source) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            saved = {}  # (train reports a missing or broken run dir or config file)
    if not isinstance(saved, dict):
        saved = {}
    algo, env = str(known.algo or saved.get("algo") or DEFAULT_ALGO), str(known.env or saved.get("env") or DEFAULT_ENV)
    runtime = known.runtime or saved.get("runtime")
    algo = algo if algo in ALGORITHMS else DEFAULT_ALGO  # (an unknown --algo: train names the choices)
    return algo, env, (runtime if runtime in get_algorithm(algo).runtimes else None)  # (a wrong one: train says)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["train"]
    try:
        parser = build_parser(*_algo_env_runtime(argv), show_defaults=argv[0] == "train" and _wants_help(argv))
    except UsageError as e:  # e.g. --env doom:NAME with no such scenario
        print(f"asyncrl: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    handlers = {
        "train": _cmd_train,
        "eval": _cmd_eval,
        "plot": _cmd_plot,
        "record": _cmd_record,
        "tune": _cmd_tune,
        "sweep": _cmd_sweep,
    }
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
