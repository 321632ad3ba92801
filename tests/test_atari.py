"""Atari preprocessing against hand-built frames (a scripted emulator), the CNN torsos, and short
end-to-end runs on real ROMs through the CLI."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py", reason="the atari extra (ale-py) is not installed")

from asyncrl.envs.atari import AtariEnv, AtariOptions, atari_game  # noqa: E402
from asyncrl.errors import UsageError  # noqa: E402
from asyncrl.nn.torsos import ConvTorso  # noqa: E402

from conftest import FAST, one_line_error, run_cli  # noqa: E402


class ScriptedALE:
    """Stands in for ``ale_py.ALEInterface``: frame ``n`` is a constant screen of ``screens[n]``,
    with ``rewards[n]``; ``lives`` drop at the frames listed in ``life_lost_at``; the game ends after
    ``game_len`` frames.

    ``serve_life=k`` makes it a FIRE game (Breakout-like): the ball is in play only after a FIRE (a
    point each serve), and ``k`` frames after a serve it is lost with a life; then the game waits for
    the next FIRE. Like the real emulator, a game is truncated after ``max_num_frames_per_episode``
    frames (set through ``setInt``; 0: no cap), counted from ``reset_game``.
    """

    def __init__(self, screens=(0,), rewards=None, life_lost_at=(), lives=3, game_len=10_000, serve_life=None):
        self.screens, self.rewards = list(screens), list(rewards or [])
        self.life_lost_at, self.start_lives, self.game_len = set(life_lost_at), lives, game_len
        self.n, self._lives, self.resets, self.log = 0, lives, 0, []
        self.serve_life, self.in_play, self.frames, self.max_frames = serve_life, None, 0, 0

    # ---- what AtariEnv.__init__ calls (the emulator double can replace ale_py.ALEInterface) ----
    @staticmethod
    def setLoggerMode(mode):
        pass

    def setFloat(self, name, value):
        pass

    def setInt(self, name, value):
        if name == "max_num_frames_per_episode":
            self.max_frames = int(value)

    def loadROM(self, path):
        pass

    def getMinimalActionSet(self):
        from ale_py import Action

        return [Action.NOOP, Action.FIRE, Action.RIGHT, Action.LEFT]  # Breakout's

    def getLegalActionSet(self):
        from ale_py import Action

        return list(Action)

    def getScreenDims(self):
        return (210, 160)

    def getScreenRGB(self):
        return np.zeros((210, 160, 3), np.uint8)

    # ---- the game --------------------------------------------------------------------------
    def act(self, a):
        from ale_py import Action

        self.n += 1
        self.frames += 1
        self.log.append(a)
        r = self.rewards[self.n - 1] if self.n - 1 < len(self.rewards) else 0.0
        if self.n in self.life_lost_at:
            self._lives -= 1
        if self.serve_life is not None:
            if self.in_play is None and a == Action.FIRE:
                self.in_play, r = 0, r + 1.0
            elif self.in_play is not None:
                self.in_play += 1
                if self.in_play >= self.serve_life:
                    self.in_play, self._lives = None, self._lives - 1
        return r

    def getScreenGrayscale(self, out):
        out[:] = self.screens[min(self.n, len(self.screens) - 1)]

    def game_over(self, with_truncation=True):
        return self.n >= self.game_len or self._lives == 0 or (with_truncation and self.game_truncated())

    def game_truncated(self):
        return 0 < self.max_frames <= self.frames

    def lives(self):
        return self._lives

    def reset_game(self):
        self.resets += 1
        self._lives, self.in_play, self.frames = self.start_lives, None, 0


def _emulate(monkeypatch, **kw) -> list[ScriptedALE]:
    """Every AtariEnv built from now on gets a new ``ScriptedALE(**kw)`` as its emulator; returns
    the list of them, in order."""
    import ale_py

    made = []

    class Emulator(ScriptedALE):
        def __init__(self):
            super().__init__(**kw)
            made.append(self)

    monkeypatch.setattr(ale_py, "ALEInterface", Emulator)
    return made


class NoopAgent:
    """A policy that always plays NOOP (action 0) and records the ``first`` flags it is given: where
    a recurrent model restarts its state."""

    def __init__(self):
        self.firsts: list[list[bool]] = []

    def initial_state(self, batch):
        return None

    def act(self, obs, state, first, deterministic):
        self.firsts.append(first.tolist())
        return torch.zeros(len(first), dtype=torch.long), None, state

    def env_actions(self, actions):
        return np.asarray(actions)


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
    fire_then_2 = [env.actions[env._fire]] * 4 + [env.actions[2]] * 4  # as baselines' FireResetEnv
    counts = set()
    for seed in range(6):
        env.ale = ScriptedALE(screens=[0])
        env._game_over = True
        env.np_random = np.random.default_rng(seed)
        env.reset()
        noops = env.ale.log[:-8]
        assert env.ale.log[-8:] == fire_then_2  # FIRE, then action 2, each held for one agent step
        assert all(a == env.actions[0] for a in noops) and 1 <= len(noops) <= 30
        counts.add(len(noops))
    assert len(counts) > 1  # the number of no-ops is random
    one = AtariEnv("breakout", AtariOptions(noop_max=1, fire_reset=False), training=True)
    for seed in range(8):  # 1 to noop_max no-ops (baselines' NoopResetEnv), never none
        one.ale = ScriptedALE(screens=[0])
        one._game_over = True
        one.np_random = np.random.default_rng(seed)
        one.reset()
        assert one.ale.log == [one.actions[0]]
    env = AtariEnv("pong", AtariOptions(noop_max=0, fire_reset=True), training=True)
    env.ale = ScriptedALE(screens=[0])
    env.reset()
    assert env.ale.log == [env.actions[env._fire]] * 4 + [env.actions[2]] * 4


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


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a2c", []),
        ("a3c", []),
        ("impala", []),
        ("appo", []),
        ("a3c-ps", []),
        ("impala", ["--lstm", "--torso", "nature-cnn"]),
        ("feudal", ["--feudal-dim", "64", "--horizon", "5"]),
    ],
)
def test_breakout_trains_end_to_end_and_logs_whole_games(algo, extra, run_dir):
    workers = [] if algo == "a2c" else ["--workers", "1"]  # (A2C's one process has no workers to set)
    run_cli(
        "train",
        "--algo",
        algo,
        "--env",
        "BreakoutNoFrameskip-v4",
        *extra,
        *workers,
        "--num-envs",
        "2",
        "--n-steps",
        "5",
        "--total-steps",
        "1000",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
        timeout=180,
    )
    with open(os.path.join(run_dir, "episodes.csv")) as f:
        games = list(csv.DictReader(f))
    assert games  # random Breakout games (5 lives) end within a few hundred agent steps
    assert all(float(g["episode_return"]) >= 0 and int(g["episode_length"]) > 0 for g in games)
    assert sum(int(g["episode_length"]) for g in games) <= 1000 + 20
    assert all(int(g["frames"]) == 4 * int(g["env_steps"]) for g in games)  # frame skip 4
    # Sampled actions: an untrained deterministic policy may never press FIRE, and whole games then
    # idle until the 108k-frame cap.
    ev = run_cli("eval", run_dir, "--episodes", "1", "--stochastic", "--json", check=True, timeout=120)
    out = json.loads(ev.stdout)
    assert out["episodes"] == 1 and out["atari_eval"] == "game"  # the standard protocol, named
    ev = run_cli("eval", run_dir, "--episodes", "1", "--atari-eval", "lives", "--json", check=True, timeout=120)
    assert json.loads(ev.stdout)["atari_eval"] == "lives"


@pytest.mark.parametrize("training", [True, False])
def test_nothing_presses_fire_after_a_lost_life_in_whole_games(training):
    """Training without episodic life, and evaluation's default ``game`` protocol: the agent must
    press FIRE itself after a lost life, as in Machado et al. (2018)."""
    env = AtariEnv("breakout", AtariOptions(noop_max=0, fire_reset=True, episodic_life=False), training=training)
    env.ale = ScriptedALE(screens=[0], life_lost_at=[14], lives=5)  # frames 1-8: FIRE and action 2 of the reset
    env.reset()
    env.ale.log.clear()
    for _ in range(3):
        _, _, te, tr, info = env.step(0)  # a life is lost at frame 14: the game goes on
        assert not te and not tr and not info
    assert env.ale.lives() == 4 and env.ale.log == [env.actions[0]] * 12  # only the agent's NOOPs


@pytest.mark.parametrize("training", [True, False])
def test_the_frame_cap_truncates_the_game_and_reset_starts_a_new_one(monkeypatch, training):
    emulators = _emulate(monkeypatch, lives=5)  # a game that never ends by itself
    env = AtariEnv("breakout", AtariOptions(noop_max=0, fire_reset=False, max_frames=40), training=training)
    ale = emulators[-1]
    assert env.ale is ale and ale.max_frames == 40  # the cap is the emulator's own setting
    env.reset()
    for step in range(1, 10):
        _, _, te, tr, info = env.step(0)
        assert not te and not tr and not info, step
    _, _, te, tr, info = env.step(0)  # frames 37-40: the 108k-frame cap, here 40 frames
    assert tr and not te  # a time limit: bootstrap, the game was not lost
    assert info["game_end"] == (0.0, 10) and ale.lives() == 5
    resets = ale.resets
    env.reset()  # a new game, even with episodic life (the old one is over)
    assert ale.resets == resets + 1 and ale.frames == 0
    _, _, te, tr, info = env.step(0)
    assert not te and not tr and not info


def _serving_game(monkeypatch, **kw):
    """A 5-life FIRE game where a served ball is lost 20 frames later, capped at 400 frames (100 steps):
    served by a reset's FIRE (its first frame; the reset's FIRE and action 2 take 8 frames), the ball
    is lost in the agent's 4th step after it."""
    emulators = _emulate(monkeypatch, lives=5, serve_life=20)
    return emulators, {"noop_max": 0, "max_frames": 400, **kw}


def test_the_game_protocol_does_not_rescue_a_policy_that_never_fires(monkeypatch):
    """Default protocol: the reset's FIRE serves once; after the lost ball nothing serves again, so
    a constant-NOOP policy idles until the frame cap with lives left (not rescued by an automatic FIRE)."""
    from asyncrl.evaluate import play_episode, run_episodes

    emulators, opts = _serving_game(monkeypatch)
    env = AtariEnv("breakout", AtariOptions(**opts), training=False)
    agent = NoopAgent()
    assert play_episode(agent, env, seed=0) == 1.0  # one serve, then idle
    ale = emulators[-1]
    assert ale.lives() == 4 and ale.game_truncated()
    assert sum(f[0] for f in agent.firsts) == 1 and len(agent.firsts) == 98  # (400 - 8 reset frames) / 4
    assert run_episodes(NoopAgent(), "BreakoutNoFrameskip-v4", 3, options=AtariOptions(**opts), num_envs=2) == [1.0] * 3


@pytest.mark.parametrize("num_envs", [1, 2])
def test_the_lives_protocol_restarts_the_recurrent_state_and_fires_at_every_lost_life(monkeypatch, num_envs):
    from asyncrl.evaluate import run_episodes

    emulators, opts = _serving_game(monkeypatch, atari_eval="lives")
    agent = NoopAgent()
    returns = run_episodes(agent, "BreakoutNoFrameskip-v4", 2, options=AtariOptions(**opts), num_envs=num_envs)
    assert returns == [5.0, 5.0]  # every life served by the reset's FIRE: the whole game's score
    assert all(ale.lives() == 0 for ale in emulators)  # games over, not truncated
    # Each life: FIRE + action 2 at its reset, then 4 NOOP steps until the ball is lost: the recurrent
    # state restarts at the first step of every life, and only there.
    lives = [True, False, False, False] * 5
    for j in range(num_envs):
        assert [f[j] for f in agent.firsts] == lives * (2 // num_envs)


@pytest.mark.parametrize("protocol, score", [(None, 1.0), ("lives", 5.0)])
def test_test_runs_during_training_follow_the_run_protocol(monkeypatch, protocol, score):
    """The periodic tester (a forked process, so it inherits the emulator double) plays the run's
    protocol: a CNN policy that always picks NOOP scores 1 under the default, 5 under ``lives``."""
    import multiprocessing

    from asyncrl.config import TrainConfig, env_options
    from asyncrl.envs.make import env_spaces
    from asyncrl.nn.build import make_model
    from asyncrl.nn.spec import spec_from_spaces, spec_json
    from asyncrl.runtime.evaluator import PeriodicEvaluator

    _, opts = _serving_game(monkeypatch)
    cfg = TrainConfig(env="BreakoutNoFrameskip-v4", noop_max=0, atari_eval=protocol)
    options = replace(env_options(cfg), max_frames=opts["max_frames"])
    assert options.atari_eval == (protocol or "game") and options.noop_max == 0  # the run's settings reach its tester
    spec = spec_from_spaces(*env_spaces(cfg.env, options))
    model = make_model(spec)
    with torch.no_grad():
        model.policy_head.weight.zero_()
        model.policy_head.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))  # deterministic: always NOOP
    tester = PeriodicEvaluator(multiprocessing.get_context("fork"), cfg.env, spec_json(spec), 2, 0, options)
    try:
        assert tester.submit(100, model.state_dict())
        done = tester.wait(120)
    finally:
        tester.close()
    assert [(steps, returns, clip) for steps, returns, _, clip in done] == [(100, [score, score], None)]


def test_the_protocol_is_checked_and_only_for_atari():
    from asyncrl.evaluate import atari_protocol

    assert atari_protocol("BreakoutNoFrameskip-v4", None) == (AtariOptions(), "game")
    assert atari_protocol("BreakoutNoFrameskip-v4", AtariOptions(atari_eval="lives"))[1] == "lives"
    assert atari_protocol("atari:Pong", AtariOptions(atari_eval="lives", noop_max=3), "game") == (
        AtariOptions(atari_eval="game", noop_max=3),
        "game",
    )
    assert atari_protocol("CartPole-v1", None) == (None, None)
    with pytest.raises(UsageError, match="Atari games only"):
        atari_protocol("CartPole-v1", None, "game")
    with pytest.raises(UsageError, match="allowed: game, lives"):
        AtariOptions(atari_eval="life")
    with pytest.raises(UsageError, match="allowed: game, lives"):
        atari_protocol("atari:Pong", None, "life")


PRE_PROTOCOL_OPTIONS = (
    "noop_max",
    "episodic_life",
    "clip_rewards",
    "fire_reset",
    "sticky_actions",
    "full_action_space",
)
"""The Atari keys of a ``config.json`` written before the evaluation protocols (commit 48a9edc): no ``atari_eval``."""


def _old_config(env: str = "BreakoutNoFrameskip-v4", **given) -> dict:
    """A pre-protocol run's saved settings: ``null`` for every Atari option left to the standard of its time."""
    return {"algo": "a2c", "env": env, **dict.fromkeys(PRE_PROTOCOL_OPTIONS), **given}


def test_an_old_run_keeps_fire_after_a_lost_life_and_names_what_changed():
    """Before the protocols, evaluation pressed FIRE after every lost life (Breakout has FIRE and lives): the
    resumed run evaluates with ``lives``, which also presses it, and one line names what the options cannot keep."""
    from asyncrl.envs.base import upgrade_saved

    data = _old_config()
    note = upgrade_saved(data)
    assert data["atari_eval"] == "lives" and note is not None and "\n" not in note
    assert "no-op starts are 1 to 30 (were 0 to 30)" in note and "FIRE then action 2 (was FIRE alone)" in note
    assert "--atari-eval lives" in note and "episodic life" not in note
    data = _old_config(noop_max=10, episodic_life=False)
    note = upgrade_saved(data, {"atari_eval"})  # --atari-eval given again: its own choice, not named
    assert note is not None and "1 to 10 (were 0 to 10)" in note and "--atari-eval" not in note
    assert "training without episodic life no longer presses FIRE after a lost life" in note


def test_what_the_options_can_keep_of_an_old_run_is_kept_silently():
    from asyncrl.envs.base import upgrade_saved

    data = _old_config(noop_max=0, fire_reset=False)  # no no-ops, no FIRE: the old protocol was today's "game"
    assert upgrade_saved(data) is None and data["atari_eval"] == "game"
    data = _old_config("MsPacmanNoFrameskip-v4", noop_max=0)  # no FIRE in its action set: nothing pressed it
    assert upgrade_saved(data) is None and data["atari_eval"] == "game"
    for atari_eval in (None, "lives"):  # written since the protocols (null: today's standard, "game")
        data = _old_config(atari_eval=atari_eval)
        assert upgrade_saved(data) is None and data == _old_config(atari_eval=atari_eval)
    data = {"algo": "a2c", "env": "CartPole-v1"}
    assert upgrade_saved(data) is None and data == {"algo": "a2c", "env": "CartPole-v1"}


def test_atari_flags_are_refused_for_other_envs(run_dir, capsys):
    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    line = one_line_error(capsys, ["train", "--env", "CartPole-v1", "--no-episodic-life", "--run-dir", run_dir, *FAST])
    assert "--episodic-life applies to Atari games only" in line
    line = one_line_error(
        capsys, ["train", "--env", "atari:Pong", "--sticky-actions", "1.5", "--run-dir", run_dir, *FAST]
    )
    assert "--sticky-actions must be a probability" in line


def test_mlp_settings_are_refused_for_a_cnn_torso(run_dir, capsys):
    line = one_line_error(capsys, ["train", "--env", "atari:Pong", "--hidden", "128", "--run-dir", run_dir, *FAST])
    assert "--hidden applies to the MLP torso only" in line and "a3c-cnn" in line
    p = run_cli(
        "train",
        "--env",
        "atari:Pong",
        "--torso",
        "mlp",
        "--hidden",
        "32",
        "--total-steps",
        "50",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
    )
    assert p.returncode == 0, p.stderr  # asked for an MLP on the frames: then --hidden applies


def test_the_shipped_pong_model_wins():
    # Random play loses 21-0 or close (-20.7 over the first 100 training games); the shipped model
    # scored 20.0 over 100 deterministic games (scripts/make_pretrained.py).
    p = run_cli("eval", "pretrained:pong", "--episodes", "2", "--num-envs", "2", "--json", check=True)
    out = json.loads(p.stdout)
    assert out["episodes"] == 2 and out["env"] == "PongNoFrameskip-v4"
    assert out["min"] >= 15, out


# ---- APPO's Atari row: what --help shows, what a run and its resume get --------------------------------------


def _help_text(capsys, *args: str) -> str:
    from asyncrl.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", *args, "--help"])
    assert e.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def _shown_default(text: str, flag: str) -> str:
    """The ``(default: ...)`` at the end of ``flag``'s help, in its entry (not the usage's ``[--flag METAVAR]``)."""
    metavar = flag[2:].upper().replace("-", "_")
    starts = [text.find(f) for f in (f"{flag} {metavar} ", f"{flag} {metavar},", f"{flag}, --no-")]
    after = text[min(i for i in starts if i >= 0) :]
    return after[after.index("(default: ") + 10 :].split(")", 1)[0]


def test_help_shows_the_atari_row_as_the_defaults_and_names_it(capsys):
    from asyncrl.algos.appo import DEFAULTS
    from asyncrl.core.settings import flag_of

    text = _help_text(capsys, "--algo", "appo", "--env", "PongNoFrameskip-v4")
    row = DEFAULTS["atari"]
    assert {"epochs", "minibatches", "targets", "n_steps", "lr_schedule", "normalize_advantages"} <= set(row)
    for name, value in row.items():
        assert _shown_default(text, flag_of(name)) == f"{value}, tuned for Atari games", name
    # A setting no row sets shows its own default, unnamed; CartPole's A3C shows no Atari row.
    assert _shown_default(text, "--entropy-coef") == "0.01"
    assert "tuned for Atari" not in _help_text(capsys, "--algo", "a3c", "--env", "CartPole-v1")


def test_a_pong_run_gets_the_atari_row_and_its_resume_keeps_it(run_dir, monkeypatch, capsys):
    from asyncrl.algos.appo import DEFAULTS
    from asyncrl.cli import main

    args = ["--algo", "appo", "--env", "PongNoFrameskip-v4", "--workers", "1", "--num-envs", "4"]
    run_cli("train", *args, "--total-steps", "512", "--eval-every", "0", "--run-dir", run_dir, *FAST, check=True,
            timeout=180)  # fmt: skip
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    given = {"num_envs": 4, "total_steps": 512, "eval_every": 0}
    assert {k: saved[k] for k in DEFAULTS["atari"]} == {**DEFAULTS["atari"], **given}
    # A resume keeps the run's settings, even when the row has changed since (a newer asyncrl).
    monkeypatch.setitem(DEFAULTS["atari"], "epochs", 4)
    assert main(["train", "--resume", run_dir, "--total-steps", "1024", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {**saved, "total_steps": 1024}
    assert main(["train", "--algo", "appo", "--env", "PongNoFrameskip-v4", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 4  # (while a new run would get the new row)
