"""End to end through the command line: train (a2c, a3c), eval, plot, record, and bad input."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
from PIL import Image

from conftest import FAST, one_line_error, run_cli

TINY = ["--total-steps", "3000", "--eval-every", "1000", "--eval-episodes", "2", *FAST]


def _rows(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def a2c_run(tmp_path_factory) -> str:
    d = str(tmp_path_factory.mktemp("cli") / "a2c")
    run_cli("train", "--algo", "a2c", "--seed", "1", "--run-dir", d, *TINY, check=True)
    return d


@pytest.mark.parametrize("algo", ["a2c", "a3c"])
def test_train_writes_the_run_dir(algo, tmp_path):
    d = str(tmp_path / algo)
    workers = ["--workers", "2"] if algo == "a3c" else []  # (A2C runs in one process: --workers is refused)
    p = run_cli("train", "--algo", algo, *workers, "--run-dir", d, *TINY, check=True)
    assert "step budget reached" in p.stdout
    for name in (
        "config.json",
        "episodes.csv",
        "metrics.csv",
        "evals.csv",
        "curve.png",
        "checkpoints/latest.pt",
        "checkpoints/best.pt",
    ):
        assert os.path.isfile(os.path.join(d, name)), name
    with open(os.path.join(d, "episodes.csv")) as f:
        assert f.readline().strip().split(",")[:5] == [
            "wall_time_s",
            "env_steps",
            "episode_return",
            "episode_length",
            "worker",
        ]
    rows = _rows(os.path.join(d, "episodes.csv"))
    assert len(rows) >= 20  # CartPole episodes with a random-ish policy last ~20 steps
    assert all(float(r["episode_return"]) == float(r["episode_length"]) for r in rows)  # CartPole: +1 per step
    steps = [int(r["env_steps"]) for r in rows]
    if algo == "a3c":
        assert {r["worker"] for r in rows} == {"0", "1"}
    else:
        assert steps == sorted(steps)
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["algo"] == algo and cfg["env"] == "CartPole-v1" and cfg["lr"] > 0
    ckpt = torch.load(os.path.join(d, "checkpoints", "latest.pt"), weights_only=True)
    assert ckpt["counters"]["env_steps"] >= 3000
    metrics = _rows(os.path.join(d, "metrics.csv"))
    assert metrics and {"loss/policy", "loss/value", "grad_norm", "steps_per_s", "lr"} <= set(metrics[0])
    tests = _rows(os.path.join(d, "evals.csv"))
    assert tests and all(int(t["episodes"]) == 2 for t in tests)


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a3c", ["--lstm"]),
        ("a2c", ["--env", "Pendulum-v1"]),
        ("a3c", ["--env", "Pendulum-v1", "--vector-env", "gymnasium"]),
    ],
)
def test_train_variants(algo, extra, tmp_path):
    """LSTM policies and continuous actions through both runtimes, then evaluated."""
    d = str(tmp_path / "v")
    workers = ["--workers", "2"] if algo == "a3c" else []
    run_cli(
        "train",
        "--algo",
        algo,
        *workers,
        "--run-dir",
        d,
        "--total-steps",
        "2000",
        "--eval-every",
        "0",
        *FAST,
        *extra,
        check=True,
    )
    out = json.loads(run_cli("eval", d, "--episodes", "2", "--json", check=True).stdout)
    assert out["episodes"] == 2 and out["env"] == ("Pendulum-v1" if "Pendulum-v1" in extra else "CartPole-v1")
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["lstm"] == ("--lstm" in extra)


def test_eval_json(a2c_run):
    p = run_cli("eval", a2c_run, "--episodes", "5", "--json", check=True)
    out = json.loads(p.stdout)
    assert out["episodes"] == 5
    assert out["min"] <= out["mean"] <= out["max"]
    assert {"mean", "std", "min", "max", "episodes"} <= set(out)
    p = run_cli("eval", os.path.join(a2c_run, "checkpoints", "latest.pt"), "--episodes", "3", check=True)
    assert "over 3 episodes" in p.stdout and "±" in p.stdout
    p = run_cli("eval", a2c_run, "--episodes", "5", "--num-envs", "3", "--json", check=True)
    assert json.loads(p.stdout) == out  # the same seeded episodes, played three at a time


@pytest.mark.parametrize("lstm", [False, True])
def test_batched_evaluation_plays_the_same_episodes(lstm):
    # Episode i is reset with seed + i whichever env plays it, and a recurrent state restarts with
    # each episode, so a deterministic policy scores the same one at a time or several at once.
    from asyncrl.envs.make import env_spaces
    from asyncrl.evaluate import run_episodes
    from asyncrl.nn.build import make_model
    from asyncrl.nn.spec import spec_from_spaces

    torch.manual_seed(0)  # a random policy whose episode lengths differ from seed to seed
    model = make_model(spec_from_spaces(*env_spaces("CartPole-v1"), hidden=[8], lstm=lstm, lstm_size=8))
    one = run_episodes(model, "CartPole-v1", 7, seed=11)
    assert len(set(one)) > 2
    for k in (2, 3, 16):
        assert run_episodes(model, "CartPole-v1", 7, seed=11, num_envs=k) == one


def test_batched_evaluation_clips_continuous_actions():
    # A policy whose mean action (5) lies past MountainCarContinuous's bounds (+-1), whose reward charges
    # the action it is given: the env must get the clipped action in both paths, so both score the
    # same (up to the float rounding of a batched forward).
    from asyncrl.envs.make import env_spaces
    from asyncrl.evaluate import run_episodes
    from asyncrl.nn.build import make_model
    from asyncrl.nn.spec import spec_from_spaces

    torch.manual_seed(0)
    model = make_model(spec_from_spaces(*env_spaces("MountainCarContinuous-v0"), hidden=[8]))
    with torch.no_grad():
        model.policy_head.bias.fill_(5.0)
    one = run_episodes(model, "MountainCarContinuous-v0", 2, seed=5)
    assert run_episodes(model, "MountainCarContinuous-v0", 2, seed=5, num_envs=2) == pytest.approx(one, rel=1e-5)


def test_plot_several_runs(a2c_run, tmp_path):
    second = str(tmp_path / "second")
    run_cli("train", "--algo", "a2c", "--seed", "2", "--run-dir", second, *TINY, check=True)
    out = str(tmp_path / "curves.png")
    run_cli("plot", a2c_run, second, "-o", out, check=True)
    img = Image.open(out)
    assert img.format == "PNG" and img.size[0] > 500


def test_record_gif(a2c_run, tmp_path):
    out = str(tmp_path / "ep.gif")
    p = run_cli("record", a2c_run, "-o", out, check=True)
    img = Image.open(out)
    frames = int(p.stdout.split(":")[1].split("frames")[0])
    # Pillow merges identical consecutive frames, so the GIF may hold fewer than were played.
    assert img.format == "GIF" and 5 < img.n_frames <= frames


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--env", "NoSuchEnv-v9"], "NoSuchEnv-v9"),
        (["train", "--workers", "0"], "--workers"),
        (["train", "--total-steps", "-5"], "--total-steps"),
        (["train", "--algo", "dqn"], "dqn"),
        (["train", "--algo", "feudal", "--env", "support_envs:MultiDiscreteActions"], "need a discrete action"),
        (["train", "--env", "no_such_module:Env"], "no_such_module"),
        (["train", "--optimizer", "sgd"], "sgd"),
        (["eval", "/nonexistent/run"], "/nonexistent/run"),
        (["train", "--resume", "/nonexistent/run"], "/nonexistent/run"),
        (["train", "--bogus-flag"], "--bogus-flag"),
        (["train", "--seed", "-3"], "--seed"),
        (["train", "--vector-env", "fast"], "--vector-env"),
        (["train", "--algo", "a3c", "--env", "Acrobot-v1", "--vector-env", "native"], "native"),
        (["train", "--optimizer-eps", "0"], "--optimizer-eps"),
        (["train", "--rms-alpha", "1.5"], "--rms-alpha"),
        (["eval", "pretrained:cartpole", "--num-envs", "0"], "--num-envs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, capsys):
    # (in one process: these test the parsing and checks; the exit path itself is test_inputs.py's end to end)
    argv = [*args, "--run-dir", str(tmp_path / "r")] if args[0] == "train" else args
    assert needle in one_line_error(capsys, argv)
    assert not os.path.exists(tmp_path / "r" / "config.json")


def test_corrupt_checkpoint_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    assert "cannot be read" in one_line_error(capsys, ["eval", str(bad)])


def test_pickled_object_checkpoint_is_refused(tmp_path, capsys):
    import argparse

    path = tmp_path / "evil.pt"  # holds a pickled Python object: loading must not unpickle it
    torch.save({"format": "asyncrl-checkpoint-v1", "obj": argparse.Namespace(x=1)}, path)
    one_line_error(capsys, ["eval", str(path)])


def test_run_dir_holding_a_run_is_refused(a2c_run, capsys):
    assert "already holds a run" in one_line_error(capsys, ["train", "--algo", "a2c", "--run-dir", a2c_run, *TINY])


# ---- the train flags are generated from TrainConfig, for the --algo and --env named --------------


def test_help_lists_the_settings_of_the_named_algorithm_and_env_family(capsys):
    from asyncrl.cli import main

    def flags(*args: str) -> set[str]:
        with pytest.raises(SystemExit) as e:
            main(["train", *args, "--help"])
        assert e.value.code == 0
        return {w.strip("[],") for w in capsys.readouterr().out.split() if w.startswith(("--", "[--"))}

    impala, a3c = flags("--algo", "impala"), flags()
    assert {"--rho-bar", "--pg-rho-bar", "--batch-rollouts", "--lr", "--t-max"} <= impala
    assert not {"--clip-range", "--epochs", "--shared-optimizer", "--noop-max", "--feudal-dim"} & impala
    assert "--shared-optimizer" in a3c and not {"--rho-bar", "--noop-max"} & a3c
    pong = flags("--algo", "a2c", "--env", "PongNoFrameskip-v4")
    assert {"--noop-max", "--sticky-actions", "--atari-eval"} <= pong
    with pytest.raises(SystemExit):  # the help text is the field's docstring
        main(["train", "--algo", "impala", "--help"])
    assert "clipping of the importance weights in the value targets" in " ".join(capsys.readouterr().out.split())


def test_another_algorithms_flag_is_refused_naming_who_uses_it(tmp_path, capsys):
    line = one_line_error(capsys, ["train", "--algo", "a2c", "--clip-range", "0.1", "--run-dir", str(tmp_path / "x")])
    assert line == (
        "asyncrl: error: --clip-range does not apply to --algo a2c (it is used by: appo) (see 'asyncrl train --help')"
    )
    line = one_line_error(capsys, ["train", "--algo", "a2c", "--no-episodic-life", "--run-dir", str(tmp_path / "y")])
    assert "--episodic-life applies to Atari games only, not --env CartPole-v1" in line


def test_dry_run_prints_the_config_the_run_writes_and_writes_nothing(a2c_run, tmp_path, capsys):
    from asyncrl.cli import main

    new = tmp_path / "dry"
    assert main(["train", "--algo", "a2c", "--seed", "1", "--run-dir", str(new), *TINY, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    with open(os.path.join(a2c_run, "config.json")) as f:
        written = json.load(f)
    assert json.loads(out) == {**written, "run_dir": str(new)}
    assert "--algo a2c on --env CartPole-v1" in err and "nothing trained or written" in err
    assert not new.exists()
    # and a resumed run's: the saved settings with the changes a resume may make
    assert main(["train", "--resume", a2c_run, "--total-steps", "9000", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {**written, "total_steps": 9000} and f"resumes {a2c_run} at 3," in err


def test_record_plays_by_the_env_s_action_masks(tmp_path):
    """A policy set on action 0, recorded on episodes where the env's mask forbids it (taking it scores -1):
    ``asyncrl record`` plays an allowed action there, and 0 where it is allowed."""
    from asyncrl.checkpoint import load_checkpoint, save_checkpoint

    from support_envs import MaskedChoiceFrames

    env_id, run_dir = "support_envs:MaskedChoiceFrames", str(tmp_path / "run")
    args = ["--total-steps", "200", "--eval-every", "0", "--run-dir", run_dir]
    run_cli("train", "--algo", "a2c", "--env", env_id, *args, *FAST, check=True)
    for name in ("best", "latest"):
        path = f"{run_dir}/checkpoints/{name}.pt"
        ckpt = load_checkpoint(path)
        ckpt["model"]["policy_head.weight"].zero_()
        ckpt["model"]["policy_head.bias"].copy_(torch.tensor([9.0, 0, 0, 0, 0]))  # (action 0 whatever it sees)
        save_checkpoint(path, ckpt)
    forbidden = [s for s in range(20) if MaskedChoiceFrames().reset(seed=s)[1]["action_mask"][0] == 0][:2]
    allowed = [s for s in range(20) if s not in forbidden][:1]
    assert len(forbidden) == 2 and allowed
    for seed in [*forbidden, *allowed]:
        p = run_cli("record", run_dir, "-o", str(tmp_path / f"{seed}.gif"), "--seed", str(seed), check=True)
        ret = float(p.stdout.rsplit("episode return", 1)[1])
        assert ret in ((1.0,) if seed in allowed else (0.0, 0.8)), (seed, p.stdout)  # (never 0 while forbidden: -1)
