"""The Ray runtime (``--runtime ray``): a private local instance, and a real two-node Ray cluster on this machine.

Every Ray node binds to 127.0.0.1: nothing here talks to anything but loopback.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import time

import pytest
import torch

from conftest import FAST, procs_mentioning, run_cli, start_cli, wait_for_episodes

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

SMALL = ["--num-envs", "4", "--n-steps", "5", "--hidden", "16", "--eval-every", "0"]
RAY_PROCS = ("raylet", "gcs_server", "ray::")


def _ray_procs() -> set[int]:
    return {p for name in RAY_PROCS for p in procs_mentioning(name)}


def _rows(run_dir: str, name: str) -> list[dict]:
    with open(os.path.join(run_dir, name)) as f:
        return list(csv.DictReader(f))


def _latest(run_dir: str) -> dict:
    return torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)


def _no_new_ray_processes(before: set[int]) -> None:
    deadline = time.monotonic() + 15
    while (_ray_procs() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _ray_procs() - before == set()


# ---- a private local instance (no --ray-address) ---------------------------------------------------------

def test_one_runner_in_lockstep_equals_the_serial_runtime_and_leaves_no_ray_process(tmp_path):
    # One runner, one slot, one rollout per update: it always acts with the newest weights, so the Ray runtime
    # must compute exactly what the serial runtime does; its local Ray instance is gone afterwards. With
    # normalisation on, the runner's rewards are scaled by the published statistics and its returns reach the learner.
    before = _ray_procs()
    args = ["train", "--algo", "impala", "--workers", "1", "--slots-per-actor", "1", "--batch-rollouts", "1",
            "--total-steps", "3000", "--normalize-obs", "--normalize-reward", *SMALL, *FAST]
    p = run_cli(*args, "--runtime", "ray", "--run-dir", str(tmp_path / "ray"), timeout=300)
    assert p.returncode == 0, p.stderr
    run_cli(*args, "--serial", "--run-dir", str(tmp_path / "serial"), check=True)
    a, b = _latest(str(tmp_path / "ray")), _latest(str(tmp_path / "serial"))
    assert a["counters"]["updates"] == b["counters"]["updates"] > 100
    assert float(a["model"]["return_norm.count"]) == a["counters"]["env_steps"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    rows = _rows(str(tmp_path / "ray"), "metrics.csv")
    assert max(float(r["policy_lag_max"]) for r in rows) == 0.0
    assert {float(r["ray_runners"]) for r in rows if r["ray_runners"]} == {1.0}
    assert all(float(r["in_flight"]) <= 1 for r in rows if r["in_flight"])  # one slot: one request at most
    _no_new_ray_processes(before)


def test_sigint_saves_exits_0_and_stops_the_local_instance(run_dir):
    before = _ray_procs()
    proc = start_cli("train", "--algo", "appo", "--runtime", "ray", "--workers", "2", "--total-steps", "100000000",
                     *SMALL, "--run-dir", run_dir, *FAST)
    try:
        wait_for_episodes(run_dir, proc, timeout=180)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "interrupted" in out
    assert _latest(run_dir)["counters"]["env_steps"] > 0
    _no_new_ray_processes(before)


def test_an_unreachable_head_gets_one_line_and_exit_2_within_seconds(run_dir):
    t0 = time.monotonic()
    p = run_cli("train", "--algo", "impala", "--runtime", "ray", "--ray-address", "127.0.0.1:9", "--run-dir", run_dir)
    assert p.returncode == 2
    assert p.stderr.startswith("asyncrl: error: --ray-address 127.0.0.1:9: no Ray head answers there")
    assert len(p.stderr.strip().splitlines()) == 1 and time.monotonic() - t0 < 30
    bad = run_cli("train", "--algo", "impala", "--runtime", "ray", "--ray-address", "nowhere", "--run-dir", run_dir)
    assert bad.returncode == 2 and "--ray-address 'nowhere' is not supported" in bad.stderr


def test_hogwild_a3c_is_refused_with_a_pointer_to_a3c_ps(run_dir):
    p = run_cli("train", "--algo", "a3c", "--runtime", "ray", "--run-dir", run_dir)
    assert p.returncode == 2 and "--algo a3c-ps --runtime ray" in p.stderr
    p = run_cli("train", "--algo", "impala", "--ray-address", "auto", "--run-dir", run_dir)
    assert p.returncode == 2 and "--ray-address applies to --runtime ray only" in p.stderr


# ---- a two-node cluster on this machine -----------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    node = dict(num_cpus=1, node_ip_address="127.0.0.1", object_store_memory=150 * 1024**2)
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    c.add_node(**node)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.mark.parametrize("algo", ["impala", "a3c-ps"])
def test_learns_cartpole_with_runners_on_both_nodes(cluster, algo, run_dir):
    p = run_cli("train", "--algo", algo, "--runtime", "ray", "--ray-address", cluster.address, "--workers", "2",
                "--target-return", "195", "--total-steps", "600000", "--eval-every", "0", "--run-dir", run_dir,
                *FAST, timeout=600)
    assert p.returncode == 0, p.stderr
    assert re.search(r"target return 195 reached \(mean100 (19[5-9]|2\d\d)", p.stdout), p.stdout
    assert _latest(run_dir)["counters"]["env_steps"] <= 600_000 + 2 * 64 * 10
    rows = [r for r in _rows(run_dir, "metrics.csv") if r["ray_nodes"]]
    assert rows and {float(r["ray_nodes"]) for r in rows} == {2.0}  # one runner per node: each has one CPU
    assert max(float(r["in_flight"]) for r in rows) <= 2 * 2  # workers x slots_per_actor, never more
    assert float(rows[-1]["wire_bytes_per_step"]) > 0
    assert len([n for n in cluster.list_all_nodes() if n.remaining_processes_alive()]) == 2  # left running
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    assert cfg["runtime"] == "ray" and cfg["ray_address"] == cluster.address


def test_a_raising_runner_ends_the_run_with_its_remote_traceback_and_node(cluster, run_dir):
    p = run_cli("train", "--algo", "impala", "--runtime", "ray", "--ray-address", cluster.address, "--workers", "2",
                "--env", "support_envs:CrashingCartPole", "--total-steps", "10000000", *SMALL, "--run-dir", run_dir,
                *FAST, timeout=300)
    assert p.returncode == 1, p.stderr
    assert "boom: the env crashed on purpose" in p.stderr and "Remote traceback" in p.stderr
    assert 'support_envs.py", line' in p.stderr  # where it raised, on the runner's machine
    log = open(os.path.join(run_dir, "error.log")).read()
    assert "on node 127.0.0.1" in log and "boom" in log
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt"))


def test_a_dead_runner_process_ends_the_run_or_is_restarted(cluster, tmp_path):
    args = ["train", "--algo", "appo", "--runtime", "ray", "--ray-address", cluster.address, "--workers", "2",
            "--env", "support_envs:ExitingCartPole", *SMALL, *FAST]
    p = run_cli(*args, "--total-steps", "10000000", "--run-dir", str(tmp_path / "a"), timeout=300)
    assert p.returncode == 1, p.stderr
    assert "runner" in p.stderr and "died" in p.stderr.lower()
    p = run_cli(*args, "--total-steps", "6000", "--restart-actors", "--run-dir", str(tmp_path / "b"), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "restarting it (restart 1)" in p.stderr
    restarts = [float(r["actor_restarts"]) for r in _rows(str(tmp_path / "b"), "metrics.csv")]
    assert max(restarts) >= 1.0
    assert _latest(str(tmp_path / "b"))["counters"]["env_steps"] >= 6000


def test_a_ray_run_resumes_on_the_process_runtime_and_back(cluster, run_dir):
    common = ["--algo", "impala", "--workers", "2", *SMALL, *FAST]
    run_cli("train", *common, "--runtime", "ray", "--ray-address", cluster.address, "--total-steps", "3000",
            "--run-dir", run_dir, check=True, timeout=300)
    first = _latest(run_dir)["counters"]
    run_cli("train", "--resume", run_dir, "--runtime", "actor-learner", "--total-steps", "6000", *FAST, check=True,
            timeout=300)
    second = _latest(run_dir)["counters"]
    assert second["env_steps"] >= 6000 and second["updates"] > first["updates"]
    run_cli("train", "--resume", run_dir, "--runtime", "ray", "--ray-address", cluster.address, "--total-steps",
            "9000", *FAST, check=True, timeout=300)
    assert _latest(run_dir)["counters"]["updates"] > second["updates"]


def test_a_run_without_address_starts_its_own_instance_even_beside_a_cluster(cluster, run_dir):
    # Ray would join a cluster it finds on this machine; without --ray-address asyncrl must not.
    p = run_cli("train", "--algo", "impala", "--runtime", "ray", "--workers", "1", "--total-steps", "2000", *SMALL,
                "--run-dir", run_dir, *FAST, timeout=300)
    assert p.returncode == 0, p.stderr
    assert {float(r["ray_nodes"]) for r in _rows(run_dir, "metrics.csv") if r["ray_nodes"]} == {1.0}
    assert len([n for n in cluster.list_all_nodes() if n.remaining_processes_alive()]) == 2


def test_a_removed_node_ends_the_run_naming_its_runner(run_dir):
    node = dict(num_cpus=1, node_ip_address="127.0.0.1", object_store_memory=150 * 1024**2)
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    proc = None
    try:
        worker = c.add_node(**node)
        c.wait_for_nodes()
        proc = start_cli("train", "--algo", "impala", "--runtime", "ray", "--ray-address", c.address, "--workers", "2",
                         "--total-steps", "100000000", *SMALL, "--run-dir", run_dir, *FAST)
        wait_for_episodes(run_dir, proc, timeout=180)
        c.remove_node(worker)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert re.search(r"runner [01] on node 127\.0\.0\.1 \(\w+\) failed", err) and "died" in err.lower()
        assert time.monotonic() - t0 < 60
        assert os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt"))
    finally:
        if proc is not None:
            proc.kill()
        c.shutdown()
