"""Search spaces of ``asyncrl tune``: which settings a study draws, from which ranges.

An algorithm keeps its default space as data beside it (``search_space`` in its file under ``algos/``); a
space file (``--space FILE``, JSON) overrides it name by name, in the same notation::

    {"lr": ["log", 1e-4, 3e-3],      # log-uniform between the bounds
     "value_coef": ["float", 0.25, 1],  # uniform
     "epochs": ["int", 1, 10],        # an integer in [lo, hi]
     "n_steps": ["choice", [8, 16, 32]],
     "clip_range": 0.2,               # not searched: every trial uses this value
     "max_grad_norm": null}           # not searched: the algorithm's default

Every name is a flat setting (the ``train`` flag without ``--``) that applies to the algorithm and env; bounds
and choices are checked against the setting's own rule before any trial starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncrl.config import FLAT_FIELDS, TrainConfig, check_applicable, not_applicable, validate
from asyncrl.core.settings import check_setting, field_kind
from asyncrl.errors import UsageError
from asyncrl.paths import read_json_object

KINDS = ("log", "float", "int", "choice")
"""How a parameter is drawn: log-uniform, uniform, integer, or one of a list."""


@dataclass(frozen=True)
class Param:
    """One searched setting: ``kind`` (:data:`KINDS`) with bounds ``low``/``high`` or ``choices``."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna ``trial`` draws for this setting."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can draw (a default worth enqueueing as a trial)."""
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high and (self.kind != "int" or float(value).is_integer())

    def to_json(self) -> list:
        return ["choice", list(self.choices)] if self.kind == "choice" else [self.kind, self.low, self.high]


@dataclass(frozen=True)
class Space:
    """A study's space: the searched ``params`` and the ``fixed`` settings every trial gets."""

    params: dict[str, Param]
    fixed: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**{n: p.to_json() for n, p in self.params.items()}, **self.fixed}


def parse_param(name: str, spec: Any, where: str) -> Param:
    """``spec`` (``[kind, lo, hi]`` or ``["choice", [values]]``) as a :class:`Param`; a one-line
    :class:`UsageError` naming ``where`` and what is allowed otherwise."""
    allowed = '["log"|"float"|"int", LOW, HIGH] or ["choice", [VALUES]]'
    if not isinstance(spec, (list, tuple)) or not spec or spec[0] not in KINDS:
        raise UsageError(f"{where}: {name!r} must be {allowed}, a fixed value or null; got {spec!r}")
    kind = spec[0]
    if kind == "choice":
        if len(spec) != 2 or not isinstance(spec[1], (list, tuple)) or not spec[1]:
            raise UsageError(
                f'{where}: {name!r}: a choice needs a non-empty list of values, e.g. ["choice", [8, 16]]; got {spec!r}'
            )
        return Param(name, kind, choices=tuple(spec[1]))
    if len(spec) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec[1:]):
        raise UsageError(f"{where}: {name!r}: {kind} needs two numbers, [{kind!r}, LOW, HIGH]; got {spec!r}")
    low, high = float(spec[1]), float(spec[2])
    if not low < high:
        raise UsageError(f"{where}: {name!r}: LOW must be below HIGH; got {spec!r}")
    if kind == "log" and low <= 0:
        raise UsageError(f"{where}: {name!r}: a log-uniform range needs LOW > 0; got {spec!r}")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise UsageError(f"{where}: {name!r}: an int range needs whole bounds; got {spec!r}")
    return Param(name, kind, low, high)


def _check_values(param: Param, where: str) -> None:
    """Every value ``param`` can draw passes its setting's rule (bounds for ranges, each choice)."""
    f = FLAT_FIELDS[param.name][0]
    kind = field_kind(f)
    if param.kind in ("log", "float") and kind != "float":
        raise UsageError(
            f"{where}: {param.name!r} takes {kind} values, so it cannot be drawn from a "
            f"{param.kind} range (use int or choice)"
        )
    if param.kind == "int" and kind not in ("int", "float"):
        raise UsageError(f"{where}: {param.name!r} takes {kind} values, not integers (use choice)")
    values = param.choices if param.kind == "choice" else (param.low, param.high)
    for v in values:
        if kind == "int" and isinstance(v, float) and v.is_integer():
            v = int(v)
        try:
            check_setting(f, v, param.name)
        except UsageError as e:
            raise UsageError(f"{where}: {e}") from None


def read_space_file(path: str) -> dict[str, Any]:
    """The JSON object of a space file (a one-line :class:`UsageError` if it is missing or not an object)."""
    return read_json_object(path, "--space", '{"lr": ["log", 1e-4, 1e-2]}')


def build_space(
    algo: str, env: str, default: dict[str, Any], overrides: dict[str, Any] | None = None, where: str = "--space"
) -> Space:
    """The space of ``algo`` on ``env``: ``default`` (the algorithm's ``search_space``) with ``overrides`` (a
    space file's object) applied, every name and value checked."""
    merged = {**default, **(overrides or {})}
    params: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in merged.items():
        if name in ("algo", "env", "run_dir", "seed", "total_steps"):
            raise UsageError(f"{where}: {name!r} cannot be searched or fixed here (tune sets it: see its flags)")
        if name not in FLAT_FIELDS:
            raise UsageError(
                f"{where}: unknown setting {name!r} (allowed: the flat names of "
                f"'asyncrl train --algo {algo} --env {env} --help', flags without --)"
            )
        if spec is None:
            continue
        if (why := not_applicable(name, algo, env)) is not None:
            raise UsageError(f"{where}: {why}")
        if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], str) and spec[0] in KINDS:
            params[name] = parse_param(name, spec, where)
            _check_values(params[name], where)
        else:
            try:
                check_setting(FLAT_FIELDS[name][0], spec, name)
            except UsageError as e:
                raise UsageError(f"{where}: {e}") from None
            fixed[name] = spec
    if not params:
        raise UsageError(f"{where}: nothing to search (every setting is fixed or null)")
    probe = TrainConfig(
        algo=algo,
        env=env,
        **fixed,
        **{
            n: (p.choices[0] if p.kind == "choice" else int(p.low) if p.kind == "int" else p.low)
            for n, p in params.items()
        },
    )
    check_applicable(probe)
    validate(probe)
    return Space(params, fixed)


def suggest(space: Space, trial: Any) -> dict[str, Any]:
    """The settings of one trial: the fixed ones and a draw of every parameter."""
    return {**space.fixed, **{n: p.suggest(trial) for n, p in space.params.items()}}
