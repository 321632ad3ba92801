"""Run directories written by the code before the renovation (tests/fixtures, commit 6a2c641) still
evaluate to the same scores, resume, plot, record and load through the Python API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from asyncrl import load
from asyncrl.checkpoint import load_checkpoint
from asyncrl.cli import main
from asyncrl.config import TrainConfig
from asyncrl.plot import plot_runs
from asyncrl.train import train

FIXTURES = Path(__file__).parent / "fixtures"
RUNS = ["run-v1-a2c-cartpole", "run-v1-impala-pendulum"]


@pytest.fixture(params=RUNS)
def old_run(request, tmp_path) -> Path:
    """A copy (resuming writes into the run dir) of a run dir written by the old code."""
    dst = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, dst)
    return dst


@pytest.mark.parametrize("which", ["best", "latest"])
def test_old_checkpoints_score_what_the_old_code_scored(old_run, which, capsys):
    expected = json.loads((old_run / "expected.json").read_text())["eval_mean_5_episodes_seed_0"][which]
    assert main(["eval", str(old_run), "--episodes", "5", "--seed", "0", "--checkpoint", which, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["mean"] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_an_old_run_resumes_where_it_stopped(old_run):
    before = load_checkpoint(str(old_run / "checkpoints" / "latest.pt"))
    steps = before["counters"]["env_steps"]
    evals_before = (old_run / "tests.csv").read_text().splitlines()
    result = train(
        TrainConfig(total_steps=steps + 2_000, progress=False), resume=str(old_run), given={"total_steps", "progress"}
    )
    after = load_checkpoint(str(old_run / "checkpoints" / "latest.pt"))
    assert result.env_steps >= steps + 2_000 and after["counters"]["env_steps"] == result.env_steps
    assert after["counters"]["updates"] > before["counters"]["updates"]
    assert after["counters"]["episodes"] >= before["counters"]["episodes"]
    assert any(not torch.equal(after["model"][k], before["model"][k]) for k in before["model"])
    saved = json.loads((old_run / "config.json").read_text())
    assert saved["algo"] == before["algo"] and saved["total_steps"] == steps + 2_000
    # its evaluations (tests.csv before evals.csv was named) go on in the same file, its best one is kept
    evals_after = (old_run / "tests.csv").read_text().splitlines()
    assert evals_after[: len(evals_before)] == evals_before and len(evals_after) > len(evals_before)
    assert not (old_run / "evals.csv").exists()
    assert after["counters"]["best_eval"] >= before["counters"]["best_test"]


def test_an_atari_run_from_before_the_protocols_resumes_with_its_own(tmp_path, capsys):
    """A run dir written before the Atari evaluation protocols (commit 48a9edc) saved its Atari options as
    ``null`` and had no ``atari_eval``: its evaluations pressed FIRE after a lost life. Resumed, it keeps that
    (``lives``, not today's ``game``), and one warning line names what the options cannot keep."""
    pytest.importorskip("ale_py", reason="the atari extra (ale-py) is not installed")
    run = tmp_path / "breakout"
    fast = dict(progress=False, tensorboard=False)
    train(
        TrainConfig(
            algo="a2c",
            env="BreakoutNoFrameskip-v4",
            num_envs=2,
            n_steps=5,
            total_steps=40,
            eval_every=0,
            run_dir=str(run),
            **fast,
        )
    )
    saved = json.loads((run / "config.json").read_text())
    del saved["atari_eval"]
    saved.update(
        {
            name: None
            for name in (
                "noop_max",
                "episodic_life",
                "clip_rewards",
                "fire_reset",
                "sticky_actions",
                "full_action_space",
            )
        },
        runtime=None,
    )
    (run / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    train(TrainConfig(total_steps=80, **fast), resume=str(run), given={"total_steps", *fast})
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no-op starts are 1 to 30 (were 0 to 30)" in warnings[0]
    assert "FIRE then action 2 (was FIRE alone)" in warnings[0] and "--atari-eval lives" in warnings[0]
    resumed = json.loads((run / "config.json").read_text())
    assert resumed["atari_eval"] == "lives" and resumed["noop_max"] == 30 and resumed["fire_reset"] is True
    capsys.readouterr()
    train(TrainConfig(total_steps=120, **fast), resume=str(run), given={"total_steps", *fast})
    assert "warning:" not in capsys.readouterr().out  # (its config.json now names its protocol)
    assert json.loads((run / "config.json").read_text())["atari_eval"] == "lives"


def test_an_old_run_plots_records_and_loads(old_run, tmp_path):
    out = tmp_path / "curve.png"
    plot_runs([str(old_run)], str(out))
    assert out.stat().st_size > 0
    if "cartpole" in old_run.name:
        gif = tmp_path / "episode.gif"
        assert main(["record", str(old_run), "-o", str(gif)]) == 0 and gif.stat().st_size > 0
    policy = load(str(old_run))
    obs = np.zeros(policy.model.spec.obs_shape, np.float32)
    action, state = policy.predict(obs, deterministic=True)
    assert state is None and np.all(np.isfinite(np.asarray(action, dtype=np.float64)))
