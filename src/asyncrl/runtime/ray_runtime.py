"""The actor-learner algorithms (impala, appo, a3c-ps) on a Ray cluster: ``--runtime ray``.

Only the transport differs from the process runtime (:mod:`asyncrl.runtime.actor_learner`):

- every env runner is a Ray actor (:class:`EnvRunner`) wrapping the same :class:`~asyncrl.runtime.actor.Actor`
  with a one-slot buffer of its own; one call, ``rollout(weights, version)``, returns a whole rollout as numpy
  arrays (uint8 frame stacks packed to one new frame per step, :mod:`asyncrl.runtime.wire`);
- the same :class:`~asyncrl.runtime.learner.Learner` runs in the driver on the same trajectory slots and slot
  ledger; a returned rollout is copied into the ledger's slot and its reference dropped at once, and a runner
  has one request in flight per slot it owns (``slots_per_actor``), so the object store holds at most
  ``workers x slots_per_actor`` rollouts and the weights of the versions in flight;
- weights: one ``ray.put`` per policy version handed out, passed as a top-level argument (each node fetches it
  once); results are collected with ``ray.wait`` over a map from reference to runner, which also sees a dead
  runner (its call raises).

Faults: a runner that raises, or whose process or node dies, ends the run with exit 1 and the remote traceback
(``error.log`` names its node), or with ``--restart-actors`` is replaced by a new, reseeded runner (counted in
``actor_restarts``). ``--ray-address local`` (the default) starts a private Ray instance bound to 127.0.0.1 and
shuts it down at the end; a cluster joined by address is left running. Ray is imported only here (an optional
dependency: ``pip install "asyncrl[ray]"``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import time
from typing import Any

import numpy as np
import torch

from asyncrl.algos import get_algorithm
from asyncrl.algos.base import gradient_actor
from asyncrl.config import RunConfig, config_json, tree_from_flat
from asyncrl.errors import UsageError
from asyncrl.limits import usable_cores
from asyncrl.nn.build import make_model
from asyncrl.nn.normalize import synced_tensors
from asyncrl.nn.spec import ModelSpec
from asyncrl.runtime.actor import Actor, ActorReport, actor_seed
from asyncrl.runtime.actor_learner import end_run, note_restart
from asyncrl.runtime.learner import Learner, learn_full_slots
from asyncrl.runtime.setup import RunSetup
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots, build_slots
from asyncrl.runtime.stats import StatsWindow, record_report
from asyncrl.runtime.weights import WeightStore
from asyncrl.runtime.wire import pack_frames, payload_bytes, stacked_frames, unpack_frames

RAY_COLUMNS = ["ray_runners", "ray_nodes", "wire_bytes_per_step", "in_flight"]
"""``metrics.csv`` columns of a Ray run: runners, the nodes they run on, what a rollout costs on the wire per env
step, and the rollout requests in flight."""
LOCAL_OBJECT_STORE = 512 * 1024**2
"""Object store of a local instance: rollouts are copied out at once, so this is ample."""
START_TIMEOUT_S = 120.0
"""How long the runners may take to be placed and build their envs."""


LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ray(loopback: bool) -> Any:
    """Import Ray. ``loopback``: this driver talks to a Ray on 127.0.0.1 only (a private local instance, or a
    cluster whose head is on loopback). Ray otherwise rewrites a loopback head address to this machine's
    network address and finds its own node address by routing, so the driver would contact the machine's
    private address; Ray's switch for single-machine use (set before Ray is first imported) keeps it on
    127.0.0.1."""
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise UsageError('--runtime ray needs Ray: pip install "asyncrl[ray]" (or pip install ray)') from None
    return ray


class EnvRunner:
    """One env runner: an :class:`Actor` with its own one-slot buffer and weight store (a plain class; the Ray
    runtime runs it as a Ray actor)."""

    def __init__(self, cfg_json: str, spec_json: str, obs_dtype: str, seed: int):
        torch.set_num_threads(1)
        cfg = tree_from_flat(json.loads(cfg_json))
        algo = get_algorithm(cfg.algo)
        spec = ModelSpec(**json.loads(spec_json))
        model = make_model(spec)
        grad_size = sum(p.numel() for p in model.parameters()) if gradient_actor(algo) is not None else 0
        self.slots = TrajectorySlots(spec, 1, cfg.rollout.n_steps, cfg.rollout.num_envs, getattr(torch, obs_dtype),
                                     grad_size, shared=False)
        self.weights = WeightStore(synced_tensors(model), shared=False)
        self.actor = Actor(cfg, algo, spec, self.slots, self.weights, seed)

    def node(self) -> str:
        """The Ray node this runner runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def rollout(self, weights: np.ndarray, version: int) -> dict[str, Any]:
        """Take ``weights [P]`` (policy ``version``) if newer than what it has, collect one rollout, return it."""
        if version > self.weights.latest_version:
            self.weights.publish_flat(torch.from_numpy(np.asarray(weights)), version)
        rep = self.actor.step(0)
        r = self.slots.rollout(0)
        obs = r.obs.numpy()
        return {
            "obs": pack_frames(obs) if stacked_frames(obs) else obs,
            "first": r.first.numpy(), "actions": r.actions.numpy(), "r_t": r.r_t.numpy(),
            "discount_t": r.discount_t.numpy(),
            "logp": None if r.behaviour_logp is None else r.behaviour_logp.numpy(),
            "returns": None if r.returns is None else r.returns.numpy(),
            "core": None if r.core_state is None else tuple(x.numpy() for x in r.core_state),
            "version": int(self.slots.version[0]),
            "grad": None if self.slots.grads is None else self.slots.grads[0].numpy(),
            "grad_ok": bool(self.slots.grad_ok[0]),
            "report": (rep.env_steps, rep.episodes, rep.stats),
        }


def fill_slot(slots: TrajectorySlots, slot: int, data: dict[str, Any]) -> None:
    """Copy a runner's rollout into the learner's ``slot`` (the arrays from ``ray.get`` are read-only views)."""
    r = slots.rollout(slot)
    obs = data["obs"]
    if isinstance(obs, dict):
        unpack_frames(obs, out=r.obs.numpy())
    else:
        np.copyto(r.obs.numpy(), obs)
    for name in ("first", "actions", "r_t", "discount_t"):
        np.copyto(getattr(r, name).numpy(), data[name])
    if r.behaviour_logp is not None and data["logp"] is not None:
        np.copyto(r.behaviour_logp.numpy(), data["logp"])
    if r.returns is not None and data["returns"] is not None:
        np.copyto(r.returns.numpy(), data["returns"])
    if r.core_state is not None and data["core"] is not None:
        for dst, src in zip(r.core_state, data["core"]):
            np.copyto(dst.numpy(), src)
    slots.version[slot] = data["version"]
    if slots.grads is not None and data["grad"] is not None:
        np.copyto(slots.grads[slot].numpy(), data["grad"])
        slots.grad_ok[slot] = data["grad_ok"]


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line :class:`UsageError` unless something answers at ``HOST:PORT`` within ``timeout`` seconds."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--ray-address {address!r} is not supported (allowed: local, auto, or HOST:PORT of a Ray "
                         f"head, e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"--ray-address {address}: no Ray head answers there ({e.strerror or e}); start one with "
                         f"'ray start --head --port={port}' on that machine") from None


def preflight(cfg: RunConfig) -> None:
    """Before the run dir is written: Ray is installed, and ``--ray-address`` is well formed and answers."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError('--runtime ray needs Ray: pip install "asyncrl[ray]" (or pip install ray)')
    if cfg.runtime.ray_address not in ("local", "auto"):
        check_reachable(cfg.runtime.ray_address)


def connect(ray: Any, cfg: RunConfig) -> None:
    """Start a private local Ray instance (bound to 127.0.0.1) or join the cluster at ``--ray-address``."""
    address = cfg.runtime.ray_address
    paths = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    common: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="error",
                                  runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}})
    if address == "local":
        ray.init(address="local", num_cpus=max(cfg.runtime.workers, usable_cores()),
                 object_store_memory=LOCAL_OBJECT_STORE,
                 _node_ip_address="127.0.0.1", **common)
        return
    try:
        ray.init(address=address, **common)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"--ray-address {address}: cannot join the Ray cluster ({first})") from None


def run_ray(setup: RunSetup) -> None:
    """Run the actor-learner algorithm with env runners on Ray and the learner here (see the module docstring)."""
    address = setup.cfg.runtime.ray_address
    ray = _ray(address == "local" or address.rpartition(":")[0].strip("[]") in LOOPBACK)
    connect(ray, setup.cfg)
    try:
        _run(ray, setup)
    finally:
        ray.shutdown()  # a local instance stops; a joined cluster only loses this driver


def _run(ray: Any, setup: RunSetup) -> None:
    cfg, model, control = setup.cfg, setup.model, setup.control
    c = control.counters
    workers = cfg.runtime.workers
    slots = build_slots(cfg, setup.algo, model, setup.obs_dtype)
    weights = WeightStore(synced_tensors(model))
    learner = Learner(cfg, setup.algo, model, slots, weights, version=c.updates, optimizer_state=setup.optimizer_state,
                      schedule=control.schedule)
    ledger = SlotLedger(workers, cfg.runtime.slots_per_actor)
    window = StatsWindow()
    cfg_json, spec_json = config_json(cfg), control.spec_json
    dtype = str(setup.obs_dtype).removeprefix("torch.")
    Runner = ray.remote(num_cpus=1, max_restarts=0)(EnvRunner)
    runners: list[Any] = [None] * workers
    nodes: list[str] = [""] * workers
    delivered = [0] * workers
    in_flight: dict[Any, tuple[int, int]] = {}  # reference -> (runner, slot)
    published: list[Any] = [None, -2]  # [the latest weights' reference, its version]
    wire = [0, 0]  # bytes and env steps of the rollouts received since the last metrics row

    def weights_ref() -> tuple[Any, int]:
        version = learner.version
        if published[1] != version:  # one put per version handed out
            published[:] = [ray.put(weights.latest()[1].numpy()), version]
        return published[0], version

    def submit(rank: int) -> None:
        for s in ledger.hand_out(rank):
            ref, version = weights_ref()
            in_flight[runners[rank].rollout.remote(ref, version)] = (rank, s)

    def start(rank: int) -> None:
        seed = actor_seed(cfg.run.seed, rank, c.env_steps, window.restarts)
        runners[rank], delivered[rank] = Runner.remote(cfg_json, spec_json, dtype, seed), 0

    def describe(rank: int, error: BaseException) -> str:
        where = f" on node {_node_address(ray, nodes[rank])} ({nodes[rank][:12]})" if nodes[rank] else ""
        text = _ANSI.sub("", str(error)).strip()
        if isinstance(error, ray.exceptions.RayTaskError):
            return f"runner {rank}{where} raised an exception. Remote traceback (most recent call last):\n{text}"
        return f"runner {rank}{where} failed:\n{text}"

    failure: str | None = None
    try:
        for rank in range(workers):
            start(rank)
        failure = _placed(ray, runners, nodes)
        if failure is None:
            for rank in range(workers):
                submit(rank)
        control.extra_progress = lambda: (window.progress(len(ledger.ready))
                                          + f" | ray {workers} runners, {len(set(nodes))} node(s)")
        while failure is None:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.05)
            if ready:
                more, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
                ready = list(dict.fromkeys([*ready, *more]))
            for ref in ready:
                if ref not in in_flight:
                    continue  # (a dead runner's other requests, dropped below)
                rank, slot = in_flight.pop(ref)
                try:
                    data = ray.get(ref)
                except ray.exceptions.RayError as e:
                    desc = describe(rank, e)
                    if not cfg.runtime.restart_actors:
                        failure = desc
                        break
                    if delivered[rank] == 0:  # a start-up failure would only repeat: no restart loop
                        failure = f"{desc}\n(not restarted: it failed before delivering its first rollout)"
                        break
                    for other in [r for r, (k, _) in in_flight.items() if k == rank]:
                        del in_flight[other]
                    ray.kill(runners[rank], no_restart=True)
                    window.restarts += 1
                    note_restart(cfg.run.run_dir, desc, window.restarts)
                    ledger.reclaim(rank)
                    start(rank)
                    failure = _placed(ray, [runners[rank]], nodes, offset=rank)
                    if failure is None:
                        submit(rank)
                    continue
                del ref
                fill_slot(slots, slot, data)
                steps, episodes, stats = data["report"]
                wire[0] += payload_bytes({k: v for k, v in data.items() if k != "report"})
                wire[1] += steps
                del data
                record_report(control, window, rank, ActorReport(steps, episodes, stats))
                ledger.filled(slot)
                delivered[rank] += 1
            ready = []
            if failure is None:
                learn_full_slots(cfg, learner, ledger, window, c, submit)
                if wire[1]:
                    window.add({"ray_runners": float(workers), "ray_nodes": float(len(set(nodes))),
                                "wire_bytes_per_step": wire[0] / wire[1], "in_flight": float(len(in_flight))})
                    wire[:] = [0, 0]
            window.log(control, len(ledger.ready))
            if failure is None and control.tick(learner.model_state, learner.optimizer_state):
                break
    finally:
        in_flight.clear()
        for r in runners:
            if r is not None:
                ray.kill(r, no_restart=True)
        window.log(control, len(ledger.ready), force=True)
    end_run(control, learner, failure)


def _placed(ray: Any, runners: list[Any], nodes: list[str], offset: int = 0) -> str | None:
    """Wait until ``runners`` are up (their envs built); fill ``nodes``. A failure's description, or ``None``."""
    refs = [r.node.remote() for r in runners]
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        done, pending = ray.wait(refs, num_returns=len(refs), timeout=1.0)
        if not pending:
            break
        if time.monotonic() > deadline:
            cpus = ray.cluster_resources().get("CPU", 0)
            return (f"{len(pending)} of {len(refs)} env runners could not start within {START_TIMEOUT_S:.0f} s (the "
                    f"cluster has {cpus:g} CPUs, each runner takes one): use fewer --workers or add nodes")
    for i, ref in enumerate(refs):
        try:
            nodes[offset + i] = ray.get(ref)
        except ray.exceptions.RayError as e:
            return f"runner {offset + i} failed while starting:\n{e}"
    return None


def _node_address(ray: Any, node_id: str) -> str:
    for n in ray.nodes():
        if n.get("NodeID") == node_id:
            return str(n.get("NodeManagerAddress", "?"))
    return "?"
