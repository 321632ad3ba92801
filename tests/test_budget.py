"""The trainer never starves: however fast episodes end, every runtime stops at its budget, on SIGINT, and
when no update can be applied any more (issue 11).

``support_envs:OneStepEpisodes`` ends every episode after one step, so the main process receives as many
finished episodes as env steps; ``support_envs:NaNRewards`` makes every gradient non-finite.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import time

import pytest

from conftest import no_leftovers, run_cli, start_cli, wait_for_episodes

NUM_ENVS, N_STEPS = 32, 5
RUNTIMES = {
    "hogwild": ["--algo", "a3c", "--workers", "2"],
    "sync": ["--algo", "a2c"],
    "actor-learner": ["--algo", "impala", "--workers", "1"],
    "serial": ["--algo", "impala", "--workers", "1", "--serial"],
}
OVERSHOOT = {  # env steps a runtime may take past its budget: one rollout per worker (per slot for actors)
    "hogwild": 2 * NUM_ENVS * N_STEPS,
    "sync": NUM_ENVS * N_STEPS,
    "actor-learner": 2 * NUM_ENVS * N_STEPS,
    "serial": 2 * NUM_ENVS * N_STEPS,
}
SHAPE = ["--num-envs", str(NUM_ENVS), "--n-steps", str(N_STEPS), "--eval-every", "0", "--no-progress"]
"""TensorBoard stays on: one event per episode was what starved the Hogwild parent before."""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_one_step_episodes_stop_at_the_budget(runtime, run_dir):
    budget = 50_000
    t0 = time.monotonic()
    p = run_cli(
        "train",
        *RUNTIMES[runtime],
        "--env",
        "support_envs:OneStepEpisodes",
        "--total-steps",
        str(budget),
        *SHAPE,
        "--run-dir",
        run_dir,
        timeout=120,
    )
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    m = re.search(r"step budget reached: ([\d,]+) env steps, ([\d,]+) episodes", p.stdout)
    assert m, p.stdout
    steps, episodes = (int(g.replace(",", "")) for g in m.groups())
    assert budget <= steps <= budget + OVERSHOOT[runtime]
    rows = list(csv.DictReader(open(os.path.join(run_dir, "episodes.csv"))))
    assert len(rows) == episodes > budget // 2  # every counted episode is in the log, once
    assert all(r["episode_length"] == "1" for r in rows)
    assert took < 100  # generous: the point is that it ends at all (hogwild ran on for minutes, ignoring SIGTERM)
    no_leftovers(run_dir)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_one_step_episodes_stop_on_sigint(runtime, run_dir):
    proc = start_cli(
        "train",
        *RUNTIMES[runtime],
        "--env",
        "support_envs:OneStepEpisodes",
        "--total-steps",
        "1000000000",
        *SHAPE,
        "--run-dir",
        run_dir,
    )
    try:
        wait_for_episodes(run_dir, proc, n=1000)
        os.kill(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "interrupted (SIGINT)" in out
    assert took < 20
    no_leftovers(run_dir)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_run_whose_every_gradient_is_non_finite_ends_with_an_error(runtime, run_dir):
    p = run_cli(
        "train",
        *RUNTIMES[runtime],
        "--env",
        "support_envs:NaNRewards",
        "--total-steps",
        "100000000",
        *SHAPE,
        "--run-dir",
        run_dir,
        timeout=120,
    )
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "non-finite gradient" in p.stderr
    assert "Traceback" not in p.stderr.split("asyncrl: training failed")[-1]
    assert "non-finite gradient" in open(os.path.join(run_dir, "error.log")).read()
    no_leftovers(run_dir)


@pytest.mark.parametrize("algo", ["a3c", "impala"])
def test_the_run_reports_the_figure_it_stopped_on(algo, tmp_path, capsys):
    """The stop decision, the result, the final progress line and the checkpoint give one mean of the last
    100 episodes, although workers finish a few more episodes while they stop (logged, not counted in it)."""
    import math

    import torch

    from asyncrl import TrainConfig, train

    run_dir = str(tmp_path / "run")
    r = train(
        TrainConfig(
            algo=algo,
            env="CartPole-v1",
            workers=2 if algo == "a3c" else 1,
            total_steps=300_000,
            target_return=60.0,
            eval_every=0,
            tensorboard=False,
            progress=True,
            run_dir=run_dir,
        )
    )
    out = capsys.readouterr().out
    assert r.stop_reason.startswith("target return 60 reached"), r.stop_reason
    ckpt = torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)
    recent = ckpt["counters"]["recent_returns"]
    assert len(recent) == 100 and math.isclose(sum(recent) / 100, r.mean_return_100, rel_tol=1e-12)
    assert r.mean_return_100 >= 60.0
    assert f"(mean100 {r.mean_return_100:.2f})" in r.stop_reason
    last_line = [ln for ln in out.replace("\r", "\n").splitlines() if ln.startswith("steps")][-1]
    assert f"mean100 {r.mean_return_100:>8.1f}" in last_line
    rows = list(csv.DictReader(open(os.path.join(run_dir, "episodes.csv"))))
    assert len(rows) == r.episodes >= 100


@pytest.mark.parametrize("runtime", ["sync", "serial"])
def test_the_final_weights_are_evaluated_once_when_an_evaluation_falls_on_the_budget(runtime, run_dir):
    # eval_every divides the budget (as in every tune trial): the periodic evaluation at the budget is the final
    # one, not followed by a second evaluation of the same weights at the same step.
    p = run_cli(
        "train",
        *RUNTIMES[runtime],
        "--env",
        "CartPole-v1",
        "--num-envs",
        "4",
        "--n-steps",
        "5",
        "--total-steps",
        "400",
        "--eval-every",
        "400",
        "--eval-episodes",
        "1",
        "--no-tensorboard",
        "--no-progress",
        "--run-dir",
        run_dir,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(open(os.path.join(run_dir, "evals.csv"))))
    steps = [int(r["env_steps"]) for r in rows]
    assert steps == [400], steps  # (two rows at 400 before: the periodic evaluation, then the final one)
    result = json.load(open(os.path.join(run_dir, "result.json")))
    assert result["final_eval"] == float(rows[-1]["mean"])
