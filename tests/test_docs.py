"""The documentation cannot rot: every ``asyncrl ...`` command in README.md and docs/ resolves its settings
(``train``, ``tune`` and ``sweep`` with ``--dry-run``; ``eval``, ``plot`` and ``record`` through the parser, with
shipped models looked up), and every Python block of the getting-started page runs as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asyncrl import TrainConfig, train
from asyncrl.algos import ALGORITHMS
from asyncrl.checkpoint import resolve_checkpoint_path
from asyncrl.cli import _algo_env_runtime, build_parser, main
from asyncrl.config import DEFAULT_ALGO, DEFAULT_ENV
from asyncrl.experiments import tune as T
from asyncrl.train import dry_run

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)


def doc_commands(text: str) -> list[list[str]]:
    """The ``asyncrl`` command lines of the shell blocks in ``text``, as argument lists (comments, ``$`` prompts
    and leading ``NAME=value`` environment settings dropped; ``\\`` continuations joined)."""
    commands = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line.strip().removeprefix("$ "), comments=True)
            while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tokens[0]):
                tokens = tokens[1:]
            if tokens and (tokens[0] == "asyncrl" or tokens[0].endswith("/asyncrl")):
                commands.append(tokens[1:])
    return commands


COMMANDS = [(page.relative_to(ROOT).as_posix(), argv) for page in PAGES for argv in doc_commands(page.read_text())]


def test_the_docs_show_commands_of_every_kind():
    # (the extraction itself: a change of the code-block style must not leave the check below with nothing to do)
    kinds = {argv[0] if argv else "train" for _, argv in COMMANDS}
    assert {"train", "eval", "plot", "record", "tune", "sweep"} <= kinds, kinds
    assert len(COMMANDS) >= 30
    assert doc_commands("```bash\n$ WANDB_MODE=offline asyncrl train --algo a2c  # note\nls\n```\n") == [
        ["train", "--algo", "a2c"]
    ]


def _value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def _make_inputs(argv: list[str]) -> None:
    """Create what a documented command reads, where the docs name a run or file of the reader's own: the run of
    ``--resume`` (a short A2C run) and the file of ``--config`` (a run's config.json for the command's algo)."""
    resume, config = _value(argv, "--resume"), _value(argv, "--config")
    if argv[0] == "train" and resume and not os.path.exists(resume):
        # (a run its --runtime can resume: a run of that runtime, in its serial mode where it has one)
        runtime = _value(argv, "--runtime")
        algo = next((a.name for a in ALGORITHMS.values() if runtime in a.runtimes), "a2c") if runtime else "a2c"
        serial = {"serial": True} if runtime in ("actor-learner", "hogwild") else {}
        train(
            TrainConfig(
                algo=algo,
                runtime=runtime,
                total_steps=600,
                eval_every=0,
                run_dir=resume,
                tensorboard=False,
                progress=False,
                **serial,
            )
        )
    study = _value(argv, "--study")
    if argv[0] == "tune" and "--resume" in argv and study and not os.path.exists(os.path.join(study, T.SETTINGS_FILE)):
        settings = T.new_study(study, T.TuneSettings(algo=DEFAULT_ALGO, env=DEFAULT_ENV), None)
        T.write_settings(study, settings)
    if config and not os.path.exists(config):
        algo = _value(argv, "--algo") or DEFAULT_ALGO
        env = _value(argv, "--env") or DEFAULT_ENV
        text, _ = dry_run(TrainConfig(algo=algo, env=env, run_dir="runs/for-config"))
        os.makedirs(os.path.dirname(config) or ".", exist_ok=True)
        Path(config).write_text(text)


@pytest.fixture
def workdir(tmp_path):
    """The reader's folder, fresh for each command: where its runs land, and their own env package
    (``mypackage.envs:MyEnv``, as the docs name it)."""
    path = tmp_path
    (path / "mypackage").mkdir()
    (path / "mypackage" / "__init__.py").write_text("")
    (path / "mypackage" / "envs.py").write_text(
        "from gymnasium.envs.classic_control import CartPoleEnv\n\n\nclass MyEnv(CartPoleEnv):\n    pass\n"
    )
    return path


@pytest.mark.parametrize("page, argv", COMMANDS, ids=[f"{p}: asyncrl {' '.join(a)}"[:120] for p, a in COMMANDS])
def test_a_documented_command_resolves(page, argv, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    argv = argv or ["train"]
    if "--help" in argv or "-h" in argv:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0, capsys.readouterr().err
        return
    if "cuda" in argv:  # (commands for a GPU machine: their settings resolve here as they would there)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    if argv[0] in ("train", "tune", "sweep"):
        _make_inputs(argv)
        rc = main([*argv, "--dry-run"])
        out, err = capsys.readouterr()
        assert rc == 0, f"{page}: asyncrl {' '.join(argv)}\n{err}"
        assert "dry run: nothing trained or written" in err
        if argv[0] != "sweep":
            json.loads(out)  # (the resolved settings, as JSON)
        return
    try:
        args = build_parser(*_algo_env_runtime(argv)).parse_args(argv)
    except SystemExit:
        pytest.fail(f"{page}: asyncrl {' '.join(argv)}\n{capsys.readouterr().err}")
    for path in (getattr(args, "path", None), *getattr(args, "run_dirs", [])):
        if path and path.startswith("pretrained:"):
            assert os.path.isfile(resolve_checkpoint_path(path, "best")), path


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)


def test_the_getting_started_python_blocks_run_as_written(tmp_path):
    blocks = _python_blocks(ROOT / "docs" / "getting-started.md")
    assert blocks, "docs/getting-started.md lost its Python examples"
    script = "\n\n".join(f"# --- block {i + 1}\n{b}" for i, b in enumerate(blocks))
    (tmp_path / "blocks.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.run(
        [sys.executable, "blocks.py"], cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env
    )
    assert p.returncode == 0, f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
