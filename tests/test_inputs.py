"""Every user input gets a clear answer: bad flags, arguments and paths of all four subcommands end in
one line ``asyncrl: error: ...`` naming the value and what is allowed, exit code 2, no traceback, and
nothing that existed is changed.

The table runs the CLI in-process (``asyncrl.cli.main``), so each row costs milliseconds: validation
must fail before any env is built or training starts. A few rows run end to end in a subprocess.
"""

from __future__ import annotations

import math
import os

import pytest

from asyncrl import A2C
from asyncrl.algos import ALGORITHMS
from asyncrl.config import TrainConfig, resolve, validate
from asyncrl.errors import UsageError
from asyncrl.limits import MAX_WORKERS

from conftest import FAST, one_line_error, row_family, run_cli

BIG = str(10**9)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working folder holding one of each kind of path; the test runs with it as the current folder."""

    def put(rel: str, text: str = "keep") -> None:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    put("file.txt")
    put("run/config.json", '{"algo": "a2c", "env": "CartPole-v1"}')  # a run: config, checkpoint, logs
    put("run/checkpoints/latest.pt", "checkpoint bytes")
    put("run/episodes.csv", "wall_time_s,env_steps,episode_return,episode_length,worker\n1,10,10,10,0\n")
    put("run/curve.png", "png bytes")
    put("nockpt/config.json", "{}")  # a run that never wrote a checkpoint
    put("foreign/episodes.csv", "someone else's data")  # run files but no config.json
    put("corrupt/config.json", "{not json")
    put("listcfg/config.json", "[1, 2]")
    put("badcsv/episodes.csv", "a,b\nx,y\n")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(root) -> dict[str, bytes]:
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = open(p, "rb").read() if os.path.isfile(p) else b"<dir>"
    return out


TRAIN = [
    # floats: NaN, infinities, ranges
    (["--lr", "inf", "--total-steps", "3000"], "--lr must be a finite positive number up to 1, got inf"),
    (["--lr", "nan"], "--lr must be a finite positive number up to 1, got nan"),
    (["--lr", "2"], "--lr must be a finite positive number up to 1, got 2.0"),
    (["--lr", "-0.001"], "--lr must be a finite positive number"),
    (["--lr", "1e999"], "got inf"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--gamma", "inf"], "--gamma must be in [0, 1], got inf"),
    (["--gamma", "nan"], "--gamma must be in [0, 1], got nan"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1]"),
    (["--gae-lambda", "-0.1"], "--gae-lambda must be in [0, 1]"),
    (["--entropy-coef", "inf"], "--entropy-coef must be a finite number >= 0, got inf"),
    (["--entropy-coef", "-1"], "--entropy-coef must be a finite number >= 0"),
    (["--value-coef", "nan"], "--value-coef must be a finite number >= 0, got nan"),
    (["--max-grad-norm", "inf"], "--max-grad-norm must be a finite number >= 0, got inf"),
    (["--reward-scale", "inf"], "--reward-scale must be a finite positive number, got inf"),
    (["--reward-scale", "0"], "--reward-scale must be a finite positive number, got 0.0"),
    (["--optimizer-eps", "inf"], "--optimizer-eps must be a finite positive number, got inf"),
    (["--optimizer-eps", "0"], "--optimizer-eps must be a finite positive number"),
    (["--rms-alpha", "1"], "--rms-alpha must be in [0, 1), got 1.0"),
    (["--rms-alpha", "nan"], "--rms-alpha must be in [0, 1), got nan"),
    (["--algo", "impala", "--rho-bar", "inf"], "--rho-bar must be a finite positive number, got inf"),
    (["--algo", "impala", "--c-bar", "nan"], "--c-bar must be a finite positive number, got nan"),
    (["--algo", "impala", "--pg-rho-bar", "0"], "--pg-rho-bar must be a finite positive number"),
    (["--algo", "appo", "--clip-range", "inf"], "--clip-range must be a finite positive number, got inf"),
    (["--algo", "appo", "--kl-coef", "inf"], "--kl-coef must be a finite number >= 0, got inf"),
    (["--target-return", "nan"], "--target-return must be a finite number (omit it to stop at --total-steps), got nan"),
    (["--target-return", "inf"], "--target-return must be a finite number"),
    (
        ["--target-return", "-inf"],
        "--target-return must be a finite number (omit it to stop at --total-steps), got -inf",
    ),
    (["--max-seconds", "inf"], "--max-seconds must be a finite positive number (omit it for no time limit), got inf"),
    (["--max-seconds", "0"], "--max-seconds must be a finite positive number"),
    (["--checkpoint-every", "inf"], "--checkpoint-every must be a finite positive number, got inf"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be a finite positive number"),
    (["--log-std-init", "inf"], "--log-std-init must be in [-20, 20], got inf"),
    (["--log-std-init", "100"], "--log-std-init must be in [-20, 20], got 100.0"),
    (["--algo", "feudal", "--worker-gamma", "nan"], "--worker-gamma must be in [0, 1], got nan"),
    (["--algo", "feudal", "--intrinsic-coef", "inf"], "--intrinsic-coef must be a finite number >= 0, got inf"),
    (["--env", "ALE/Pong-v5", "--sticky-actions", "nan"], "--sticky-actions must be a probability in [0, 1]"),
    # integers: ranges and absurd sizes
    (["--workers", "100000"], f"--workers must be a positive integer up to {MAX_WORKERS:,}, got 100000"),
    (["--workers", "0"], f"--workers must be a positive integer up to {MAX_WORKERS:,}, got 0"),
    (["--workers", "1.5"], "argument --workers: invalid int value: '1.5'"),
    (["--num-envs", BIG], "--num-envs must be a positive integer up to 65,536"),
    (["--n-steps", BIG], "--n-steps must be a positive integer up to 100,000"),
    (["--t-max", "0"], "--n-steps must be a positive integer"),
    (["--total-steps", str(10**30)], "--total-steps must be a positive integer up to 1,000,000,000,000"),
    (["--total-steps", "0"], "--total-steps must be a positive integer"),
    (
        ["--num-envs", "65536", "--n-steps", "1000"],
        "--num-envs x --n-steps = 65,536,000 samples per update, more than the 16,777,216 allowed",
    ),
    (["--hidden", BIG], "--hidden must be 1 to 64 layer sizes, each a positive integer up to 16,384"),
    (["--hidden", "64", "0"], "--hidden must be 1 to 64 layer sizes"),
    (["--hidden", *["8"] * 65], "--hidden must be 1 to 64 layer sizes"),
    (["--lstm", "--lstm-size", BIG], "--lstm-size must be a positive integer up to 16,384"),
    (["--seed", str(2**32)], "--seed must be a non-negative integer up to 4,294,967,295"),
    (["--seed", "-1"], "--seed must be a non-negative integer"),
    (["--eval-every", "-1"], "--eval-every must be a non-negative integer"),
    (["--eval-every", str(10**13)], "--eval-every must be a non-negative integer up to 1,000,000,000,000"),
    (["--eval-episodes", "0"], "--eval-episodes must be a positive integer"),
    (["--eval-episodes", BIG], "--eval-episodes must be a positive integer up to 100,000"),
    (["--algo", "impala", "--slots-per-actor", "5000"], "--slots-per-actor must be a positive integer up to 1,024"),
    (["--algo", "impala", "--batch-rollouts", "0"], "--batch-rollouts must be a positive integer"),
    (["--algo", "impala", "--max-policy-lag", "-1"], "--max-policy-lag must be a non-negative integer"),
    (["--algo", "appo", "--epochs", "100000"], "--epochs must be a positive integer up to 1,000"),
    (["--algo", "appo", "--minibatches", "0"], "--minibatches must be a positive integer"),
    (["--algo", "feudal", "--feudal-dim", BIG], "--feudal-dim must be a positive integer up to 16,384"),
    (["--algo", "feudal", "--goal-dim", "0"], "--goal-dim must be a positive integer"),
    (["--algo", "feudal", "--dilation", "100000"], "--dilation must be a positive integer up to 10,000"),
    (["--env", "ALE/Pong-v5", "--noop-max", "100000"], "--noop-max must be a non-negative integer up to 10,000"),
    # empty and unknown strings
    (["--env", ""], "--env must not be empty"),
    (["--run-dir", ""], "--run-dir must not be empty"),
    (["--algo", ""], "--algo '' is not supported (allowed: a3c"),
    (["--optimizer", ""], "--optimizer '' is not supported"),
    (["--lr-schedule", ""], "--lr-schedule '' is not supported"),
    (["--torso", ""], "--torso '' is not supported"),
    (["--activation", ""], "--activation '' is not supported"),
    (["--vector-env", ""], "--vector-env '' is not supported"),
    (["--start-method", ""], "--start-method '' is not supported"),
    (["--algo", "impala", "--device", ""], "--device '' is not supported"),
    (["--algo", "appo", "--targets", ""], "--targets '' is not supported"),
    (["--algo", "feudal", "--runtime", ""], "--runtime '' is not supported"),
    # --env package.module:EnvClass
    (["--env", ":Env"], "--env ':Env' names no module"),
    (["--env", "support_envs:"], "--env 'support_envs:' names no class"),
    (["--env", "no_such_module_xyz:Env"], "cannot import module 'no_such_module_xyz'"),
    (["--env", ".relative:Env"], "cannot import module '.relative'"),
    (["--env", "support_envs:NoSuchEnv"], "module 'support_envs' has no attribute 'NoSuchEnv'"),
    (["--env", "collections:OrderedDict"], "'OrderedDict' is a class but not a gymnasium.Env subclass"),
    (["--env", "support_envs:np"], "'np' is not an env class or factory"),
    # --run-dir and --resume
    (["--run-dir", "file.txt"], "--run-dir 'file.txt' is a file, not a directory"),
    (["--run-dir", "file.txt/sub"], "--run-dir 'file.txt/sub' cannot be created"),
    (["--run-dir", "run"], "--run-dir 'run' already holds a run (resume it with --resume run"),
    (["--run-dir", "nockpt"], "--run-dir 'nockpt' holds a run that never wrote a checkpoint"),
    (["--run-dir", "foreign"], "--run-dir 'foreign' already holds episodes.csv but no config.json"),
    (["--resume", ""], "--resume must not be empty"),
    (["--resume", "missing"], "--resume 'missing' does not exist"),
    (["--resume", "file.txt"], "--resume 'file.txt' is a file, not a run dir"),
    (["--resume", "empty"], "--resume 'empty': no config.json there (not an asyncrl run dir)"),
    (["--resume", "corrupt"], "--resume 'corrupt': config.json cannot be read"),
    (["--resume", "listcfg"], "--resume 'listcfg': config.json does not hold an asyncrl config"),
    (["--resume", "nockpt"], "--resume 'nockpt' has no checkpoints/latest.pt"),
    (["--resume", "run", "--run-dir", "elsewhere"], "--run-dir 'elsewhere' does not apply with --resume"),
]

OTHERS = [
    (
        ["fit"],
        "argument command: invalid choice: 'fit' (choose from 'train', 'eval', 'plot', 'record', 'tune', "
        "'sweep') (see 'asyncrl --help')",
    ),
    (["eval", "missing"], "'missing' does not exist (give a run dir, a .pt checkpoint or pretrained:NAME)"),
    (["eval", ""], "must not be empty (give a run dir, a .pt checkpoint or pretrained:NAME)"),
    (["eval", "empty"], "run dir 'empty' has no checkpoints/best.pt or checkpoints/latest.pt"),
    (["eval", "file.txt"], "checkpoint 'file.txt' cannot be read"),
    (["eval", "pretrained:nope"], "no pretrained model 'nope'"),
    (["eval", "pretrained:cartpole", "--episodes", "0"], "--episodes must be a positive integer up to 100,000"),
    (["eval", "pretrained:cartpole", "--episodes", BIG], "--episodes must be a positive integer up to 100,000"),
    (["eval", "pretrained:cartpole", "--num-envs", "0"], "--num-envs must be a positive integer up to 65,536"),
    (["eval", "pretrained:cartpole", "--num-envs", BIG], "--num-envs must be a positive integer up to 65,536"),
    (["eval", "pretrained:cartpole", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["eval", "pretrained:cartpole", "--episodes", "ten"], "argument --episodes: invalid int value: 'ten'"),
    (["eval", "pretrained:cartpole", "--checkpoint", "worst"], "argument --checkpoint: invalid choice: 'worst'"),
    (["plot", "missing"], "run dir 'missing' does not exist"),
    (["plot", ""], "must not be empty"),
    (["plot", "file.txt"], "'file.txt' is a file, not a run dir"),
    (["plot", "run", "empty"], "'empty' has no episodes.csv"),
    (["plot", "badcsv"], "cannot be read as an asyncrl episodes.csv"),
    (["plot", "run", "-o", "empty"], "-o 'empty' is a directory (allowed: a file name ending in "),
    (["plot", "run", "-o", "curve.txt"], "-o 'curve.txt' has extension '.txt' (allowed: "),
    (["plot", "run", "-o", "curve"], "-o 'curve' has no extension (allowed: "),
    (["plot", "run", "-o", ""], "-o must not be empty"),
    (["plot", "run", "-o", "file.txt/c.png"], "-o 'file.txt/c.png': folder 'file.txt' is a file, not a directory"),
    (["plot", "run", "-o", "run/curve.png"], "-o 'run/curve.png' would overwrite the curve.png of the run"),
    (["plot", "run", "-o", "run/config.json"], "has extension '.json'"),
    (
        ["record", "pretrained:cartpole", "-o", "empty"],
        "-o 'empty' is a directory (allowed: a file name ending in .mp4, .gif, .png, .webp)",
    ),
    (
        ["record", "pretrained:cartpole", "-o", "ep.avi"],
        "-o 'ep.avi' has extension '.avi' (allowed: .mp4, .gif, .png, .webp)",
    ),
    (["record", "pretrained:cartpole", "--max-frames", "0"], "--max-frames"),
    (["record", "pretrained:cartpole", "-o", "ep"], "-o 'ep' has no extension"),
    (["record", "pretrained:cartpole", "-o", ""], "-o must not be empty"),
    (["record", "pretrained:cartpole", "-o", "file.txt/ep.gif"], "folder 'file.txt' is a file, not a directory"),
    (["record", "pretrained:cartpole", "-o", "run/curve.png"], "would overwrite the curve.png of the run"),
    (["record", "pretrained:cartpole", "--fps", "0"], "--fps must be a positive integer up to 100, got 0"),
    (["record", "pretrained:cartpole", "--fps", "1000"], "--fps must be a positive integer up to 100"),
    (["record", "pretrained:cartpole", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["record", "missing"], "'missing' does not exist"),
    (["record", "empty"], "run dir 'empty' has no checkpoints"),
]


@pytest.mark.parametrize("args, needle", TRAIN, ids=[" ".join(a)[:60] for a, _ in TRAIN])
def test_bad_train_input(args, needle, sandbox, capsys):
    before = _snapshot(sandbox)
    if "--run-dir" not in args and "--resume" not in args:
        args = [*args, "--run-dir", "new"]
    line = one_line_error(capsys, ["train", *args, "--no-tensorboard", "--no-progress"])
    assert needle in line
    assert _snapshot(sandbox) == before  # nothing created, nothing changed


@pytest.mark.parametrize("args, needle", OTHERS, ids=[" ".join(a)[:60] for a, _ in OTHERS])
def test_bad_eval_plot_record_input(args, needle, sandbox, capsys):
    before = _snapshot(sandbox)
    assert needle in one_line_error(capsys, args)
    assert _snapshot(sandbox) == before


# ---- unreadable and unwritable paths --------------------------------------------------------------------

DENIED = [  # (argv, the path made inaccessible, its mode, expected)
    (["train", "--run-dir", "locked/new"], "locked", 0o555, "--run-dir 'locked/new' cannot be created: "),
    (["train", "--run-dir", "locked"], "locked", 0o555, "--run-dir 'locked' is not writable"),
    (["train", "--resume", "run"], "run", 0o555, "--resume 'run' is not readable and writable"),
    (
        ["train", "--resume", "run"],
        "run/episodes.csv",
        0o444,
        "--resume 'run': episodes.csv is not readable and writable",
    ),
    (["eval", "run"], "run", 0o000, "run dir 'run' is not readable"),
    (
        ["eval", "run/checkpoints/latest.pt"],
        "run/checkpoints/latest.pt",
        0o000,
        "checkpoint 'run/checkpoints/latest.pt' is not readable",
    ),
    (["record", "pretrained:cartpole", "-o", "locked/ep.gif"], "locked", 0o555, "folder 'locked' is not writable"),
    (["record", "pretrained:cartpole", "-o", "old.gif"], "old.gif", 0o444, "-o 'old.gif' exists and is not writable"),
    (["plot", "run", "-o", "locked/deep/c.png"], "locked", 0o555, "folder 'locked/deep' cannot be created: "),
    (["plot", "run"], "run/episodes.csv", 0o000, "'run/episodes.csv' is not readable"),
]


def _prepare_denied(sandbox) -> None:
    (sandbox / "locked").mkdir(exist_ok=True)
    (sandbox / "old.gif").write_bytes(b"GIF89a old")


@pytest.mark.parametrize("args, target, mode, needle", DENIED, ids=[" ".join(d[0]) for d in DENIED])
def test_permissions_with_chmod(args, target, mode, needle, sandbox, capsys):
    _prepare_denied(sandbox)
    before = _snapshot(sandbox)
    path = sandbox / target
    old = path.stat().st_mode
    os.chmod(path, mode)
    try:
        if os.access(path, os.R_OK | os.W_OK):
            pytest.skip(
                "running as root (or with CAP_DAC_OVERRIDE): chmod does not stop reads or writes here; "
                "test_permissions_simulated covers the same rows"
            )
        assert needle in one_line_error(capsys, args)
    finally:
        os.chmod(path, old)
    assert _snapshot(sandbox) == before


@pytest.mark.parametrize("args, target, mode, needle", DENIED, ids=[" ".join(d[0]) for d in DENIED])
def test_permissions_simulated(args, target, mode, needle, sandbox, capsys, monkeypatch):
    """The same rows with ``os.access`` answering as it would for an unprivileged user (runs even as root)."""
    _prepare_denied(sandbox)
    before = _snapshot(sandbox)
    denied = os.path.realpath(sandbox / target)
    real_access = os.access

    def access(p, how, *a, **kw):
        if os.path.realpath(p) == denied:
            allowed = (mode >> 6) & 7  # the owner's bits: 4 read, 2 write, 1 search
            return (how & allowed) == how
        return real_access(p, how, *a, **kw)

    monkeypatch.setattr(os, "access", access)
    assert needle in one_line_error(capsys, args)
    assert _snapshot(sandbox) == before


# ---- end to end, in a subprocess (one case: every process start pays for importing torch) -----------------


def test_end_to_end_one_line(tmp_path):
    """A --run-dir that is a file (once a 14-line traceback and exit 1) and --lr inf, through the real command."""
    (tmp_path / "file.txt").write_text("keep")
    p = run_cli("train", "--run-dir", str(tmp_path / "file.txt"), "--lr", "inf", "--total-steps", "3000")
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stdout == "", p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines == [f"asyncrl: error: --run-dir {str(tmp_path / 'file.txt')!r} is a file, not a directory"]
    assert (tmp_path / "file.txt").read_text() == "keep" and os.listdir(tmp_path) == ["file.txt"]


# ---- the Python API gets the same checks; real settings pass --------------------------------------------


@pytest.mark.parametrize(
    "settings, needle",
    [
        (dict(lr=math.inf), "--lr must be a finite positive number"),
        (dict(workers="4"), "--workers must be an integer, got '4'"),
        (dict(workers=True), "--workers must be an integer, got True"),
        (dict(gamma="0.99"), "--gamma must be a number, got '0.99'"),
        (dict(hidden=[64.0]), "--hidden must be a list of integers"),
        (dict(lstm="yes"), "--lstm must be true or false"),
        (dict(seed=None), "--seed must be an integer, got None"),
        (dict(run_dir=""), "--run-dir must not be empty"),
    ],
)
def test_api_refuses_the_same(settings, needle, tmp_path):
    settings.setdefault("run_dir", str(tmp_path / "r"))
    with pytest.raises(UsageError, match=None) as info:
        A2C("CartPole-v1", tensorboard=False, progress=False, **settings).learn(total_steps=1000)
    assert needle in str(info.value)
    assert not os.path.exists(tmp_path / "r")


def test_negative_numbers_are_values_not_flags():
    from asyncrl.cli import build_parser

    args = build_parser().parse_args(["train", "--target-return", "-1e3", "--log-std-init", "-.5"])
    assert args.target_return == -1000.0 and args.log_std_init == -0.5


def test_the_bounds_do_not_refuse_real_settings():
    """Big-machine settings and every per-env default pass validation."""
    validate(
        TrainConfig(
            algo="impala",
            workers=256,
            num_envs=4096,
            n_steps=2048,
            total_steps=10**10,
            batch_rollouts=1,
            slots_per_actor=4,
            hidden=[4096, 4096],
            lstm_size=4096,
            seed=2**32 - 1,
            target_return=-1e6,
            max_seconds=30 * 86400,
            lr=1.0,
            log_std_init=-5.0,
            eval_every=10**9,
            eval_episodes=10_000,
            max_grad_norm=0.0,
            entropy_coef=0.0,
        )
    )
    for algo, key in ((a.name, key) for a in ALGORITHMS.values() for key in a.defaults):
        family = row_family(key)
        resolve(TrainConfig(algo=algo, env="CartPole-v1" if key == family else key), family)


# ---- a user's env that breaks Gymnasium's API: one line naming the env, the method and the rule -------------

BROKEN_ENVS = [
    ("OldResetAPI", "reset() returned a ndarray; Gymnasium's API returns (observation, info) with info a dict"),
    ("FourValueStep", "step() returned a tuple of 4 values (observation, reward, done, info: the old Gym API)"),
    ("WrongShapeObs", "step() returned an observation of shape (3,); its observation space"),
    ("FloatFrames", "reset() returned float64 observations; its observation space holds uint8 (allowed: integers)"),
    ("TextReward", "step() returned a reward of type str ('1.0'); allowed: a number"),
    ("NumberDone", "step() returned terminated=1 of type int; allowed: a bool"),
    ("RaisingStep", "step() raised KeyError: 'no such move' (at "),
    ("BadMask", "reset() gave info['action_mask'] has 3 entries; the action space Discrete(2) needs 2"),
    ("RaisingInit", "__init__() raised ValueError: missing data file (at "),
    ("NestedDict", "observation entry 'a' is Dict('b': Discrete(2)) (allowed in a Dict or Tuple observation: Box"),
]


@pytest.mark.parametrize("name, rule", BROKEN_ENVS)
def test_a_users_env_that_breaks_the_api_gets_one_line_and_no_run_dir(name, rule, tmp_path, capsys):
    run_dir = tmp_path / "run"
    line = one_line_error(
        capsys, ["train", "--algo", "a2c", "--env", f"support_envs:{name}", "--run-dir", str(run_dir)]
    )
    assert line.startswith(f"asyncrl: error: --env support_envs:{name}: {rule}"), line
    if name in ("RaisingStep", "RaisingInit"):
        text = "raise KeyError" if name == "RaisingStep" else "raise ValueError"
        assert line.rstrip().endswith(f"support_envs.py:{_line_of(name, text)})")
    assert not run_dir.exists()


def _line_of(cls: str, text: str) -> int:
    lines = open(os.path.join(os.path.dirname(__file__), "support_envs.py")).read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"class {cls}("))
    return next(i for i in range(start, len(lines)) if text in lines[i]) + 1


def test_float64_observations_of_a_float32_space_are_accepted(tmp_path):
    # NumPy's default dtype in a user's env: Gymnasium's checker warns, asyncrl trains (the slots take float64).
    p = run_cli("train", "--algo", "a2c", "--env", "support_envs:Float64Obs", "--total-steps", "200",
                "--eval-every", "0", "--run-dir", str(tmp_path / "run"), *FAST)  # fmt: skip
    assert p.returncode == 0, p.stderr
