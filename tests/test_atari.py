"""Atari preprocessing against hand-built frames (a scripted emulator), the CNN torsos, and short
end-to-end runs on real ROMs through the CLI."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py", reason="the atari extra (ale-py) is not installed")

from asyncrl.envs.atari import AtariEnv, AtariOptions, atari_game  # noqa: E402
from asyncrl.nn.torsos import ConvTorso  # noqa: E402
from conftest import FAST, run_cli  # noqa: E402


class ScriptedALE:
    """Stands in for ``ale_py.ALEInterface``: frame ``n`` is a constant screen of ``screens[n]``,
    with ``rewards[n]``; ``lives`` drop at the frames listed in ``life_lost_at``; the game ends after
    ``game_len`` frames."""

    def __init__(self, screens, rewards=None, life_lost_at=(), lives=3, game_len=10_000):
        self.screens, self.rewards = list(screens), list(rewards or [])
        self.life_lost_at, self.start_lives, self.game_len = set(life_lost_at), lives, game_len
        self.n, self._lives, self.resets, self.log = 0, lives, 0, []

    def act(self, a):
        self.n += 1
        self.log.append(a)
        if self.n in self.life_lost_at:
            self._lives -= 1
        return self.rewards[self.n - 1] if self.n - 1 < len(self.rewards) else 0.0

    def getScreenGrayscale(self, out):
        out[:] = self.screens[min(self.n, len(self.screens) - 1)]

    def game_over(self, with_truncation=True):
        return self.n >= self.game_len or self._lives == 0

    def game_truncated(self):
        return False

    def lives(self):
        return self._lives

    def reset_game(self):
        self.resets += 1
        self._lives = self.start_lives


def _env(game="pong", training=True, **opts) -> AtariEnv:
    return AtariEnv(game, AtariOptions(**{"noop_max": 0, "fire_reset": False, **opts}), training=training)


def test_ids_name_games_and_sticky_defaults():
    assert atari_game("PongNoFrameskip-v4") == ("pong", 0.0)
    assert atari_game("ALE/SpaceInvaders-v5") == ("space_invaders", 0.25)
    assert atari_game("atari:MsPacman") == ("ms_pacman", 0.0)
    assert atari_game("CartPole-v1") is None


def test_frame_skip_repeats_the_action_and_max_pools_the_last_two_frames():
    env = _env()
    # Frame n shows a constant screen: 0 at reset, then 10, 50, 40, 20 during one agent step.
    env.ale = ScriptedALE(screens=[0, 10, 50, 40, 20], rewards=[0, 2, 0, 1])
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and (obs == 0).all()
    obs, r, te, tr, _ = env.step(3)
    assert env.ale.log == [env.actions[3]] * 4  # the action repeated for 4 frames
    assert (obs[-1] == 40).all()  # max(frame 3, frame 4) = max(40, 20); frame 2's 50 is skipped
    assert (obs[:-1] == 0).all()  # the stack shifted: the three older frames are the reset frame
    assert r == 1.0  # 2 + 1 = 3, clipped to its sign in training


def test_rewards_are_clipped_only_in_training_and_games_report_the_real_score():
    for training, expected in ((True, 1.0), (False, 3.0)):
        env = _env(training=training)
        env.ale = ScriptedALE(screens=[0], rewards=[0, 2, 0, 1, 0, 0, 0, 5], game_len=8)
        env.reset()
        _, r1, te1, _, info1 = env.step(0)
        _, r2, te2, _, info2 = env.step(0)
        assert r1 == expected and not te1 and "game_end" not in info1
        assert te2 and info2["game_end"] == (8.0, 2)  # the unclipped game score and its agent steps


def test_episodic_life_only_in_training_and_the_game_goes_on_after_a_lost_life():
    env = _env(training=True)
    env.ale = ScriptedALE(screens=[0], life_lost_at=[6], lives=3)
    env.reset()
    _, _, te, _, info = env.step(0)
    assert not te
    _, _, te, _, info = env.step(0)  # frames 5-8: a life is lost at frame 6
    assert te and "game_end" not in info
    resets = env.ale.resets
    env.reset()  # the learning episode restarts, the game does not
    assert env.ale.resets == resets
    ev = _env(training=False)
    ev.ale = ScriptedALE(screens=[0], life_lost_at=[6], lives=3)
    ev.reset()
    ev.step(0)
    assert not ev.step(0)[2]  # evaluation plays whole games


def test_fire_on_reset_and_no_op_starts():
    env = AtariEnv("breakout", AtariOptions(noop_max=30, fire_reset=True), training=True)
    counts = set()
    for seed in range(6):
        env.ale = ScriptedALE(screens=[0])
        env._game_over = True
        env.np_random = np.random.default_rng(seed)
        env.reset()
        noops = env.ale.log[:-4]
        assert env.ale.log[-4:] == [env.actions[env._fire]] * 4  # FIRE, held for one agent step
        assert all(a == env.actions[0] for a in noops) and 0 <= len(noops) <= 30
        counts.add(len(noops))
    assert len(counts) > 1  # the number of no-ops is random
    env = AtariEnv("pong", AtariOptions(noop_max=0, fire_reset=True), training=True)
    env.ale = ScriptedALE(screens=[0])
    env.reset()
    assert env.ale.log == [env.actions[env._fire]] * 4


def test_real_rom_reset_is_seeded_and_uint8():
    a, b = _env("breakout", noop_max=30), _env("breakout", noop_max=30)
    oa, ob = a.reset(seed=3)[0], b.reset(seed=3)[0]
    assert oa.dtype == np.uint8 and oa.shape == (4, 84, 84) and np.array_equal(oa, ob)
    for _ in range(20):
        oa, ob = a.step(1)[0], b.step(1)[0]
    assert np.array_equal(oa, ob) and oa.max() > 0


@pytest.mark.parametrize("kind, out", [("a3c-cnn", 256), ("nature-cnn", 512), ("impala-cnn", 256)])
def test_cnn_torsos_scale_uint8_frames_inside(kind, out):
    torso = ConvTorso(kind, [4, 84, 84])
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    y = torso(frames)
    assert y.shape == (3, out) and torso.out_dim == out
    torch.testing.assert_close(y, torso(frames.float() / 255.0))


@pytest.mark.parametrize("algo, extra", [("a2c", []), ("a3c", []), ("impala", []), ("appo", []), ("a3c-ps", []),
                                         ("impala", ["--lstm", "--torso", "nature-cnn"]),
                                         ("feudal", ["--feudal-dim", "64", "--horizon", "5"])])
def test_breakout_trains_end_to_end_and_logs_whole_games(algo, extra, run_dir):
    run_cli("train", "--algo", algo, "--env", "BreakoutNoFrameskip-v4", *extra, "--workers", "1", "--num-envs", "2",
            "--n-steps", "5", "--total-steps", "1000", "--eval-every", "0", "--run-dir", run_dir, *FAST,
            check=True, timeout=180)
    with open(os.path.join(run_dir, "episodes.csv")) as f:
        games = list(csv.DictReader(f))
    assert games  # random Breakout games (5 lives) end within a few hundred agent steps
    assert all(float(g["episode_return"]) >= 0 and int(g["episode_length"]) > 0 for g in games)
    assert sum(int(g["episode_length"]) for g in games) <= 1000 + 20
    assert all(int(g["frames"]) == 4 * int(g["env_steps"]) for g in games)  # frame skip 4
    ev = run_cli("eval", run_dir, "--episodes", "1", "--json", check=True, timeout=120)
    assert json.loads(ev.stdout)["episodes"] == 1


def test_without_episodic_life_fire_is_pressed_after_a_lost_life():
    env = AtariEnv("breakout", AtariOptions(noop_max=0, fire_reset=True), training=False)
    env.ale = ScriptedALE(screens=[0], life_lost_at=[10], lives=5)  # frames 1-4: FIRE of the reset
    env.reset()
    fire = env.actions[env._fire]
    env.ale.log.clear()
    env.step(0)
    _, _, te, _, _ = env.step(0)  # a life is lost at frame 10: the game goes on, FIRE relaunches it
    assert not te and env.ale.log[-4:] == [fire] * 4 and env.ale.log[:8] == [env.actions[0]] * 8


def test_atari_flags_are_refused_for_other_envs(run_dir):
    p = run_cli("train", "--env", "CartPole-v1", "--no-episodic-life", "--run-dir", run_dir, *FAST)
    assert p.returncode == 2 and "--episodic-life applies to Atari games only" in p.stderr
    p = run_cli("train", "--env", "atari:Pong", "--sticky-actions", "1.5", "--run-dir", run_dir, *FAST)
    assert p.returncode == 2 and "--sticky-actions must be a probability" in p.stderr


def test_mlp_settings_are_refused_for_a_cnn_torso(run_dir):
    p = run_cli("train", "--env", "atari:Pong", "--hidden", "128", "--run-dir", run_dir, *FAST)
    assert p.returncode == 2 and "--hidden applies to the MLP torso only" in p.stderr and "a3c-cnn" in p.stderr
    p = run_cli("train", "--env", "atari:Pong", "--torso", "mlp", "--hidden", "32", "--total-steps", "50",
                "--eval-every", "0", "--run-dir", run_dir, *FAST)
    assert p.returncode == 0, p.stderr  # asked for an MLP on the frames: then --hidden applies


def test_the_shipped_pong_model_wins():
    # Random play loses 21-0 or close (-20.7 over the first 100 training games); the shipped model
    # scored 20.0 over 100 deterministic games (scripts/make_pretrained.py).
    p = run_cli("eval", "pretrained:pong", "--episodes", "2", "--num-envs", "2", "--json", check=True)
    out = json.loads(p.stdout)
    assert out["episodes"] == 2 and out["env"] == "PongNoFrameskip-v4"
    assert out["min"] >= 15, out
