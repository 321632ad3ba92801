"""``--vector-env envpool``: Atari games stepped by EnvPool with asyncrl's Atari semantics (same-step autoreset,
episodic life, FIRE resets, clipped rewards, whole games reported), against the ale-py path on a scripted game, and
training on every runtime (Ray: tests/test_ray.py); MuJoCo tasks against Gymnasium's from the same state."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from asyncrl.envs.atari import AtariOptions
from asyncrl.envs.vector import make_vec_env

from conftest import FAST, one_line_error, run_cli

pytest.importorskip("ale_py", reason="the atari extra is not installed (pip install -e '.[atari]')")
pytest.importorskip("envpool", reason="the envpool extra is not installed (pip install -e '.[envpool]')")

PONG, BREAKOUT = "PongNoFrameskip-v4", "BreakoutNoFrameskip-v4"
SCRIPTED = AtariOptions(noop_max=0, sticky_actions=0.0)
"""No random no-ops and no sticky actions: the only options under which two emulators can play the same game."""


def _pair(game: str, options: AtariOptions, num_envs: int = 1):
    return (
        make_vec_env(game, num_envs, seed=0, impl="gymnasium", options=options),
        make_vec_env(game, num_envs, seed=0, impl="envpool", options=options),
    )


def test_a_scripted_pong_game_gives_the_same_rewards_and_frames_through_both_backends():
    ale, pool = _pair(PONG, SCRIPTED)
    first_a, first_b = ale.reset(), pool.reset()
    assert first_a.shape == first_b.shape == (1, 4, 84, 84) and first_a.dtype == first_b.dtype == np.uint8
    assert (first_a[0, -1] != first_b[0, -1]).mean() < 0.01
    rng = np.random.default_rng(1)
    differing = []
    for _ in range(600):  # (7 points are scored in these 600 steps)
        action = rng.integers(0, 6, size=1)
        a, b = ale.step(action), pool.step(action)
        assert a.reward.tolist() == b.reward.tolist()
        assert a.terminated.tolist() == b.terminated.tolist() and a.truncated.tolist() == b.truncated.tolist()
        differing.append((a.obs[0, -1] != b.obs[0, -1]).mean())
    # The same frames up to the resize's rounding and EnvPool's own ALE build: a few pixels of the ball and paddles.
    assert np.mean(differing) < 0.01 and np.max(differing) < 0.03
    ale.close(), pool.close()


def test_episodic_life_ends_learning_episodes_at_a_lost_life_and_the_game_goes_on():
    pool = make_vec_env(BREAKOUT, 2, seed=3, impl="envpool", options=AtariOptions())
    pool.reset()
    rng = np.random.default_rng(0)
    lives_lost, games, rewards = 0, [], set()
    for _ in range(3000):
        res = pool.step(rng.integers(0, 4, size=2))
        rewards |= set(res.reward.tolist())
        game_over = np.isin(np.arange(2), [i for i, _, _ in res.games or []])
        lives_lost += int((res.terminated & ~game_over).sum())
        games += res.games or []
        ended = res.terminated | res.truncated
        assert not (res.terminated & res.truncated).any()
        if ended.any():  # same-step autoreset: the new episode's first frame, and the old one's last
            assert (res.obs[ended] != res.final_obs[ended]).any()
        assert (res.obs[~ended] == res.final_obs[~ended]).all()
    assert rewards <= {-1.0, 0.0, 1.0}  # clipped for learning
    assert games and lives_lost >= 4 * len(games)  # five lives a game: four learning episodes end without it
    assert all(steps > 0 and score >= 0 for _, score, steps in games)


def test_a_whole_games_score_is_its_unclipped_rewards():
    options = AtariOptions(episodic_life=False, clip_rewards=False)
    pool = make_vec_env("SpaceInvadersNoFrameskip-v4", 2, seed=1, impl="envpool", options=options)
    pool.reset()
    rng = np.random.default_rng(0)
    returns, games, rewards = np.zeros(2), [], set()
    for _ in range(2000):
        res = pool.step(rng.integers(0, 6, size=2))
        returns += res.reward
        rewards |= set(res.reward.tolist())
        for i, score, _ in res.games or []:
            games.append((score, returns[i]))
            returns[i] = 0.0
    assert games and all(score == learned for score, learned in games)
    assert max(rewards) > 1.0  # (an invader scores 5 to 30: nothing clipped it)


def test_the_frame_cap_truncates_a_game_at_the_same_step_in_both_backends():
    # 1,200 emulator frames: a reset's FIRE and action 2 take 8 of them in both, so the cap is agent step 298
    ends = []
    for venv in _pair(PONG, AtariOptions(noop_max=0, max_frames=1_200), num_envs=2):
        venv.reset()
        for t in range(1, 400):
            res = venv.step(np.zeros(2, np.int64))
            assert not res.terminated.any()
            if res.truncated.any():
                assert res.truncated.all() and sorted(i for i, _, steps in res.games or [] if steps == t) == [0, 1]
                ends.append(t)
                break
    assert ends == [298, 298]


def test_envpool_options_that_are_not_atari_are_refused_in_one_line(tmp_path, capsys):
    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    line = one_line_error(
        capsys, ["train", "--env", "CartPole-v1", "--vector-env", "envpool", "--run-dir", str(tmp_path)]
    )
    assert "--vector-env envpool: 'CartPole-v1' is neither an Atari id nor a MuJoCo task EnvPool has" in line
    line = one_line_error(capsys, ["train", "--vector-env", "c++", "--run-dir", str(tmp_path / "b")])
    assert "--vector-env" in line and "envpool" in line
    assert not (tmp_path / "config.json").exists()


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a2c", []),  # (the synchronous runtime: one env stream of 1,200 steps, a whole Pong game and more)
        ("a3c", ["--workers", "2"]),
        ("impala", ["--workers", "2"]),
        ("appo", ["--workers", "1", "--serial", "--minibatches", "1"]),  # (one actor: one stream of 1,200 steps)
    ],
)
def test_every_runtime_trains_on_envpool(algo, extra, tmp_path):
    run_dir = str(tmp_path / algo)
    args = ["--num-envs", "1", "--n-steps", "5", "--total-steps", "1200", "--eval-every", "0", "--noop-max", "0"]
    p = run_cli("train", "--algo", algo, "--env", PONG, "--vector-env", "envpool", *args, *extra, "--run-dir", run_dir,
                *FAST, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "step budget reached" in p.stdout
    with open(os.path.join(run_dir, "config.json")) as f:
        assert '"vector_env": "envpool"' in f.read()
    with open(os.path.join(run_dir, "episodes.csv")) as f:
        games = list(csv.DictReader(f))
    assert all(-21 <= float(g["episode_return"]) <= 21 and int(g["episode_length"]) > 700 for g in games)
    if "--workers" not in extra or "1" in extra:  # Pong's first game ends after ~760-1000 agent steps
        assert games, "a whole game was played in one env stream of 1,200 steps"


# ---- MuJoCo tasks --------------------------------------------------------------------------------------------


def test_envpool_mujoco_tasks_follow_gymnasiums_from_the_same_state():
    # Gymnasium's Hopper and EnvPool's, both reset without noise (the same initial state) and driven by the same
    # actions: the same observations (to 1e-6; chaotic dynamics on two MuJoCo builds drift slowly), rewards and
    # terminations, through EnvPoolMujoco's same-step autoreset.
    pytest.importorskip("mujoco", reason="the mujoco extra is not installed (pip install -e '.[mujoco]')")
    import gymnasium as gym

    from asyncrl.envs.envpool_mujoco import EnvPoolMujoco, envpool_mujoco_ids

    assert {"HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5"} <= set(envpool_mujoco_ids())
    venv = EnvPoolMujoco("Hopper-v5", 2, seed=0, threads=1, reset_noise_scale=0.0)
    ref = gym.make("Hopper-v5", reset_noise_scale=0.0)
    o_ref, _ = ref.reset(seed=0)
    obs = venv.reset()
    assert obs.dtype == np.float64 and obs.shape == (2, 11)
    np.testing.assert_allclose(obs[0], o_ref, atol=1e-12)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(300):
        a = rng.uniform(-1, 1, size=3)
        o_ref, r_ref, te_ref, tr_ref, _ = ref.step(a)
        res = venv.step(np.stack([a, a]))
        np.testing.assert_allclose(res.final_obs[0], o_ref, atol=1e-6)
        assert abs(res.reward[0] - r_ref) < 1e-4 and res.terminated[0] == te_ref and res.truncated[0] == tr_ref
        if te_ref or tr_ref:  # same-step autoreset: a fresh episode's first observation, the same state again
            ends += 1
            o_ref, _ = ref.reset()
            np.testing.assert_allclose(res.obs[0], o_ref, atol=1e-12)
            assert not np.allclose(res.obs[0], res.final_obs[0])
        else:
            assert np.array_equal(res.obs[0], res.final_obs[0])
    assert ends >= 2  # (random actions topple the hopper within tens of steps)
    venv.close()


def test_a_mujoco_task_trains_on_envpool(tmp_path):
    pytest.importorskip("mujoco", reason="the mujoco extra is not installed (pip install -e '.[mujoco]')")
    run_dir = str(tmp_path / "run")
    args = ["--algo", "appo", "--env", "Hopper-v5", "--vector-env", "envpool", "--workers", "1", "--num-envs", "4"]
    p = run_cli("train", *args, "--n-steps", "16", "--total-steps", "2048", "--eval-every", "0", "--run-dir", run_dir,
                *FAST, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    with open(os.path.join(run_dir, "episodes.csv")) as f:
        episodes = list(csv.DictReader(f))
    assert episodes and all(0 < int(e["episode_length"]) <= 1000 for e in episodes)  # Hoppers fall, episodes end
    ev = run_cli("eval", run_dir, "--episodes", "2", "--json", check=True, timeout=120)  # (eval plays Gymnasium's)
    assert '"episodes": 2' in ev.stdout
