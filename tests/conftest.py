"""Shared helpers: run the CLI as a subprocess, find leftover processes."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
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


def row_family(key: str) -> str:
    """The defaults family an algorithm's row ``key`` falls back to: the key itself for a family row, else its env
    id's (``mujoco`` for Gymnasium's MuJoCo envs, ``continuous`` for the Box-action classic control and Box2D
    envs that have rows, ``discrete`` for the others)."""
    from asyncrl.envs.base import entry_point_in

    if key in ("discrete", "continuous", "atari", "mujoco"):
        return key
    if entry_point_in(key, "gymnasium.envs.mujoco"):
        return "mujoco"
    return "continuous" if any(word in key for word in ("Pendulum", "Continuous", "Bipedal")) else "discrete"


def one_line_error(capsys, argv: list[str]) -> str:
    """Run ``asyncrl ARGV`` in-process; assert exit 2 and one ``asyncrl: error:`` line; return it. (The same
    through a real process, exit code and all: test_inputs.py::test_end_to_end_one_line.)"""
    from asyncrl.cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncrl: error: "), err
    return lines[0]


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


def start_cli(*args: str) -> subprocess.Popen:
    """Start ``asyncrl ARGS`` in its own session (so a test can signal its whole process group)."""
    return subprocess.Popen(
        [*ASYNCRL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        start_new_session=True,
    )


def wait_for_episodes(run_dir: str, proc: subprocess.Popen, n: int = 5, timeout: float = 60, workers: int = 0) -> None:
    """Wait until the run has logged more than ``n`` episodes (and is still running); with ``workers``, until each
    of workers ``0 .. workers-1`` has logged one too (so each has delivered a rollout: a test that kills one of them
    then knows it is past its start)."""
    path = os.path.join(run_dir, "episodes.csv")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.exists(path):
            with open(path) as f:
                rows = list(csv.DictReader(f))
            if len(rows) > n and {str(w) for w in range(workers)} <= {r["worker"] for r in rows}:
                return
        time.sleep(0.1)
    raise AssertionError("training did not start" if not workers else f"not all {workers} workers logged an episode")


def assert_env_crash_reported(stderr: str, run_dir: str, who: str) -> None:
    """``support_envs:CrashingCartPole`` raised in a run: one line on stderr names who ran it, the env, the method
    and the env's file and line (no traceback); the run's ``error.log`` holds the whole traceback."""
    crash = [line for line in stderr.splitlines() if line.startswith("asyncrl: training failed:")]
    assert len(crash) == 1 and "Traceback" not in stderr, stderr
    line = crash[0]
    assert f"{who} " in line and "--env support_envs:CrashingCartPole: step() raised RuntimeError: boom" in line, line
    assert re.search(r"\(at \S*support_envs\.py:\d+\) \(the whole traceback: \S*error\.log\)$", line), line
    log = open(os.path.join(run_dir, "error.log")).read()
    assert 'support_envs.py", line' in log and "boom: the env crashed on purpose" in log  # (its frames)


def no_leftovers(run_dir: str) -> None:
    """Assert that no process of the run outlives it (allowing 5 s to exit)."""
    deadline = time.monotonic() + 5
    while procs_mentioning(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs_mentioning(run_dir) == []


def child_pids(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(x) for x in f.read().split()]
    return kids


@pytest.fixture
def run_dir(tmp_path) -> str:
    return str(tmp_path / "run")


# ---- test tiers: `pytest -m unit` (make test-fast), runtime, e2e, faults, learning ---------------------
TIERS = {
    "unit": (
        "test_returns",
        "test_vtrace",
        "test_surrogate",
        "test_optim",
        "test_model",
        "test_numpy_policy",
        "test_space",
        "test_loss_formulas",
        "test_rollout_truncation",
        "test_inputs",
        "test_logger",
        "test_classic_envs",
        "test_hogwild_handoff",
        "test_config",
        "test_wire",
        "test_normalize",
    ),
    "runtime": (
        "test_actor_learner",
        "test_actor_learner_runtime",
        "test_runtimes",
        "test_resume",
        "test_budget",
        "test_feudal",
        "test_atari",
        "test_doom",
        "test_envpool",
    ),
    "e2e": (
        "test_cli",
        "test_api",
        "test_compat",
        "test_docs",
        "test_docs_example",
        "test_continuous",
        "test_experiments",
    ),
    "faults": ("test_faults",),
    "learning": ("test_learning",),
    "ray": ("test_ray",),
}
"""Each test file's tier (one marker per file); a new file must be given one here."""
_TIER_OF = {module: tier for tier, modules in TIERS.items() for module in modules}


WHOLE_MACHINE = ("learning", "faults", "ray")
WHOLE_MACHINE_FILES = ("test_envpool",)
"""Files of other tiers in the same group: EnvPool's runs step games in C++ threads on every core, and beside the
Ray clusters they made a node miss its heartbeats."""
"""Tiers whose tests need the machine to themselves: learning runs with several worker processes, kills and
deadlines, Ray clusters. Under ``pytest -n N --dist loadgroup`` (``make test``) they form one group, run one
after another on one xdist worker (beside the lighter tests on the others, never beside each other), and the
Ray tests share one cluster."""


@pytest.hookimpl(tryfirst=True)  # (before pytest-xdist reads the xdist_group marks)
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.stem
        if module not in _TIER_OF:
            raise pytest.UsageError(f"{item.path.name} has no test tier: add it to TIERS in tests/conftest.py")
        item.add_marker(getattr(pytest.mark, _TIER_OF[module]))
        if _TIER_OF[module] in WHOLE_MACHINE or module in WHOLE_MACHINE_FILES:
            item.add_marker(pytest.mark.xdist_group("whole-machine"))
