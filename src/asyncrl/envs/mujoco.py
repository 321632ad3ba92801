"""MuJoCo (the ``mujoco`` extra): Gymnasium's MuJoCo tasks (``HalfCheetah-v5``, ``Hopper-v5``, ``Walker2d-v5``,
``Ant-v5``, ``Humanoid-v5``, ...), with the algorithms' ``mujoco`` defaults (observation and reward
normalisation on, CleanRL's and Stable-Baselines3's 64x64 tanh MLPs for actor and critic).

Rendering (``asyncrl record``, ``--capture-video``) is headless: with no display, ``MUJOCO_GL`` defaults to
``egl``; where no GL backend works, the family's ``render_error`` gives the one line that says what to install.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from asyncrl.envs.base import entry_point_in, register_family
from asyncrl.errors import UsageError

ENTRY_POINT = "gymnasium.envs.mujoco"


def headless_gl() -> None:
    """Pick a headless OpenGL backend for MuJoCo's renderer when there is no display (``MUJOCO_GL`` unset)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")
        if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
            os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def _warn(message: str) -> None:
    warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=1)


def route_warnings() -> None:
    """Send MuJoCo's warnings to Python's ``warnings`` (each text shown once per process) instead of stderr and a
    ``MUJOCO_LOG.TXT`` in the working folder (Gymnasium's v5 models trigger a deprecation warning on every
    construction, once per env)."""
    import mujoco

    mujoco.set_mju_user_warning(_warn)


class MujocoFamily:
    """The ids whose Gymnasium entry point is in ``gymnasium.envs.mujoco``."""

    name = "mujoco"
    options: type | None = None
    option_fields: tuple[str, ...] = ()
    frames_per_step = 1

    def matches(self, env_id: str) -> bool:
        return entry_point_in(env_id, ENTRY_POINT)

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        return "mujoco"

    def render_error(self, env_id: str, error: BaseException) -> UsageError:
        """The one line for a MuJoCo env that cannot render here (no working OpenGL backend)."""
        backend = os.environ.get("MUJOCO_GL", "glfw")
        return UsageError(
            f"--env {env_id}: MuJoCo cannot render with MUJOCO_GL={backend} ({type(error).__name__}); "
            f"install an OpenGL backend, EGL (apt install libegl1) or OSMesa (apt install libosmesa6), "
            f"and set MUJOCO_GL=egl or MUJOCO_GL=osmesa"
        )

    def factory(self, env_id: str, render_mode: str | None, training: bool, options: Any) -> Callable[[], gym.Env]:
        try:
            import mujoco  # noqa: F401
        except ImportError:
            raise UsageError(f"--env {env_id!r} needs MuJoCo: pip install 'asyncrl[mujoco]'") from None
        if render_mode is not None:
            headless_gl()

        def make() -> gym.Env:
            route_warnings()  # (in the process that builds the env: a worker's own MuJoCo)
            return gym.make(env_id, render_mode=render_mode)

        return make


MUJOCO = register_family(MujocoFamily())
