"""Shared helpers: run the CLI as a subprocess, find leftover processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ASYNCRL = [sys.executable, "-m", "asyncrl.cli"]
FAST = ["--no-tensorboard", "--no-progress"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env


def run_cli(*args: str, timeout: float = 180, check: bool = False) -> subprocess.CompletedProcess:
    p = subprocess.run([*ASYNCRL, *args], capture_output=True, text=True, timeout=timeout, env=cli_env())
    if check and p.returncode != 0:
        raise AssertionError(f"asyncrl {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def procs_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text`` (forked workers share it)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (d / "stat").read_text().split()[2]
            except OSError:
                continue
            if text in cmd and state != "Z":
                out.append(int(d.name))
    return out


@pytest.fixture
def run_dir(tmp_path) -> str:
    return str(tmp_path / "run")
