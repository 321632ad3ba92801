"""Faults and control: worker crash or kill, Ctrl-C and SIGTERM, resume, the spawn start method.

Every test bounds its subprocess with a timeout and checks that no process of the run is left.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time

import pytest
import torch

from conftest import FAST, assert_env_crash_reported, child_pids, no_leftovers, run_cli, start_cli, wait_for_episodes


def test_worker_exception_ends_the_run(run_dir):
    t0 = time.monotonic()
    p = run_cli(
        "train",
        "--algo",
        "a3c",
        "--workers",
        "2",
        "--env",
        "support_envs:CrashingCartPole",
        "--total-steps",
        "1000000",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        timeout=90,
    )
    assert p.returncode == 1
    assert_env_crash_reported(p.stderr, run_dir, "worker")
    assert time.monotonic() - t0 < 60
    no_leftovers(run_dir)


def test_killed_worker_ends_the_run(run_dir):
    proc = start_cli(
        "train",
        "--algo",
        "a3c",
        "--workers",
        "2",
        "--total-steps",
        "100000000",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
    )
    try:
        wait_for_episodes(run_dir, proc)
        workers = [k for k in child_pids(proc.pid) if run_dir in open(f"/proc/{k}/cmdline").read()]
        assert workers
        os.kill(workers[0], signal.SIGKILL)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 1 and "killed by signal 9" in err
        assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
    no_leftovers(run_dir)


def test_killed_evaluator_ends_the_run(run_dir):
    proc = start_cli(
        "train", "--algo", "a2c", "--total-steps", "100000000", "--eval-every", "1000", "--run-dir", run_dir, *FAST
    )
    try:
        wait_for_episodes(run_dir, proc)
        (evaluator,) = child_pids(proc.pid)
        os.kill(evaluator, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 1 and "evaluation process" in err
    finally:
        proc.kill()
    no_leftovers(run_dir)


RUNTIME_CASES = {
    "hogwild": ["--algo", "a3c", "--workers", "2"],
    "sync": ["--algo", "a2c"],
    "actor-learner": ["--algo", "impala", "--workers", "2"],
    "hogwild-serial": ["--algo", "a3c", "--workers", "2", "--serial"],
    "actor-learner-serial": ["--algo", "impala", "--workers", "2", "--serial"],
}
"""One run of every local runtime (Ray's: tests/test_ray.py)."""


@pytest.mark.parametrize(
    "how, runtime",
    [
        (how, runtime)
        for runtime in RUNTIME_CASES
        for how in ("sigint-group", "sigterm-main", "sigint-main")
        if how == "sigterm-main" or runtime in ("hogwild", "sync")
    ],
)
def test_signal_saves_and_exits_0(how, runtime, run_dir):
    proc = start_cli(
        "train",
        *RUNTIME_CASES[runtime],
        "--total-steps",
        "100000000",
        "--eval-every",
        "5000",
        "--run-dir",
        run_dir,
        *FAST,
    )
    try:
        wait_for_episodes(run_dir, proc)
        if how == "sigint-group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT if how == "sigint-main" else signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    name = "SIGTERM" if how == "sigterm-main" else "SIGINT"
    assert f"interrupted ({name})" in out
    ckpt = torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)
    assert ckpt["counters"]["env_steps"] > 0
    with open(os.path.join(run_dir, "result.json")) as f:
        result = json.load(f)
    assert result["stop_reason"] == f"interrupted ({name})"  # (saved and ended: resume goes on from here)
    assert result["env_steps"] == ckpt["counters"]["env_steps"]
    no_leftovers(run_dir)


@pytest.mark.parametrize("algo", ["a2c", "a3c"])
def test_resume_continues_counters_optimizer_and_logs(algo, run_dir):
    # Few envs, so episodes finish within the small budgets (the CartPole defaults step 64 at once).
    workers = ["--workers", "2"] if algo == "a3c" else []  # (A2C runs in one process)
    run_cli(
        "train",
        "--algo",
        algo,
        *workers,
        "--num-envs",
        "4",
        "--total-steps",
        "4000",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
    )
    first = torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)
    rows_before = list(csv.reader(open(os.path.join(run_dir, "episodes.csv"))))
    p = run_cli("train", "--resume", run_dir, "--total-steps", "8000", *FAST, check=True)
    second = torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)
    rows_after = list(csv.reader(open(os.path.join(run_dir, "episodes.csv"))))
    assert second["counters"]["env_steps"] >= 8000 > first["counters"]["env_steps"] >= 4000
    assert second["counters"]["updates"] > first["counters"]["updates"]
    assert float(second["optimizer"]["step"]) > float(first["optimizer"]["step"]) > 0
    assert rows_after[: len(rows_before)] == rows_before  # appended, not rewritten
    assert sum(r[0] == "wall_time_s" for r in rows_after) == 1
    new = rows_after[len(rows_before) :]
    assert new and min(int(r[1]) for r in new) >= first["counters"]["env_steps"]
    assert min(float(r[0]) for r in new) >= max(float(r[0]) for r in rows_before[1:])  # the clock continues
    assert "step budget reached" in p.stdout


def test_resume_refuses_changed_settings(run_dir):
    run_cli(
        "train", "--algo", "a2c", "--total-steps", "1000", "--eval-every", "0", "--run-dir", run_dir, *FAST, check=True
    )
    p = run_cli("train", "--resume", run_dir, "--lr", "0.5", *FAST)
    assert p.returncode == 2 and "--lr" in p.stderr and "Traceback" not in p.stderr


def test_spawn_start_method(run_dir):
    run_cli(
        "train",
        "--algo",
        "a3c",
        "--workers",
        "2",
        "--start-method",
        "spawn",
        "--total-steps",
        "3000",
        "--eval-every",
        "1000",
        "--eval-episodes",
        "1",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
        timeout=120,
    )
    rows = list(csv.DictReader(open(os.path.join(run_dir, "episodes.csv"))))
    assert {r["worker"] for r in rows} == {"0", "1"}
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "best.pt"))


@pytest.mark.parametrize("args", [["--algo", "a2c"], ["--algo", "impala", "--serial", "--workers", "1"]])
def test_an_env_crash_in_one_process_ends_the_run_with_one_line(args, run_dir):
    # The synchronous runtime and a serial run step the env in the trainer itself: the same one line as a worker's
    # crash, the traceback in error.log, exit 1, and the checkpoint of the run so far.
    p = run_cli("train", *args, "--env", "support_envs:CrashingCartPole", "--total-steps", "1000000",
                "--eval-every", "0", "--run-dir", run_dir, *FAST, timeout=90)  # fmt: skip
    assert p.returncode == 1
    assert_env_crash_reported(p.stderr, run_dir, "")
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt"))


def test_a_failures_one_line_is_who_failed_the_exception_and_the_notes():
    from asyncrl.runtime.procs import failure_summary

    tb = 'Traceback (most recent call last):\n  File "x.py", line 1, in f\nRuntimeError: boom\n'
    assert failure_summary(f"actor 1 raised an exception:\n{tb}") == "actor 1 raised an exception: RuntimeError: boom"
    crash = f"{tb}\nThe above exception was the direct cause of the following exception:\n\n{tb}".replace(
        "RuntimeError: boom\n\nThe", "RuntimeError: boom\n\nThe", 1
    )
    crash = (
        crash[: crash.rindex("RuntimeError")] + "asyncrl.envs.check.EnvCrashed: --env E: step() raised X (at e.py:3)"
    )
    assert failure_summary(crash) == "--env E: step() raised X (at e.py:3)"
    noted = f"actor 0 raised an exception:\n{tb}(not restarted: it failed before delivering its first rollout)"
    assert failure_summary(noted) == (
        "actor 0 raised an exception: RuntimeError: boom (not restarted: it failed before delivering its first rollout)"
    )
    assert failure_summary("actor 2 died (exit code -9)") == "actor 2 died (exit code -9)"  # (no traceback: as is)
