"""What an env family is to the rest of asyncrl: the :class:`EnvFamily` protocol and the registry.

A family is a set of env ids with their own construction and preprocessing (Atari, ViZDoom, MiniGrid;
any other Gymnasium id or ``package.module:EnvClass`` is the generic family). Each one lives in its own
file under ``envs/``, registers itself (:func:`register_family`) and owns:

- ``matches(env_id)``: which ids are its own,
- ``options``: the typed dataclass of its construction options (``None`` if it has none) and
  ``option_fields``, the config settings that fill it (refused for an env of another family),
- ``defaults_key(env_id, action_space)``: the key of the algorithms' tuned defaults it uses (``atari``, or
  the action-space family ``discrete`` / ``continuous``),
- ``frames_per_step``: emulator frames per agent step, for the frame counts in the logs,
- ``factory(env_id, render_mode, training, options)``: a zero-argument env constructor,
- optionally ``fill(env_id, options) -> options``: the defaults that depend on the id, filled in a resolved
  config (Atari's sticky-action probability: 0 for v4 ids, 0.25 for v5),
- optionally ``render_error(env_id, error) -> UsageError``: the one line for an env that cannot render here
  (MuJoCo without an OpenGL backend), which ``record`` gives instead of the error,
- optionally ``upgrade_saved(env_id, data, given) -> str | None``: on ``--resume``, turn the options an older
  run's ``config.json`` left to the standard of its time into what that run played, in place, and return the one
  line naming what could not be kept (Atari runs from before the evaluation protocols; :func:`upgrade_saved`).

Adding an env family is one new file here (the package imports every module in it) and a section in docs/envs.md.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol

import gymnasium as gym


class EnvFamily(Protocol):
    """An env family (see the module docstring)."""

    name: str
    options: type | None
    option_fields: tuple[str, ...]
    frames_per_step: int

    def matches(self, env_id: str) -> bool:
        """Whether ``env_id`` belongs to this family."""
        ...

    def defaults_key(self, env_id: str, action_space: gym.Space) -> str:
        """The key of the algorithms' default rows for ``env_id`` (before its own id's row)."""
        ...

    def factory(self, env_id: str, render_mode: str | None, training: bool, options: Any) -> Callable[[], gym.Env]:
        """A zero-argument constructor; raises :class:`~asyncrl.errors.UsageError` if the env cannot exist.
        ``training`` turns on training-only preprocessing; ``options`` is an instance of ``options`` or ``None``."""
        ...


FAMILIES: list[EnvFamily] = []
"""The registered families, in the order ids are matched; :data:`GENERIC` takes every other id."""
GENERIC: list[EnvFamily] = []
"""The fallback family (registered ids, ``package.module:EnvClass``), set by :mod:`asyncrl.envs.generic`."""


def register_family(family: EnvFamily, fallback: bool = False) -> EnvFamily:
    """Add ``family`` to :data:`FAMILIES` (or make it the fallback)."""
    if any(f.name == family.name for f in (*FAMILIES, *GENERIC)):
        raise ValueError(f"an env family named {family.name!r} is already registered")
    (GENERIC if fallback else FAMILIES).append(family)
    return family


def family_of(env_id: str) -> EnvFamily:
    """The family ``env_id`` belongs to."""
    return next((f for f in FAMILIES if f.matches(env_id)), GENERIC[0])


def entry_point_in(env_id: str, package: str) -> bool:
    """Whether ``env_id`` is registered with Gymnasium with an entry point in ``package`` (a family of
    Gymnasium's own envs: ``gymnasium.envs.mujoco``, ``gymnasium.envs.box2d``)."""
    entry = getattr(gym.envs.registry.get(env_id), "entry_point", None)
    return isinstance(entry, str) and entry.startswith(package + ".")


def action_family(action_space: gym.Space) -> str:
    """``discrete`` (``Discrete``, ``MultiDiscrete``, ``MultiBinary``: categorical heads) or ``continuous``
    (``Box``): the defaults key of a family without its own."""
    discrete = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
    return "discrete" if isinstance(action_space, discrete) else "continuous"


def all_option_fields() -> dict[str, EnvFamily]:
    """Every family's option settings, with the family that owns each."""
    return {name: f for f in FAMILIES for name in f.option_fields}


def make_options(family: EnvFamily, values: dict[str, Any]) -> Any:
    """``family``'s options from the settings in ``values`` that are its own and given (not ``None``);
    ``None`` for a family without options."""
    if family.options is None:
        return None
    return family.options(**{k: values[k] for k in family.option_fields if values.get(k) is not None})


def upgrade_saved(data: dict[str, Any], given: Collection[str] = ()) -> str | None:
    """On ``--resume``: the saved ``config.json`` ``data`` with its env family's options as that run played them
    (the family's optional ``upgrade_saved``, changed in place; ``given``: the settings the user gives again), and
    the one line naming what changed since, or ``None``."""
    hook = getattr(family_of(data["env"]), "upgrade_saved", None)
    return hook(data["env"], data, given) if hook is not None else None
