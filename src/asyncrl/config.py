"""The training configuration: one typed tree of sections, and the flat view users write.

A run's settings form a :class:`RunConfig` tree: the algorithm and env ids, then the shared sections
(:class:`RunControl`, :class:`RolloutConfig`, :class:`OptimConfig`, :class:`ModelConfig`, :class:`LossConfig`, in
:mod:`asyncrl.core.sections`), the chosen runtime's section (``runtime``, its ``config`` class in its file under
``runtime/``), the chosen algorithm's own section (``algo_config``, its ``config`` class in its file under
``algos/``) and the chosen env family's (``env_config``, its ``options`` class under ``envs/``). Each field is
declared once, with its type, default, rule and help (:func:`asyncrl.core.settings.setting`), and checked where it
is defined.

Users write the flat view, :class:`TrainConfig`: every setting of every section by its flat name (the flag without
``--``, the API keyword, the ``config.json`` key), ``None`` meaning "not given". It is generated from the sections,
so flags, API keywords and ``config.json`` cannot drift from them. :func:`resolve` fills what was not given from the
algorithm's tuned rows (:attr:`Algorithm.defaults <asyncrl.algos.base.Algorithm.defaults>`: the env id's row over
the env family's) and the sections' defaults, and returns the tree, in which nothing means "default" any more. The
tree is saved flat as ``config.json`` beside every run (:func:`config_json`) and is enough to reproduce it."""

from __future__ import annotations

import json
import os
import time
from dataclasses import Field, asdict, dataclass, field, fields, make_dataclass
from typing import TYPE_CHECKING, Any

import asyncrl.runtime  # noqa: F401  (registers every runtime)
from asyncrl.algos import ALGORITHMS, get_algorithm
from asyncrl.algos.base import Algorithm, runtime_of
from asyncrl.core.sections import (
    SECTIONS,
    RunConfig,
    check_device,
    check_hidden,
)
from asyncrl.core.settings import (
    NoSettings,
    check_section,
    check_setting,
    check_type,
    choices_of,
    default_of,
    field_docs,
    field_kind,
    flag_of,
    flat_name,
    has_default,
    type_text,
)
from asyncrl.envs.base import FAMILIES, EnvFamily, all_option_fields, family_of, make_options
from asyncrl.errors import UsageError
from asyncrl.paths import read_json_object
from asyncrl.runtime.base import RUNTIMES, Runtime, default_start_method, get_runtime

FAMILY_NAMES = {"atari": "Atari games", "doom": "ViZDoom scenarios", "minigrid": "MiniGrid envs"}
"""How error messages name env families."""
DEFAULT_ALGO, DEFAULT_ENV = "a3c", "CartPole-v1"
"""What ``asyncrl train`` with no arguments runs."""


# ---- the tree: build, flatten, check ----------------------------------------------------------------------


def flat_view(cfg: RunConfig) -> dict[str, Any]:
    """The flat view: ``{flat name: value}`` of every setting of the run (the form of ``config.json``, which
    ``asyncrl train --config`` reads back)."""
    out: dict[str, Any] = {"algo": cfg.algo, "env": cfg.env}
    env_fields = set(family_of(cfg.env).option_fields)
    others = {name for name, users in only_for().items() if cfg.algo not in users}
    for section in cfg.sections():
        for f in fields(section):
            if section is cfg.env_config and f.name not in env_fields:
                continue  # fixed construction options (frame skip, screen size), not settings
            if flat_name(f) in others:
                continue  # a shared setting this algorithm does not read (FeUdal's network has no --lstm)
            v = getattr(section, f.name)
            out[flat_name(f)] = list(v) if isinstance(v, (list, tuple)) else v
    return out


def config_json(cfg: RunConfig) -> str:
    return json.dumps(flat_view(cfg), indent=2, sort_keys=True)


def tree_from_flat(data: dict[str, Any]) -> RunConfig:
    """The tree of a resolved flat dict (``config.json``, or :func:`flat_view` sent to a spawned process)."""
    return build_tree(data["algo"], data["env"], data)


def check_run(cfg: RunConfig) -> None:
    """Every section's rules, then the rules between sections: the runtime's (``check(cfg)``) and the
    algorithm's."""
    algo = get_algorithm(cfg.algo)
    if cfg.env.strip() == "":
        raise UsageError("--env must not be empty (allowed: a Gymnasium id, or package.module:EnvClass)")
    for section in cfg.sections():
        check_section(section)
    runtime = get_runtime(runtime_for(algo, cfg.runtime.kind))
    if runtime.check is not None:
        runtime.check(cfg)  # e.g. the learner's batch fits its slots
    if check := getattr(algo, "check", None):
        check(cfg)  # the algorithm's own rules (e.g. APPO's minibatches, FeUdal's horizon)


def runtime_for(algo: Algorithm, runtime: str | None) -> str:
    """The runtime a run of ``algo`` uses (``runtime`` if given, else the algorithm's first); refused with the
    algorithms that do run on it."""
    if runtime is not None and runtime not in RUNTIMES:
        get_runtime(runtime)  # a UsageError naming the choices
    try:
        return runtime_of(algo, runtime)
    except UsageError as e:
        raise UsageError(f"{e}; --runtime {runtime} runs --algo {', '.join(algos_on(str(runtime)))}") from None


def algo_section(algo_name: str) -> type:
    """The algorithm's own section class (:class:`NoSettings` if it has none)."""
    return getattr(get_algorithm(algo_name), "config", None) or NoSettings


def env_section(family: EnvFamily) -> type:
    return family.options or NoSettings


def _section(cls: type, values: dict[str, Any], only: tuple[str, ...] | None = None) -> Any:
    kw = {}
    for f in fields(cls):
        name = flat_name(f)
        if values.get(name) is not None and (only is None or name in only):
            kw[f.name] = values[name]
        elif not has_default(f):
            raise ValueError(f"no value for {flag_of(name)}: the algorithm's defaults must give one")
    return cls(**kw)


def build_tree(algo: str, env: str, values: dict[str, Any]) -> RunConfig:
    """The tree of ``values`` (flat names; settings outside this algorithm's, runtime's and family's tree are
    ignored)."""
    family = family_of(env)
    sections = {k: _section(cls, values) for k, cls in SECTIONS.items()}
    runtime = values.get("runtime") or get_algorithm(algo).runtimes[0]  # (None in run dirs before 0.2)
    sections["runtime"] = _section(get_runtime(runtime).config, {**values, "runtime": runtime})
    env_config = _section(env_section(family), values, family.option_fields)
    if fill := getattr(family, "fill", None):
        env_config = fill(env, env_config)  # defaults that depend on the env id
    return RunConfig(
        algo=algo, env=env, **sections, algo_config=_section(algo_section(algo), values), env_config=env_config
    )


# ---- the flat view --------------------------------------------------------------------------------------


def _flat_fields() -> list[tuple[str, Field, str, type]]:
    """``(flat name, field, help, section class)`` of every setting, in the tree's order, each name once."""
    seen: dict[str, tuple[str, Field, str, type]] = {}
    run_docs = field_docs(RunConfig)
    for name in ("algo", "env"):
        seen[name] = (name, next(f for f in fields(RunConfig) if f.name == name), run_docs[name], RunConfig)
    owners: list[tuple[type, tuple[str, ...] | None]] = [(cls, None) for cls in SECTIONS.values()]
    owners += [(r.config, None) for r in RUNTIMES.values()]
    owners += [(section, None) for a in ALGORITHMS.values() if (section := getattr(a, "config", None))]
    owners += [(fam.options, fam.option_fields) for fam in FAMILIES if fam.options is not None]
    for cls, only in owners:
        docs = field_docs(cls)
        for f in fields(cls):
            name = flat_name(f)
            if (only is None or name in only) and name not in seen:
                seen[name] = (name, f, docs.get(f.name, ""), cls)
    return list(seen.values())


FLAT_FIELDS = {name: (f, doc, cls) for name, f, doc, cls in _flat_fields()}
"""Every flat setting name: its section field, its help text and its section's class."""


def _train_config_class() -> type:
    specs = []
    for name, (f, doc, section) in FLAT_FIELDS.items():
        fixed = name in ("algo", "env") or f.metadata.get("fixed")
        default = (
            {"algo": DEFAULT_ALGO, "env": DEFAULT_ENV}[name]
            if name in ("algo", "env")
            else default_of(f)
            if fixed
            else None
        )
        kind = type_text(f) if fixed else f"{field_kind(f)} | None"
        specs.append((name, kind, field(default=default, metadata={**f.metadata, "doc": doc, "section": section})))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def from_dict(cls, data: dict[str, Any]):
        unknown = sorted(set(data) - set(FLAT_FIELDS))
        if unknown:
            raise UsageError(f"unknown config keys {unknown}")
        return cls(**data)

    return make_dataclass(
        "TrainConfig",
        specs,
        namespace={
            "__doc__": "The settings of one training run as a user gives them, by flat name (flag without ``--``, "
            "API keyword, ``config.json`` key); ``None``: not given, so the algorithm's default for the env.",
            "__module__": __name__,
            "to_json": to_json,
            "from_dict": classmethod(from_dict),
        },
    )


if TYPE_CHECKING:

    @dataclass(init=False)
    class TrainConfig:
        """The flat view (generated; see the module docstring)."""

        algo: str
        env: str

        def __init__(self, **settings: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...
        def to_json(self) -> str: ...
        @classmethod
        def from_dict(cls, data: dict[str, Any]) -> TrainConfig: ...
else:
    TrainConfig = _train_config_class()

RESUME_OVERRIDABLE = frozenset(name for name, (f, _, _) in FLAT_FIELDS.items() if f.metadata.get("resume"))
"""Settings a resumed run may change (``resume=True`` in their section); everything else must match."""


def read_config_file(path: str) -> dict[str, Any]:
    """The settings in a config file (``asyncrl train --config FILE``): a JSON object of flat names, e.g. a run's
    ``config.json`` or ``asyncrl tune``'s ``best_config.json``. Unknown names and unreadable files raise a
    one-line :class:`UsageError`; the values are checked as flags' are, when the run is prepared."""
    data = read_json_object(path, "--config", '{"lr": 0.001}')
    unknown = sorted(set(data) - set(FLAT_FIELDS))
    if unknown:
        raise UsageError(
            f"--config {path!r}: unknown setting(s) {', '.join(unknown)} (allowed: the flat names of "
            f"'asyncrl train --help', flags without --)"
        )
    return data


def default_run_dir(algo: str, env: str, seed: int) -> str:
    env = env.replace("/", "_").replace(":", "_")
    return os.path.join("runs", f"{algo}-{env}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}")


def only_for() -> dict[str, tuple[str, ...]]:
    """Settings that only some algorithms use (each registered algorithm's own section and its ``fields``, the
    shared settings only it reads), with their users; giving one to another algorithm is an error, not a no-op."""

    def own(a: Any) -> tuple[str, ...]:
        section = getattr(a, "config", None)
        return (*a.fields, *(flat_name(f) for f in fields(section))) if section else tuple(a.fields)

    algos = ALGORITHMS.values()
    names = dict.fromkeys(n for a in algos for n in own(a))
    return {name: tuple(a.name for a in algos if name in own(a)) for name in names}


def only_on() -> dict[str, tuple[str, ...]]:
    """Settings that only some runtimes have (in their sections), with those runtimes."""
    has = {r.name: {flat_name(f) for f in fields(r.config)} for r in RUNTIMES.values()}
    names = dict.fromkeys(n for owned in has.values() for n in owned)
    return {n: on for n in names if len(on := tuple(r for r, owned in has.items() if n in owned)) < len(has)}


def algos_on(runtime: str) -> tuple[str, ...]:
    """The registered algorithms that run on ``runtime``."""
    return tuple(a.name for a in ALGORITHMS.values() if runtime in a.runtimes)


def section_of(name: str, algo: str, runtime: str | None = None) -> type:
    """The section a flat setting belongs to in a run of ``algo`` on ``runtime`` (default: the algorithm's first):
    that runtime's or that algorithm's where one declares it (``--workers``, ``--rho-bar``), else its only owner."""
    a = get_algorithm(algo)
    for section in (get_runtime(runtime or a.runtimes[0]).config, getattr(a, "config", None)):
        if section is not None and any(flat_name(f) == name for f in fields(section)):
            return section
    return FLAT_FIELDS[name][2]


def env_options(cfg: TrainConfig | RunConfig | dict) -> Any:
    """The typed construction options of a config's env family (:class:`~asyncrl.envs.atari.AtariOptions` for
    Atari; ``None`` for a family without options), from a resolved tree, a user's config or a saved JSON dict."""
    if isinstance(cfg, RunConfig):
        return None if isinstance(cfg.env_config, NoSettings) else cfg.env_config
    data = cfg if isinstance(cfg, dict) else asdict(cfg)  # type: ignore[call-overload]
    return make_options(family_of(data["env"]), data)


def not_applicable(name: str, algo: str, env: str, runtime: str | None = None) -> str | None:
    """Why setting ``name`` does not apply to ``--algo algo --env env --runtime runtime`` (default: the algorithm's
    first runtime): it belongs to another env family, other algorithms or other runtimes; ``None`` if it
    applies."""
    owner = all_option_fields().get(name)
    if owner is not None and owner is not family_of(env):
        return f"{flag_of(name)} applies to {FAMILY_NAMES.get(owner.name, owner.name)} only, not --env {env}"
    users = only_for().get(name)
    if users is not None and algo not in users:
        return f"{flag_of(name)} does not apply to --algo {algo} (it is used by: {', '.join(users)})"
    on = only_on().get(name)
    runtime = runtime if runtime in RUNTIMES else get_algorithm(algo).runtimes[0]
    if on is not None and runtime not in on:
        runs = dict.fromkeys(a for r in on for a in algos_on(r))
        return (
            f"{flag_of(name)} does not apply to --algo {algo} on --runtime {runtime} (it is a setting of "
            f"--runtime {', '.join(on)}, which runs --algo {', '.join(runs)})"
        )
    return None


def applicable(
    settings: dict[str, Any], algo: str, env: str, runtime: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The settings of a config file (flat names, e.g. another run's ``config.json``) that apply to a run of
    ``algo`` on ``env`` and ``runtime`` (given apart from the file; else the file's, where ``algo`` runs on it),
    and the names of those left out: another algorithm's, another env family's, another runtime's (the file's
    ``runtime`` itself where ``algo`` does not run on it, or where ``runtime`` replaces it)."""
    keep = {k: v for k, v in settings.items() if k not in ("algo", "env")}
    left = []
    saved = keep.get("runtime")
    if saved is not None and (runtime or saved not in get_algorithm(algo).runtimes):
        del keep["runtime"]  # (a flag's runtime replaces it; one the algorithm does not run on is left out)
        if saved != runtime:
            left.append("runtime")
    runtime = runtime or keep.get("runtime")
    for name in list(keep):
        if not_applicable(name, algo, env, runtime) is not None:
            del keep[name]
            left.append(name)
    return keep, left


def given(cfg: TrainConfig) -> dict[str, Any]:
    """The settings of a user's config that were given (not ``None``), and the fixed ones (always given)."""
    return {
        k: v
        for k, v in asdict(cfg).items()  # type: ignore[call-overload]
        if v is not None or FLAT_FIELDS[k][0].metadata.get("fixed")
    }


def validate(cfg: TrainConfig) -> None:
    """Check every given setting of a user's config against its section's rule (before anything is built), and
    the rules that need no defaults; :func:`check_run` checks the resolved tree."""
    get_algorithm(cfg.algo)  # a UsageError naming the choices for an unknown one
    for name, value in given(cfg).items():
        check_setting(FLAT_FIELDS[name][0], value, name)
    if cfg.env.strip() == "":
        raise UsageError("--env must not be empty (allowed: a Gymnasium id, or package.module:EnvClass)")
    if cfg.run_dir is not None and cfg.run_dir.strip() == "":
        raise UsageError("--run-dir must not be empty (a folder for the run)")
    if cfg.hidden is not None:
        check_hidden(cfg.hidden)
    if cfg.device is not None:
        check_device(cfg.device)


def check_applicable(cfg: TrainConfig) -> None:
    """Refuse settings the chosen algorithm, runtime and env would ignore (call on a user's config, before
    :func:`resolve`)."""
    validate_types(cfg)
    runtime = runtime_for(ALGORITHMS[cfg.algo], cfg.runtime)
    for name in (*all_option_fields(), *only_for(), *only_on()):
        f = FLAT_FIELDS[name][0]
        value = getattr(cfg, name)
        off = value is None or (f.metadata.get("fixed") and value == default_of(f))  # (a fixed one's default: unset)
        if not off and (why := not_applicable(name, cfg.algo, cfg.env, runtime)):
            raise UsageError(why)


def validate_types(cfg: TrainConfig) -> None:
    """The algorithm is known and every given setting has its type (the Python API passes values argparse never
    saw); the rules are :func:`validate`'s."""
    get_algorithm(cfg.algo)
    if not isinstance(cfg.env, str):
        raise UsageError(f"--env must be a string, got {cfg.env!r}")
    for name, value in given(cfg).items():
        check_type(FLAT_FIELDS[name][0], value, name)


def resolve(cfg: TrainConfig, action_family: str) -> RunConfig:
    """The checked tree of a user's config: what was not given comes from the algorithm's tuned rows (the env
    id's over ``action_family``'s, the key its env family names), then from the sections' own defaults."""
    algo = get_algorithm(cfg.algo)
    if action_family not in algo.defaults:
        raise UsageError(
            f"--algo {cfg.algo} needs a discrete action space; --env {cfg.env} has {action_family} actions"
        )
    user = given(cfg)
    values = {**algo.defaults[action_family], **algo.defaults.get(cfg.env, {}), **user}
    if not values.get("sde") and "sde_sample_freq" not in user:
        values.pop("sde_sample_freq", None)  # a row's gSDE frequency goes with its gSDE (`--no-sde` over a row)
    runtime: Runtime = get_runtime(runtime_for(algo, values.get("runtime")))
    values["runtime"] = runtime.name
    values.setdefault("workers", runtime.default_workers(algo))  # (ignored by a runtime without workers)
    for name, value in runtime.derived(values).items():
        values.setdefault(name, value)
    values.setdefault("start_method", default_start_method())
    values.setdefault("run_dir", default_run_dir(cfg.algo, cfg.env, values.get("seed", 0)))
    tree = build_tree(cfg.algo, cfg.env, values)
    check_run(tree)
    return tree


def flag_table() -> str:
    """The Markdown tables of every ``train`` flag, one per section (a ``###`` heading each, in the tree's order),
    with its help and who may set it (the docs' flag table, ``docs/configuration.md``, is this, checked by
    ``tests/test_config.py``; print it with ``scripts/flag_table.py``)."""
    users, runtimes = only_for(), only_on()
    families = all_option_fields()
    sections: dict[str, list[str]] = {}
    for name, (f, doc, section) in FLAT_FIELDS.items():
        kind = field_kind(f)
        metavar = flag_of(name)[2:].upper().replace("-", "_")
        value = "" if kind == "bool" else " N [N ...]" if kind == "list[int]" else " " + metavar
        choices = choices_of(f)
        if choices:
            value = " {" + ",".join(choices) + "}"
        flag = flag_of(name) + value
        if kind == "bool":
            flag = f"{flag_of(name)}, --no-{flag_of(name)[2:]}"
        where = (
            "algorithm and env"
            if section is RunConfig
            else "runtime"
            if name == "runtime" or name in runtimes
            else section.__name__
        )
        applies = (
            FAMILY_NAMES.get(families[name].name, families[name].name)
            if name in families
            else ", ".join(users[name])
            if name in users
            else "--runtime " + ", ".join(runtimes[name])
            if name in runtimes
            else "all"
        )
        sections.setdefault(where, []).append(f"| `{flag}` | {doc.replace('|', '/')} | {applies} |")
    tables = [
        "\n".join([f"### {where}", "", "| flag | meaning | for |", "|---|---|---|", *rows])
        for where, rows in sections.items()
    ]
    return "\n\n".join(tables) + "\n"
