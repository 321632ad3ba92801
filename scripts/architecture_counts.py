"""The architecture review's counts (shared/reviews/architecture-2026-12.md, section 1), measured on src/asyncrl.

    python scripts/architecture_counts.py [SRC]    # SRC: another checkout's src/ (default: this one's)

Prints: files and lines; the longest functions; imports of asyncrl modules made inside functions; string
tests on the algorithm's name; the import graph between the top-level rooms (core, losses, nn, optim, envs,
algos, runtime, and the top-level modules), its cycles and its upward arrows (a room importing one on a higher
floor); and the config fields.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SRC = (
    Path(sys.argv[1]).resolve() / "asyncrl"
    if len(sys.argv) > 1
    else Path(__file__).resolve().parent.parent / "src" / "asyncrl"
)
FLOORS = {
    "errors": 0,
    "limits": 0,
    "core": 0,
    "losses": 1,
    "nn": 2,
    "optim": 2,
    "envs": 2,
    "paths": 2,
    "algos": 3,
    "checkpoint": 4,
    "evaluate": 5,
    "logger": 6,
    "record": 6,
    "runtime": 7,
    "config": 8,
    "plot": 9,
    "train": 9,
    "experiments": 10,
    "api": 10,
    "cli": 11,
    "__main__": 12,
    "__init__": 12,
    "pretrained": 0,
}
"""The intended floors: a room may import rooms on its own floor or below. The registered axes (algorithms,
runtimes, env families) sit below ``config``, which assembles their sections into the tree."""
RUNTIME_NAMES = ("hogwild", "sync", "actor-learner", "ray")
"""The runtimes' names, to find string tests on them outside ``runtime/``."""


def room(module: str) -> str:
    """``asyncrl.runtime.hogwild`` -> ``runtime``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def main() -> None:
    files = sorted(p for p in SRC.rglob("*.py"))
    lines = sum(len(p.read_text().splitlines()) for p in files)
    print(f"source: {len(files)} .py files, {lines:,} lines")
    funcs, lazy, edges, algo_tests, mod_edges, runtime_tests = [], [], set(), [], set(), []
    for p in files:
        text = p.read_text()
        tree = ast.parse(text)
        mod = "asyncrl." + ".".join(p.relative_to(SRC).with_suffix("").parts)
        src_room = room(mod.removesuffix(".__init__")) if not mod.endswith("asyncrl.__init__") else "__init__"
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.append((node.end_lineno - node.lineno + 1, f"{p.relative_to(SRC)}:{node.lineno} {node.name}"))
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        names = [sub.module] if isinstance(sub, ast.ImportFrom) else [a.name for a in sub.names]
                        if any((n or "").startswith("asyncrl") for n in names):
                            lazy.append(f"{p.relative_to(SRC)}:{sub.lineno}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("asyncrl"):
                target = node.module or ""
                for t in [f"asyncrl.{a.name}" for a in node.names] if target == "asyncrl" else [target]:
                    mod_edges.add((mod.removesuffix(".__init__"), t))
                if target == "asyncrl":  # from asyncrl import limits
                    for a in node.names:
                        edges.add((src_room, a.name))
                else:
                    edges.add((src_room, room(target)))
        algo_tests += [
            f"{p.relative_to(SRC)}:{i}"
            for i, ln in enumerate(text.splitlines(), 1)
            if re.search(r"\balgo\s*(==|!=)\s*[\"']|\balgo\s+(not\s+)?in\s+(\(|[A-Z_]*ALGOS\b)", ln)
        ]
        names = "|".join(RUNTIME_NAMES)
        if src_room != "runtime":
            runtime_tests += [
                f"{p.relative_to(SRC)}:{i}"
                for i, ln in enumerate(text.splitlines(), 1)
                if re.search(rf"(==|!=|\bin)\s*\(?\s*[\"']({names})[\"']", ln)
                or re.search(rf"[\"']({names})[\"']\s*(==|!=|\bin\b)", ln)
                or re.search(rf"\[[\"']({names})[\"']\]", ln)
            ]
    funcs.sort(reverse=True)
    print(f"functions: {len(funcs)}, median {sorted(n for n, _ in funcs)[len(funcs) // 2]} lines; longest:")
    for n, where in funcs[:8]:
        print(f"  {n:4d}  {where}")
    print(f"function-level imports of asyncrl modules: {len(lazy)} {lazy}")
    print(f"string tests on the algorithm's name: {len(algo_tests)} {algo_tests}")
    print(f"string tests on a runtime's name outside runtime/: {len(runtime_tests)} {runtime_tests}")
    over = [f"{where} ({n})" for n, where in funcs if n > 60]
    print(f"functions over 60 lines: {len(over)} {over}")
    edges = {(a, b) for a, b in edges if a != b}
    up = sorted((a, b) for a, b in edges if FLOORS.get(b, 0) > FLOORS.get(a, 0))
    print(f"import graph between rooms: {len(edges)} arrows; upward: {len(up)} {up}")
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    cycles = sorted({tuple(sorted((a, b))) for a, b in edges if a in graph.get(b, set())})
    print(f"two-room cycles: {len(cycles)} {cycles}")
    mods = {(a, b) for a, b in mod_edges if a != b}
    mod_cycles = sorted({tuple(sorted((a, b))) for a, b in mods if (b, a) in mods})
    print(f"two-module cycles (any import, lazy ones included): {len(mod_cycles)} {mod_cycles}")
    config = ast.parse((SRC / "config.py").read_text())
    cls = next((n for n in config.body if isinstance(n, ast.ClassDef) and n.name == "TrainConfig"), None)
    if cls is not None:  # before the config tree: one flat class
        anns = [n for n in cls.body if isinstance(n, ast.AnnAssign)]
        nones = [
            n
            for n in anns
            if "None" in ast.unparse(n.value or ast.Constant(0))
            and ast.unparse(n.value).endswith(("None", "None)", "metadata=RESUMABLE)"))
            and "default=None" in ast.unparse(n.value)
            or ast.unparse(n.value or ast.Constant(0)) == "None"
        ]
        print(f"TrainConfig: {len(anns)} fields, {len(nones)} defaulting to None")
        return
    config_tree()


def config_tree() -> None:
    """Fields per section of the config tree, and those a resolved config may leave ``None``."""
    from dataclasses import fields

    sys.path.insert(0, str(SRC.parent))
    from asyncrl.algos import ALGORITHMS
    from asyncrl.config import FLAT_FIELDS
    from asyncrl.core.sections import SECTIONS
    from asyncrl.core.settings import type_text
    from asyncrl.envs.base import FAMILIES

    shared = {name: len(fields(cls)) for name, cls in SECTIONS.items()}
    try:
        from asyncrl.runtime.base import RUNTIMES

        runtimes = {r.name: len(fields(r.config)) for r in RUNTIMES.values()}
    except ImportError:  # (before runtimes were registered objects)
        runtimes = {}
    own = {a.name: len(fields(a.config)) for a in ALGORITHMS.values() if getattr(a, "config", None)}
    fams = {f.name: len(f.option_fields) for f in FAMILIES if f.option_fields}
    nullable = [n for n, (f, _, _) in FLAT_FIELDS.items() if "None" in type_text(f)]
    print(
        f"config tree: {len(FLAT_FIELDS)} flat settings; shared sections {shared}; runtimes' {runtimes}; "
        f"algorithms' own {own}; "
        f"env families' own {fams}; may be None when resolved: {nullable}"
    )


if __name__ == "__main__":
    main()
