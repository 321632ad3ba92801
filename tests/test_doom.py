"""ViZDoom scenarios: the observation format and a short end-to-end run through the CLI."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

pytest.importorskip("vizdoom", reason="the doom extra (vizdoom) is not installed")

from asyncrl.envs.make import make_env  # noqa: E402

from conftest import FAST, one_line_error, run_cli  # noqa: E402


@pytest.mark.parametrize("name", ["basic", "defend_the_center", "health_gathering"])
def test_scenarios_give_stacked_grayscale_frames(name):
    env = make_env(f"doom:{name}")
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and (obs[0] == obs[3]).all()
        obs2, r, te, tr, _ = env.step(0)
        assert obs2.shape == (4, 84, 84) and np.array_equal(obs2[:3], obs[1:]) and isinstance(r, float)
        assert env.render().shape == (120, 160, 3)  # rendered at the low resolution, not the scenario's 320x240
    finally:
        env.close()


def test_basic_trains_end_to_end_and_evaluates(run_dir):
    run_cli(
        "train",
        "--algo",
        "impala",
        "--env",
        "doom:basic",
        "--workers",
        "1",
        "--num-envs",
        "4",
        "--total-steps",
        "1500",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
        timeout=180,
    )
    with open(os.path.join(run_dir, "episodes.csv")) as f:
        rows = list(csv.DictReader(f))
    assert rows and all(int(r["frames"]) == 4 * int(r["env_steps"]) for r in rows)
    ev = run_cli("eval", run_dir, "--episodes", "2", "--json", check=True, timeout=120)
    assert json.loads(ev.stdout)["episodes"] == 2


def test_unknown_scenario_is_a_usage_error(run_dir, capsys):
    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    line = one_line_error(capsys, ["train", "--env", "doom:nosuch", "--run-dir", run_dir, *FAST])
    assert "no ViZDoom scenario 'nosuch'" in line


def test_a_timeout_is_a_truncation_and_the_blank_end_screen_is_not_used():
    env = make_env("doom:health_gathering")

    class TimedOut:  # ViZDoom's env at its episode timeout: both flags set, and a blank screen
        action_space = env.action_space

        def step(self, action):
            return {"screen": np.zeros((240, 320, 3), np.uint8)}, 1.0, True, True, {}

    try:
        obs, _ = env.reset(seed=0)
        env.env, real = TimedOut(), env.env
        obs2, _, te, tr, _ = env.step(0)
        assert tr and not te  # bootstrap: the agent did not die
        assert np.array_equal(obs2[-1], obs[-1])  # the last real frame, not a black one
    finally:
        env.env = real
        env.close()


def test_only_the_end_of_an_episode_replaces_a_blank_screen():
    """A blank screen during an episode (lights out) is a real frame; only the step that ends the
    episode, where ViZDoom has no state and sends zeros, keeps the last real frame."""
    env = make_env("doom:basic")

    class Blank:  # ViZDoom's env answering every step with an all-zero screen
        action_space = env.action_space

        def __init__(self, terminated):
            self.terminated = terminated

        def step(self, action):
            return {"screen": np.zeros((120, 160, 3), np.uint8)}, 0.0, self.terminated, False, {}

    real = env.env
    try:
        obs, _ = env.reset(seed=0)
        assert obs[-1].any()
        env.env = Blank(terminated=False)
        obs2, _, te, tr, _ = env.step(0)
        assert not te and not tr and not obs2[-1].any()  # the dark frame, as the game showed it
        env.env = Blank(terminated=True)
        obs3, _, te, _, _ = env.step(0)
        assert te and np.array_equal(obs3[-1], obs2[-1])  # the end: the last real frame again
        env.env = real
        obs, _ = env.reset(seed=1)
        env.env = Blank(terminated=True)
        obs4, _, te, _, _ = env.step(0)  # the episode's only step ends it: the reset frame stays
        assert te and np.array_equal(obs4[-1], obs[-1]) and obs4[-1].any()
    finally:
        env.env = real
        env.close()
