"""The Ray runtime (``--runtime ray``): a private local instance, and a real two-node Ray cluster on this machine;
and its frame-stack path (packed uint8 stacks unpacked into the learner's slot) on an Atari-shaped test env.

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

from asyncrl.config import TrainConfig, resolve
from asyncrl.envs.make import env_spaces
from asyncrl.nn.build import make_model
from asyncrl.nn.normalize import synced_tensors
from asyncrl.nn.spec import spec_from_spaces
from asyncrl.runtime.ray_runtime import CLUSTER_SWITCH, EnvRunner, fill_slot
from asyncrl.runtime.slots import TrajectorySlots
from asyncrl.runtime.wire import payload_bytes
from asyncrl.train import train

from conftest import FAST, assert_env_crash_reported, procs_mentioning, run_cli, start_cli, wait_for_episodes

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

SMALL = ["--num-envs", "4", "--n-steps", "5", "--hidden", "16", "--eval-every", "0"]
FRAMES = "support_envs:StackedFrames"
"""uint8 stacks of 4 84x84 frames (tests/support_envs.py): the frame-stack path of the wire."""
RAY_PROCS = ("raylet", "gcs_server", "ray::")


def _ray_procs() -> set[int]:
    return {p for name in RAY_PROCS for p in procs_mentioning(name)}


def _rows(run_dir: str, name: str) -> list[dict]:
    with open(os.path.join(run_dir, name)) as f:
        return list(csv.DictReader(f))


def _latest(run_dir: str) -> dict:
    return torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)


def _no_new_ray_processes(before: set[int], driver: int | None = None) -> None:
    """No Ray process started since ``before`` is left; with ``driver`` (the trainer's pid), only those of the local
    instance it started count (its session folder ends in the driver's pid), not another test's beside it."""

    def new() -> set[int]:
        procs = _ray_procs() - before
        return procs if driver is None else {p for p in procs if f"_{driver}/" in _cmdline(p)}

    # (30 s of grace: a local instance's raylet and GCS took more than 15 s to exit once, under make test's full
    # load on 2 cores; a leftover is still a failure)
    deadline = time.monotonic() + 30
    while new() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = new()
    assert not left, "left running: " + "; ".join(_cmdline(p) for p in sorted(left))


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        return f"{pid} {cmd[:160]}"
    except OSError:
        return f"{pid} (gone)"


def _ray_and_serial(args: list[str], tmp_path) -> tuple[dict, dict]:
    """The latest checkpoints of ``args`` on one Ray runner and in the serial runtime, which must hold the same
    model, every tensor equal."""
    p = run_cli(*args, "--runtime", "ray", "--run-dir", str(tmp_path / "ray"), timeout=300)
    assert p.returncode == 0, p.stderr
    run_cli(*args, "--serial", "--run-dir", str(tmp_path / "serial"), check=True)
    a, b = _latest(str(tmp_path / "ray")), _latest(str(tmp_path / "serial"))
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    return a, b


# ---- a private local instance (no --ray-address) ---------------------------------------------------------


def test_one_runner_in_lockstep_equals_the_serial_runtime_and_leaves_no_ray_process(tmp_path):
    # One runner, one slot, one rollout per update: it always acts with the newest weights, so the Ray runtime
    # must compute exactly what the serial runtime does; its local Ray instance is gone afterwards. With
    # normalisation on, the runner's rewards are scaled by the published statistics and its returns reach the learner.
    before = _ray_procs()
    args = [
        "train",
        "--algo",
        "impala",
        "--workers",
        "1",
        "--slots-per-actor",
        "1",
        "--batch-rollouts",
        "1",
        "--total-steps",
        "3000",
        "--normalize-obs",
        "--normalize-reward",
        *SMALL,
        *FAST,
    ]
    a, b = _ray_and_serial(args, tmp_path)
    assert a["counters"]["updates"] == b["counters"]["updates"] > 100
    assert float(a["model"]["return_norm.count"]) == a["counters"]["env_steps"]
    rows = _rows(str(tmp_path / "ray"), "metrics.csv")
    assert max(float(r["policy_lag_max"]) for r in rows) == 0.0
    assert {float(r["ray_runners"]) for r in rows if r["ray_runners"]} == {1.0}
    assert all(float(r["in_flight"]) <= 1 for r in rows if r["in_flight"])  # one slot: one request at most
    _no_new_ray_processes(before)


def _env_runner(cfg, spec, seed: int) -> EnvRunner:
    return EnvRunner(cfg, spec, "uint8", seed)


def test_frame_stack_rollouts_reach_the_learners_slot_exactly():
    """An :class:`EnvRunner` on uint8 frame stacks ships them packed (one new frame per step, whole stacks at
    resets); :func:`fill_slot` rebuilds them in the learner's slot, which then equals the runner's own slot in every
    field, rollout after rollout, over slots that held other rollouts before."""
    T, B = 6, 3
    cfg = resolve(
        TrainConfig(algo="impala", env=FRAMES, workers=1, num_envs=B, n_steps=T, seed=0, run_dir="unused"), "discrete"
    )
    torch.manual_seed(0)
    model = make_model(spec_from_spaces(*env_spaces(FRAMES)))
    assert model.spec.torso == "a3c-cnn"
    runner = _env_runner(cfg, model.spec, seed=5)
    slots = TrajectorySlots(model.spec, 2, T, B, torch.uint8, shared=False)
    slots.obs.fill_(7)  # what the learner's slots held before
    weights = torch.cat([t.detach().reshape(-1) for t in synced_tensors(model)]).numpy()
    resets = shipped_whole = 0
    for k in range(8):
        data = runner.rollout(weights, 0)
        obs = data["obs"]
        assert isinstance(obs, dict)  # packed (the dict branch of fill_slot)
        assert payload_bytes(obs) < runner.slots.obs.numel()  # (less than the stacks themselves)
        shipped_whole += len(obs["full_t"])
        fill_slot(slots, k % 2, data)
        got, want = slots.rollout(k % 2), runner.slots.rollout(0)
        for name in ("obs", "first", "actions", "r_t", "discount_t", "behaviour_logp"):
            assert torch.equal(getattr(got, name), getattr(want, name)), (k, name)
        assert int(slots.version[k % 2]) == int(runner.slots.version[0]) == 0
        resets += int(want.first[1:].sum())
        assert len(set(want.obs[:, :, -1].reshape(-1, 84 * 84).sum(1).tolist())) > T  # (frames that differ)
    assert resets >= 4 and shipped_whole == resets  # episodes ended inside the rollouts: those stacks went whole


def test_frame_stacks_over_ray_train_exactly_as_the_serial_runtime(tmp_path):
    """``train`` with one Ray runner in lockstep on uint8 frame stacks learns exactly what the serial runtime does:
    the packed observations reach the learner unchanged, for a wire cost between one frame and one stack a step."""
    before = _ray_procs()
    args = [
        "train",
        "--algo",
        "impala",
        "--env",
        FRAMES,
        "--workers",
        "1",
        "--slots-per-actor",
        "1",
        "--batch-rollouts",
        "1",
        "--num-envs",
        "2",
        "--n-steps",
        "5",
        "--total-steps",
        "300",
        "--eval-every",
        "0",
        *FAST,
    ]
    a, b = _ray_and_serial(args, tmp_path)
    assert a["counters"]["updates"] == b["counters"]["updates"] >= 30
    wire = [
        float(r["wire_bytes_per_step"]) for r in _rows(str(tmp_path / "ray"), "metrics.csv") if r["wire_bytes_per_step"]
    ]
    assert wire and all(84 * 84 < w < 4 * 84 * 84 for w in wire)
    _no_new_ray_processes(before)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_exits_0_and_stops_the_local_instance(sig, run_dir):
    # ray.init installs a SIGTERM handler of its own (sys.exit): asyncrl's must be back in place after it.
    before = _ray_procs()
    proc = start_cli(
        "train",
        "--algo",
        "appo",
        "--runtime",
        "ray",
        "--workers",
        "2",
        "--total-steps",
        "100000000",
        *SMALL,
        "--run-dir",
        run_dir,
        *FAST,
    )
    try:
        wait_for_episodes(run_dir, proc, timeout=180)
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"interrupted ({signal.Signals(sig).name})" in out
    assert _latest(run_dir)["counters"]["env_steps"] > 0
    with open(os.path.join(run_dir, "result.json")) as f:
        assert json.load(f)["stop_reason"] == f"interrupted ({signal.Signals(sig).name})"
    _no_new_ray_processes(before, driver=proc.pid)


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
    assert p.returncode == 2 and "--runtime ray runs --algo impala, appo, a3c-ps" in p.stderr
    p = run_cli("train", "--algo", "impala", "--ray-address", "auto", "--run-dir", run_dir)
    assert p.returncode == 2 and "--ray-address does not apply to --algo impala on --runtime actor-learner" in p.stderr


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
    p = run_cli(
        "train",
        "--algo",
        algo,
        "--runtime",
        "ray",
        "--ray-address",
        cluster.address,
        "--workers",
        "2",
        "--target-return",
        "195",
        "--total-steps",
        "600000",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        timeout=600,
    )
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


def test_a_raising_runner_ends_the_run_with_one_line_and_its_remote_traceback_and_node_in_error_log(cluster, run_dir):
    p = run_cli(
        "train",
        "--algo",
        "impala",
        "--runtime",
        "ray",
        "--ray-address",
        cluster.address,
        "--workers",
        "2",
        "--env",
        "support_envs:CrashingCartPole",
        "--total-steps",
        "10000000",
        *SMALL,
        "--run-dir",
        run_dir,
        *FAST,
        timeout=300,
    )
    assert p.returncode == 1, p.stderr
    assert_env_crash_reported(p.stderr, run_dir, "runner")  # (the file and line on the runner's machine)
    log = open(os.path.join(run_dir, "error.log")).read()
    assert "on node 127.0.0.1" in log and 'support_envs.py", line' in log
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt"))


def test_a_dead_runner_process_ends_the_run_or_is_restarted(cluster, tmp_path):
    args = [
        "train",
        "--algo",
        "appo",
        "--runtime",
        "ray",
        "--ray-address",
        cluster.address,
        "--workers",
        "2",
        "--env",
        "support_envs:ExitingCartPole",
        *SMALL,
        *FAST,
    ]
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
    run_cli(
        "train",
        *common,
        "--runtime",
        "ray",
        "--ray-address",
        cluster.address,
        "--total-steps",
        "3000",
        "--run-dir",
        run_dir,
        check=True,
        timeout=300,
    )
    first = _latest(run_dir)["counters"]
    run_cli(
        "train",
        "--resume",
        run_dir,
        "--runtime",
        "actor-learner",
        "--total-steps",
        "6000",
        *FAST,
        check=True,
        timeout=300,
    )
    second = _latest(run_dir)["counters"]
    assert second["env_steps"] >= 6000 and second["updates"] > first["updates"]
    run_cli(
        "train",
        "--resume",
        run_dir,
        "--runtime",
        "ray",
        "--ray-address",
        cluster.address,
        "--total-steps",
        "9000",
        *FAST,
        check=True,
        timeout=300,
    )
    assert _latest(run_dir)["counters"]["updates"] > second["updates"]


def test_a_run_without_address_starts_its_own_instance_even_beside_a_cluster(cluster, run_dir):
    # Ray would join a cluster it finds on this machine; without --ray-address asyncrl must not.
    p = run_cli(
        "train",
        "--algo",
        "impala",
        "--runtime",
        "ray",
        "--workers",
        "1",
        "--total-steps",
        "2000",
        *SMALL,
        "--run-dir",
        run_dir,
        *FAST,
        timeout=300,
    )
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
        proc = start_cli(
            "train",
            "--algo",
            "impala",
            "--runtime",
            "ray",
            "--ray-address",
            c.address,
            "--workers",
            "2",
            "--total-steps",
            "100000000",
            *SMALL,
            "--run-dir",
            run_dir,
            *FAST,
        )
        wait_for_episodes(run_dir, proc, timeout=180, workers=2)  # (both runners placed and rolling out)
        c.remove_node(worker)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert re.search(r"runner [01] on node 127\.0\.0\.1 \(\w+\) failed", err), err  # (one line; the story:)
        assert "died" in open(os.path.join(run_dir, "error.log")).read().lower()
        assert time.monotonic() - t0 < 60
        assert os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt"))
    finally:
        if proc is not None:
            proc.kill()
        c.shutdown()


# ---- no wait without a way out ------------------------------------------------------------------------------


def _one_cpu_cluster(nodes: int) -> Cluster:
    node = dict(num_cpus=1, node_ip_address="127.0.0.1", object_store_memory=150 * 1024**2)
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    for _ in range(nodes - 1):
        c.add_node(**node)
    c.wait_for_nodes()
    return c


def _wait_for_text(path: str, text: str, proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.exists(path) and text in open(path).read():
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_a_runner_that_cannot_be_placed_is_given_up_and_the_run_goes_on(run_dir):
    c = _one_cpu_cluster(1)  # one CPU: the second runner never finds one
    args = [
        "train",
        "--algo",
        "impala",
        "--runtime",
        "ray",
        "--ray-address",
        c.address,
        "--workers",
        "2",
        "--ray-start-timeout",
        "10",
        "--total-steps",
        "100000000",
        *SMALL,
        *FAST,
    ]
    try:
        p = run_cli(*args, "--max-seconds", "20", "--run-dir", run_dir, timeout=300)
        assert p.returncode == 0, p.stderr
        assert re.search(
            r"runner [01] could not be placed within 10 s \(the cluster has 0 free CPUs, each runner "
            r"takes one\); given up, going on with 1 actor\(s\)",
            p.stderr,
        ), p.stderr
        assert "time budget reached" in p.stdout
        runners = [float(r["ray_runners"]) for r in _rows(run_dir, "metrics.csv") if r["ray_runners"]]
        assert runners[-1] == 1.0  # (2 while the second one was waiting)
        # Too few runners left to fill a batch: the run ends with one line and exit 1.
        p = run_cli(*args, "--slots-per-actor", "1", "--batch-rollouts", "2", "--run-dir", run_dir + "-2", timeout=300)
        assert (
            p.returncode == 1 and "the run cannot go on (1 actor(s) with 1 slot(s) left, a batch takes 2)" in p.stderr
        ), p.stderr
    finally:
        c.shutdown()


def test_sigint_ends_a_run_whose_replacement_runner_waits_for_a_killed_node(run_dir):
    # Two one-CPU nodes, a runner on each; SIGKILL the second node's raylet: its runner dies, the replacement
    # can never be placed (no free CPU), and SIGINT must still end the run within seconds, saved, exit 0.
    c = _one_cpu_cluster(2)
    proc = None
    try:
        worker = [n for n in c.list_all_nodes() if not n.head][0]
        proc = start_cli(
            "train",
            "--algo",
            "impala",
            "--runtime",
            "ray",
            "--ray-address",
            c.address,
            "--workers",
            "2",
            "--restart-actors",
            "--total-steps",
            "100000000",
            *SMALL,
            "--run-dir",
            run_dir,
            *FAST,
        )
        wait_for_episodes(run_dir, proc, timeout=180, workers=2)  # (a runner killed before its first rollout
        for info in worker.all_processes["raylet"]:  # is not restarted: it may be the one that cannot start)
            info.process.kill()
        _wait_for_text(os.path.join(run_dir, "error.log"), "restart 1:", proc, timeout=120)
        time.sleep(2)  # (the replacement is waiting for a CPU now)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 30
        assert proc.returncode == 0, err
        assert "interrupted (SIGINT)" in out and "restarting it (restart 1)" in err
        assert _latest(run_dir)["counters"]["env_steps"] > 0
    finally:
        if proc is not None:
            proc.kill()
        c.shutdown()


# ---- weights at the start of a request, and the caller's environment --------------------------------------


def test_a_queued_request_acts_with_the_weights_sent_while_it_waited():
    # A runner's weights arrive in a concurrency group of their own, while a rollout runs: the request waiting
    # behind it starts with them, not with the weights of its submission (as a process actor reads the newest).
    cfg = resolve(
        TrainConfig(algo="impala", workers=1, num_envs=1, n_steps=20_000, hidden=[8], run_dir="unused"), "discrete"
    )
    model = make_model(spec_from_spaces(*env_spaces("CartPole-v1"), hidden=[8]))
    flat = [torch.cat([t.detach().reshape(-1) for t in synced_tensors(model)]).numpy() + k for k in (0, 1)]
    ray.init(address="local", num_cpus=1, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    try:
        runner = ray.remote(num_cpus=1, concurrency_groups={"weights": 1})(EnvRunner).remote(
            cfg, model.spec, "float32", 1
        )
        ray.get(runner.node.remote())  # (built)
        first = runner.rollout.remote(flat[0], 0)  # a long rollout (20,000 steps)
        time.sleep(0.5)  # (running now)
        waiting = runner.rollout.remote(flat[0], 0)  # submitted with version 0, queued behind it
        ray.get(runner.take_weights.options(concurrency_group="weights").remote(flat[1], 1))
        assert not ray.wait([first], timeout=0)[0]  # (they arrived while the first rollout ran)
        assert ray.get(first)["version"] == 0 and ray.get(waiting)["version"] == 1
        assert ray.get(runner.rollout.remote(flat[0], 0))["version"] == 1  # never back to an older version
    finally:
        ray.shutdown()


def test_a_local_ray_run_leaves_the_callers_environment_as_it_was(tmp_path):
    os.environ.pop(CLUSTER_SWITCH, None)
    train(
        TrainConfig(
            algo="impala",
            runtime="ray",
            workers=1,
            total_steps=500,
            num_envs=2,
            n_steps=5,
            hidden=[8],
            eval_every=0,
            tensorboard=False,
            progress=False,
            run_dir=str(tmp_path / "run"),
        )
    )
    assert CLUSTER_SWITCH not in os.environ


def test_envpool_runners_train_pong_on_ray(tmp_path):
    # --vector-env envpool on the Ray runtime: each runner steps its games in its own EnvPool (a private instance)
    pytest.importorskip("envpool", reason="the envpool extra is not installed (pip install -e '.[envpool]')")
    pytest.importorskip("ale_py", reason="the atari extra is not installed (pip install -e '.[atari]')")
    run_dir = str(tmp_path / "run")
    args = ["--algo", "impala", "--env", "PongNoFrameskip-v4", "--vector-env", "envpool", "--workers", "1"]
    p = run_cli("train", *args, "--runtime", "ray", "--num-envs", "1", "--n-steps", "5", "--total-steps", "1200",
                "--eval-every", "0", "--noop-max", "0", "--run-dir", run_dir, *FAST, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    games = _rows(run_dir, "episodes.csv")
    assert games and all(int(g["episode_length"]) > 700 for g in games)  # whole Pong games, from the runner's pool


@pytest.mark.parametrize("env", ["OffsetKnobs", "MaskedChoice"])
def test_multidiscrete_actions_and_action_masks_cross_the_wire(env, tmp_path):
    # OffsetKnobs: [T, B, F] actions (the env asserts each factor's range, from its start of 1); MaskedChoice: the
    # runners act with masks and the learner learns with them (-1 for a forbidden action: never taken). A private
    # local instance: the runner's rollouts cross the same wire.
    run_dir = str(tmp_path / "run")
    p = run_cli("train", "--algo", "appo", "--runtime", "ray", "--workers", "1",
                "--env", f"support_envs:{env}", "--total-steps", "3000", *SMALL, "--run-dir", run_dir, *FAST,
                timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert _latest(run_dir)["counters"]["env_steps"] >= 3000
    assert min(float(r["episode_return"]) for r in _rows(run_dir, "episodes.csv")) >= 0.0


def test_dict_observations_cross_the_wire(tmp_path):
    run_dir = str(tmp_path / "run")
    p = run_cli("train", "--algo", "impala", "--runtime", "ray", "--workers", "1",
                "--env", "support_envs:ImageAndVector", "--total-steps", "2000", "--num-envs", "4", "--n-steps", "5",
                "--eval-every", "0", "--run-dir", run_dir, *FAST, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert _latest(run_dir)["counters"]["env_steps"] >= 2000
