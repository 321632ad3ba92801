"""How a config section declares its settings: a dataclass field with its rule, checked where it is defined.

Every section of the config tree (:mod:`asyncrl.config` for the shared ones, each algorithm's file under
``algos/`` and each env family's file under ``envs/`` for their own) is a dataclass whose fields are
declared with :func:`setting`. A field carries:

- its type (the annotation: ``int``, ``float``, ``str``, ``bool``, ``list[int]``, maybe ``| None`` where
  ``None`` has a meaning of its own, such as "no target return"),
- its default, or none where the default depends on the algorithm and env (filled by
  :func:`asyncrl.config.resolve` from the algorithm's tuned rows),
- its rule: an integer or float range, or a tuple of choices,
- ``resume``: whether a resumed run may change it,
- its help text: the attribute docstring written under the field (read by :func:`field_docs`).

:func:`check_setting` applies one field's type and rule to a value (a user's flag before anything is
built, or a resolved section); :func:`check_section` applies every field of a section. A section's own
rules between its fields are its ``check()`` method.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from asyncrl import limits as L
from asyncrl.errors import UsageError

_NO_DEFAULT: Any = MISSING


def setting(
    default: Any = _NO_DEFAULT,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    what: str | None = None,
    resume: bool = False,
    flat: str | None = None,
    fixed: bool = False,
) -> Any:
    """A section field with its rule (see the module docstring). A list default is copied per instance.

    ``lo``/``hi`` bound an ``int`` (inclusive) or a ``float`` (``lo_open``/``hi_open`` exclude the bound);
    ``choices`` may be a function returning them (a registry's names, read when checked);
    ``what`` replaces the generated description of a float's range; ``flat`` is its flat name when that
    differs from the field's (``RuntimeConfig.kind`` is ``--runtime``). ``fixed``: no algorithm tunes it, so the
    flat view starts at this default rather than at ``None`` ("not given"), and ``None`` is refused.
    """
    meta = dict(
        lo=lo,
        hi=hi,
        lo_open=lo_open,
        hi_open=hi_open,
        choices=choices,
        what=what,
        resume=resume,
        flat=flat,
        fixed=fixed,
    )
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class NoSettings:
    """The section of an algorithm or env family that has no settings of its own."""


def flat_name(f: Field) -> str:
    """The field's name in the flat view (flags, API keywords, ``config.json``)."""
    return f.metadata.get("flat") or f.name


def flag_of(name: str) -> str:
    """The command-line flag of a flat setting name."""
    return "--checkpoint-every" if name == "checkpoint_every_s" else "--" + name.replace("_", "-")


def field_kind(f: Field) -> str:
    """A field's type without ``| None``, as written: ``int``, ``float``, ``str``, ``bool``, ``list[int]``."""
    return next(p.strip() for p in type_text(f).split("|") if p.strip() != "None")


def type_text(f: Field) -> str:
    """A field's annotation as written, whether or not its module postponed annotations (``float``, not
    ``<class 'float'>``)."""
    return f.type.__name__ if isinstance(f.type, type) else str(f.type)


def has_default(f: Field) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


def default_of(f: Field) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def check_type(f: Field, value: Any, name: str | None = None) -> None:
    """Raise :class:`UsageError` naming the flag unless ``value`` has ``f``'s type."""
    flag = flag_of(name or flat_name(f))
    kind = field_kind(f)
    if value is None and "None" in type_text(f):
        return
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise UsageError(f"{flag} must be an integer, got {value!r}")
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise UsageError(f"{flag} must be a number, got {value!r}")
    if kind == "str" and not isinstance(value, str):
        raise UsageError(f"{flag} must be a string, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise UsageError(f"{flag} must be true or false, got {value!r}")
    if kind == "list[int]" and (
        not isinstance(value, (list, tuple)) or any(isinstance(h, bool) or not isinstance(h, int) for h in value)
    ):
        raise UsageError(f"{flag} must be a list of integers, got {value!r}")
    if kind not in ("int", "float", "str", "bool", "list[int]"):  # a programming error in a section
        raise TypeError(f"setting {f.name}: unsupported type {type_text(f)!r}")


def check_setting(f: Field, value: Any, name: str | None = None) -> None:
    """Raise :class:`UsageError` naming the flag unless ``value`` has ``f``'s type and keeps its rule."""
    check_type(f, value, name)
    if value is None:
        return
    flag, kind, m = flag_of(name or flat_name(f)), field_kind(f), f.metadata
    if kind == "int":
        L.need_int(flag, value, int(m.get("lo") or 0), int(m["hi"]) if m.get("hi") is not None else None)
    elif kind == "float":
        L.need_float(
            flag,
            value,
            m.get("lo"),
            m.get("hi"),
            lo_open=m.get("lo_open", False),
            hi_open=m.get("hi_open", False),
            what=m.get("what"),
        )
    elif kind == "str" and (allowed := choices_of(f)) and value not in allowed:
        raise UsageError(f"{flag} {value!r} is not supported (allowed: {', '.join(allowed)})")


def choices_of(f: Field) -> tuple[str, ...]:
    """A string setting's allowed values (empty: any string)."""
    choices = f.metadata.get("choices")
    return tuple(choices() if callable(choices) else choices or ())


def check_section(section: Any) -> None:
    """Every field of ``section`` against its rule, then the section's own ``check()`` if it has one."""
    for f in fields(section):
        check_setting(f, getattr(section, f.name))
    if check := getattr(section, "check", None):
        check()


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass and its dataclass bases (the string right after each field), on one
    line, without reStructuredText's double backquotes: the help text of each setting."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if "__dataclass_fields__" in vars(klass):
            docs.update(_own_field_docs(klass))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for field_, doc in zip(body, body[1:]):
        if (
            isinstance(field_, ast.AnnAssign)
            and isinstance(field_.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field_.target.id] = " ".join(doc.value.value.replace("``", "").split())
    return docs


__all__ = [
    "NoSettings",
    "setting",
    "flat_name",
    "flag_of",
    "field_kind",
    "has_default",
    "default_of",
    "check_type",
    "check_setting",
    "choices_of",
    "check_section",
    "field_docs",
]
