"""Atari 2600 games through ale-py, with the standard preprocessing (Mnih et al., 2015; Machado et al., 2018).

One env class does all of it on the raw emulator (ALE frameskip 1), so nothing is copied between
wrapper layers: no-op starts (1 to ``noop_max`` random no-ops after a new game, as baselines' and
Stable-Baselines3's ``NoopResetEnv``), fire on reset for games that need it (FIRE, then action 2,
as their ``FireResetEnv``), frame skip 4 with the max over the last two frames, 84x84 grayscale
(area resampling), a stack of the last 4 frames, a 108k-frame episode cap (27k agent steps), and, in
training mode only, episodic life (a lost life ends the learning episode but not the game) and
rewards clipped to their sign. Observations stay ``uint8 [stack, 84, 84]`` until the model.

Evaluation and the episode log always see the real game: :meth:`AtariEnv.step` puts the game's
unclipped score and length in ``info["game_end"]`` when the whole game ends (the emulator's game
over, or the frame cap: then it is a truncation, not a termination). Evaluation mode plays with
unclipped rewards under one of two protocols (``AtariOptions.atari_eval``):

- ``game`` (the default): whole games, as the DQN and A3C papers evaluate and as Machado et al.
  (2018) recommend: the agent gets no life-loss signal, and nothing presses FIRE for it after a lost
  life (only the reset's FIRE starts the game). A policy that never serves again idles until the
  frame cap.
- ``lives``: as in training: a lost life ends an episode (``terminated``, no ``game_end``); the
  evaluator resets, which continues the same game with a no-op step and the FIRE reset, and restarts
  a recurrent state there. The score is still the whole game's.

Training without episodic life likewise gives no FIRE help after a lost life.

Ids: ``PongNoFrameskip-v4`` (no sticky actions), ``ALE/Pong-v5`` (sticky actions with probability
0.25, Machado et al.'s protocol), or the short ``atari:Pong`` (same as the v4 id).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np

from asyncrl import limits as L
from asyncrl.core.settings import setting
from asyncrl.envs.base import register_family
from asyncrl.errors import UsageError

ATARI_EVAL = ("game", "lives")
"""The evaluation protocols (module docstring); the first is the default."""

_V4 = re.compile(r"^([A-Za-z]+)NoFrameskip-v4$")
_V5 = re.compile(r"^ALE/([A-Za-z]+)-v5$")


@dataclass(kw_only=True)
class AtariOptions:
    """The Atari family's section: the preprocessing (see the module docstring). The settings users give are
    :attr:`AtariFamily.option_fields`; frame skip, stack, screen size and the frame cap are fixed."""

    noop_max: int = setting(30, lo=0, hi=L.MAX_NOOPS)
    """Atari: at most this many random no-ops after a reset (standard: 30; 0: none)."""
    episodic_life: bool = setting(True)
    """Atari, training only: a lost life ends the learning episode (standard: on)."""
    clip_rewards: bool = setting(True)
    """Atari, training only: learn from the sign of the reward (standard: on)."""
    fire_reset: bool = setting(True)
    """Atari: press FIRE after a reset in games that have it (standard: on): FIRE and then action 2, after a new
    game or the next life of an episodic-life episode, in games whose action set has FIRE (and at least 3
    actions)."""
    sticky_actions: float | None = setting(None, lo=0.0, hi=1.0, what="a probability in [0, 1]")
    """Atari: probability of repeating the previous action (default: 0 for v4 ids, 0.25 for ALE/...-v5)."""
    full_action_space: bool = setting(False)
    """Atari: all 18 actions instead of the game's minimal set."""
    atari_eval: str = setting("game", choices=ATARI_EVAL, resume=True)
    """Atari: how evaluations (and ``asyncrl eval``/``record`` unless they override it) play: ``game``
    (standard: whole games, no life-loss signal, no FIRE after a lost life, Machado et al., 2018) or
    ``lives`` (as in training: a lost life restarts the recurrent state and FIRE is pressed)."""
    frame_skip: int = 4
    frame_stack: int = 4
    screen_size: int = 84
    max_frames: int = 108_000
    """Emulator frames per game before truncation (108k = 30 minutes at 60 fps)."""

    def __post_init__(self):
        if self.atari_eval not in ATARI_EVAL:
            raise UsageError(f"--atari-eval {self.atari_eval!r} is not supported (allowed: {', '.join(ATARI_EVAL)})")


def atari_game(env_id: str) -> tuple[str, float] | None:
    """``(ALE game name, default sticky-action probability)`` for an Atari id, else ``None``."""
    if env_id.startswith("atari:"):
        return _snake(env_id[len("atari:") :]), 0.0
    if m := _V4.match(env_id):
        return _snake(m.group(1)), 0.0
    if m := _V5.match(env_id):
        return _snake(m.group(1)), 0.25
    return None


def _snake(name: str) -> str:
    """``SpaceInvaders`` -> ``space_invaders`` (ALE's ROM names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _opencv():
    """OpenCV if installed (the atari extra installs opencv-python-headless; Pillow is the fallback), imported
    on first use: an import at module level would load it, and its thread pool, into every run."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


class AtariEnv(gym.Env):
    """One preprocessed Atari game. ``training`` selects episodic life and reward clipping."""

    metadata = {"render_modes": ["rgb_array"]}
    reports_games = True
    """Batched envs read ``info["game_end"]`` to log whole games (see :class:`~asyncrl.envs.classic.StepResult`)."""

    def __init__(
        self,
        game: str,
        options: AtariOptions | None = None,
        training: bool = True,
        sticky_default: float = 0.0,
        render_mode: str | None = None,
    ):
        from ale_py import ALEInterface, LoggerMode

        rom = self.check_game(game)
        o = options or AtariOptions()
        self.o, self.training, self.render_mode = o, training, render_mode
        ALEInterface.setLoggerMode(LoggerMode.Error)
        self.ale = ALEInterface()
        self._rom = str(rom)
        sticky = sticky_default if o.sticky_actions is None else o.sticky_actions
        self.ale.setFloat("repeat_action_probability", float(sticky))
        self.ale.setInt("max_num_frames_per_episode", int(o.max_frames))
        self.ale.loadROM(self._rom)
        self.actions = list(self.ale.getLegalActionSet() if o.full_action_space else self.ale.getMinimalActionSet())
        self.action_space = gym.spaces.Discrete(len(self.actions))
        s = o.screen_size
        self.observation_space = gym.spaces.Box(0, 255, (o.frame_stack, s, s), np.uint8)
        h, w = self.ale.getScreenDims()
        self._raw = np.zeros((2, h, w), np.uint8)  # the last two grayscale frames, for the max
        self._stack = np.zeros((o.frame_stack, s, s), np.uint8)
        meanings = [str(a).split(".")[-1] for a in self.actions]
        self._fire = meanings.index("FIRE") if o.fire_reset and "FIRE" in meanings else None
        self._after_fire = 2 if self._fire is not None and len(self.actions) >= 3 else None
        # A lost life ends the episode: training's episodic life, or evaluation's "lives" protocol.
        self._life_episodes = o.episodic_life if training else o.atari_eval == "lives"
        self._lives = 0
        self._game_over = True
        self._game_return, self._game_steps = 0.0, 0

    @staticmethod
    def check_game(game: str) -> str:
        """The ROM path of ``game``; :class:`UsageError` if ale-py or the ROM is missing."""
        try:
            from ale_py import roms
        except ImportError:
            raise UsageError("Atari games need ale-py: pip install 'asyncrl[atari]'") from None
        try:
            rom = roms.get_rom_path(game)
        except Exception:
            rom = None
        if rom is None:
            raise UsageError(f"--env: ale-py has no Atari ROM named {game!r}")
        return str(rom)

    # ---- emulator helpers --------------------------------------------------------------------
    def _frame(self) -> np.ndarray:
        """The max over the last two raw frames, resized to ``screen_size`` with area resampling
        (OpenCV's ``INTER_AREA``, as Stable-Baselines3 does; Pillow's box filter without OpenCV)."""
        m = np.maximum(self._raw[0], self._raw[1])
        s = self.o.screen_size
        cv2 = _opencv()
        if cv2 is not None:
            return cv2.resize(m, (s, s), interpolation=cv2.INTER_AREA)
        from PIL import Image

        return np.asarray(Image.fromarray(m).resize((s, s), Image.Resampling.BOX), dtype=np.uint8)

    def _act(self, a: int) -> float:
        """Repeat action ``a`` for ``frame_skip`` frames (fewer if the game ends); keeps the last two
        grayscale frames in ``_raw`` for the max."""
        total, k = 0.0, self.o.frame_skip
        for i in range(k):
            total += self.ale.act(self.actions[a])
            if i == k - 2:
                self.ale.getScreenGrayscale(self._raw[0])
            elif i == k - 1:
                self.ale.getScreenGrayscale(self._raw[1])
            if self.ale.game_over():
                if i < k - 1:  # ended early: the final frame is the one to show
                    self.ale.getScreenGrayscale(self._raw[1])
                    if i < k - 2:
                        self._raw[0] = self._raw[1]
                break
        if k == 1:
            self._raw[0] = self._raw[1]
        return total

    def _push(self, frame: np.ndarray, fill: bool = False) -> None:
        if fill:
            self._stack[:] = frame
        else:
            self._stack[:-1] = self._stack[1:]
            self._stack[-1] = frame

    # ---- gym API -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:  # the emulator's own randomness (sticky actions) follows the seed too
            self.ale.setInt("random_seed", int(np.random.SeedSequence(seed).generate_state(1)[0] % (2**31)))
            self.ale.loadROM(self._rom)
            self._game_over = True
        if self._game_over or not self._life_episodes:
            self.ale.reset_game()
            self._game_over = False
            self._game_return, self._game_steps = 0.0, 0
            noops = int(self.np_random.integers(1, self.o.noop_max + 1)) if self.o.noop_max > 0 else 0
            for _ in range(noops):
                self.ale.act(self.actions[0])
                if self.ale.game_over():
                    self.ale.reset_game()
        else:  # a life was lost but the game goes on: continue from where it is
            self._game_return += self._act(0)
        if self._fire is not None:
            self._game_return += self._act(self._fire)
            if self._after_fire is not None:
                self._game_return += self._act(self._after_fire)
        self._lives = self.ale.lives()
        self.ale.getScreenGrayscale(self._raw[1])
        self._raw[0] = self._raw[1]
        self._push(self._frame(), fill=True)
        return self._stack.copy(), {}

    def step(self, action):
        reward = self._act(int(action))
        self._game_return += reward
        self._game_steps += 1
        self._push(self._frame())
        game_over = self.ale.game_over(with_truncation=False)
        truncated = self.ale.game_truncated() and not game_over  # the frame cap
        lost_life = 0 < self.ale.lives() < self._lives  # some games read 0 lives before game over
        terminated = game_over or (self._life_episodes and lost_life)
        self._lives = self.ale.lives()
        info = {}
        if game_over or truncated:
            self._game_over = True
            info["game_end"] = (self._game_return, self._game_steps)
        if self.training and self.o.clip_rewards:
            reward = float(np.sign(reward))
        return self._stack.copy(), reward, bool(terminated), bool(truncated and not terminated), info

    def render(self):
        return self.ale.getScreenRGB()


def eval_protocol(options: AtariOptions | None, override: str | None = None) -> tuple[AtariOptions, str]:
    """``(options, protocol)``: a run's options with ``override`` (``--atari-eval``) applied, and the
    evaluation protocol they give."""
    options = options or AtariOptions()
    if override is not None:
        options = replace(options, atari_eval=override)
    return options, options.atari_eval


def fire_plan(game: str, options: AtariOptions) -> tuple[int | None, int | None]:
    """The actions a reset presses in ``game`` under ``options``: FIRE's index in the action set (``None``: no FIRE,
    or ``fire_reset`` off), and the action pressed after it (2, or ``None`` with fewer than 3 actions)."""
    env = AtariEnv(game, replace(options, noop_max=0))
    return env._fire, env._after_fire


def _fire_actions(game: str, full_action_space: bool) -> tuple[bool, bool]:
    """Whether ``game``'s action set has FIRE, and whether a reset presses action 2 after it (3 actions or more)."""
    fire, after = fire_plan(game, AtariOptions(full_action_space=full_action_space))
    return fire is not None, after is not None


def upgrade_pre_protocol(env_id: str, data: dict[str, Any], given: Collection[str] = ()) -> str | None:
    """Keep, as far as the options can, the protocol of a run dir written before the evaluation protocols (before
    commit 86874ca: its ``config.json`` has no ``atari_eval`` key, and ``null`` options meant that time's standard).

    That code drew 0 to ``noop_max`` no-ops, pressed FIRE alone at a reset, and pressed FIRE within the step after
    a lost life that did not end the episode (in evaluation, and in training without episodic life). Evaluation
    set in ``data`` is ``lives`` where FIRE was pressed after a lost life (its scores stay comparable with the
    run's best), else ``game`` (then the same as before). Returns the one line naming what changed, or ``None``."""
    if "atari_eval" in data:
        return None  # (a null atari_eval, from 86874ca to 6a08548, is today's standard: "game")
    game = atari_game(env_id)
    assert game is not None
    noops = 30 if data.get("noop_max") is None else int(data["noop_max"])
    fire, then_2 = _fire_actions(game[0], bool(data.get("full_action_space")))
    fire = fire and data.get("fire_reset") is not False
    data["atari_eval"] = "lives" if fire else "game"
    changed = [f"no-op starts are 1 to {noops} (were 0 to {noops})"] if noops > 0 else []
    if fire and then_2:
        changed.append("a reset presses FIRE then action 2 (was FIRE alone)")
    if fire and "atari_eval" not in given:
        changed.append(
            "evaluations press FIRE after a lost life through --atari-eval lives, which ends an "
            "evaluation episode there (the next life starts with a no-op, FIRE and action 2, and a "
            "recurrent state restarts)"
        )
    if fire and data.get("episodic_life") is False:
        changed.append("training without episodic life no longer presses FIRE after a lost life")
    if not changed:
        return None
    return (
        f"this Atari run predates asyncrl's Atari protocols; it goes on as close to its own as the options "
        f"allow, but {'; '.join(changed)}"
    )


class AtariFamily:
    """Atari 2600 games (``PongNoFrameskip-v4``, ``ALE/Pong-v5``, ``atari:Pong``), preprocessed by :class:`AtariEnv`."""

    name = "atari"
    options: type | None = AtariOptions
    option_fields: tuple[str, ...] = (
        "noop_max",
        "episodic_life",
        "clip_rewards",
        "fire_reset",
        "sticky_actions",
        "full_action_space",
        "atari_eval",
    )
    frames_per_step = AtariOptions.frame_skip

    def matches(self, env_id: str) -> bool:
        return atari_game(env_id) is not None

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        return "atari"

    def fill(self, env_id: str, options: AtariOptions) -> AtariOptions:
        """The options of a resolved config: the id's own sticky-action probability where none was given."""
        game = atari_game(env_id)
        if options.sticky_actions is None and game is not None:
            return replace(options, sticky_actions=game[1])
        return options

    def upgrade_saved(self, env_id: str, data: dict[str, Any], given: Collection[str] = ()) -> str | None:
        """A saved run's options as that run played them (:func:`upgrade_pre_protocol`)."""
        return upgrade_pre_protocol(env_id, data, given)

    def factory(
        self, env_id: str, render_mode: str | None, training: bool, options: AtariOptions | None
    ) -> Callable[[], gym.Env]:
        game = atari_game(env_id)
        assert game is not None
        name, sticky = game
        AtariEnv.check_game(name)
        opts = options or AtariOptions()
        return lambda: AtariEnv(name, opts, training=training, sticky_default=sticky, render_mode=render_mode)


ATARI = register_family(AtariFamily())
