"""The actor-learner algorithms (impala, appo, a3c-ps) on a Ray cluster: ``--runtime ray``.

Only the transport differs from the process runtime (:mod:`asyncrl.runtime.actor_learner`):

- every env runner is a Ray actor (:class:`EnvRunner`) wrapping the same :class:`~asyncrl.runtime.actor.Actor`
  with a one-slot buffer of its own; one call, ``rollout()``, returns a whole rollout as numpy arrays (uint8
  frame stacks packed to one new frame per step, :mod:`asyncrl.runtime.wire`);
- the same :class:`~asyncrl.runtime.learner.Learner` runs in the driver on the same trajectory slots and slot
  ledger; a returned rollout is copied into the ledger's slot and its reference dropped at once, and a runner
  has one request in flight per slot it owns (``slots_per_actor``), so the object store holds at most
  ``workers x slots_per_actor`` rollouts and the weights of the versions in flight;
- weights: one ``ray.put`` per policy version handed out, passed with each request and also sent to the runners
  that have a request waiting behind the running one (:meth:`EnvRunner.take_weights`, in a concurrency group of
  its own), so a queued request acts with the weights current at its start, as a process actor does, not those
  of its submission.

Faults: a runner that raises, or whose process or node dies, ends the run with exit 1 and the remote traceback
(``error.log`` names its node), or with ``--restart-actors`` is replaced by a new, reseeded runner (counted in
``actor_restarts``), as :class:`~asyncrl.runtime.pool.ActorPool` decides. A runner that cannot be placed
within ``--ray-start-timeout`` seconds (no free CPU left, e.g. after a node died) is given up with one line and
the run goes on with the others, or ends with exit 1 when too few are left to fill a batch. No wait blocks the
driver's loop: SIGINT and SIGTERM end a run within seconds in every state. ``ray.init`` installs a SIGTERM
handler of its own; asyncrl's are put back right after it.

``--ray-address local`` (the default) starts a private Ray instance bound to 127.0.0.1 and shuts it down at the
end; a cluster joined by address is left running. Ray is imported only here (an optional dependency:
``pip install "asyncrl[ray]"``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from asyncrl.algos import get_algorithm
from asyncrl.algos.base import gradient_actor
from asyncrl.core.sections import RunConfig
from asyncrl.core.settings import setting
from asyncrl.errors import UsageError
from asyncrl.limits import usable_cores
from asyncrl.nn.build import make_model
from asyncrl.nn.normalize import synced_tensors
from asyncrl.nn.spec import ModelSpec
from asyncrl.runtime.actor import Actor, ActorReport
from asyncrl.runtime.actor_learner import end_run, progress
from asyncrl.runtime.base import Runtime, register_runtime
from asyncrl.runtime.learner import (
    LEARNER_COLUMNS,
    Learner,
    LearnerConfig,
    check_learner,
    learn_full_slots,
    learner_slots,
    learner_workers,
)
from asyncrl.runtime.pool import ActorPool
from asyncrl.runtime.setup import RunSetup
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots, build_slots
from asyncrl.runtime.weights import WeightStore
from asyncrl.runtime.wire import pack_frames, payload_bytes, stacked_frames, unpack_frames


@dataclass(kw_only=True)
class RayConfig(LearnerConfig):
    """Env runners as Ray actors on a cluster (or a private local instance) and the learner in this process."""

    ray_address: str = setting("local", resume=True)
    """The cluster to join: ``auto`` (the one ``ray start`` runs on this machine) or ``HOST:PORT`` of its head;
    ``local`` (the default) starts a private Ray instance on this machine, bound to 127.0.0.1 and shut down at the
    end."""
    ray_start_timeout: float = setting(120.0, lo=0.0, lo_open=True, resume=True)
    """Seconds an env runner may take to be placed on a node and build its envs; one that takes longer (no free
    CPU left, e.g. after a node died) is given up and the run goes on with the others."""


RAY_COLUMNS = ("ray_runners", "ray_nodes", "wire_bytes_per_step", "in_flight")
"""``metrics.csv`` columns of a Ray run: runners, the nodes they run on, what a rollout costs on the wire per env
step, and the rollout requests in flight."""
LOCAL_OBJECT_STORE = 512 * 1024**2
"""Object store of a local instance: rollouts are copied out at once, so this is ample."""


LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ray(loopback: bool) -> Any:
    """Import Ray. ``loopback``: this driver talks to a Ray on 127.0.0.1 only (a private local instance, or a
    cluster whose head is on loopback). Ray otherwise rewrites a loopback head address to this machine's
    network address and finds its own node address by routing, so the driver would contact the machine's
    private address; Ray's switch for single-machine use (set before Ray is first imported) keeps it on
    127.0.0.1."""
    if loopback and "ray" not in sys.modules:
        os.environ.setdefault(CLUSTER_SWITCH, "0")  # (taken out again when the run ends: see run_ray)
    try:
        import ray
    except ImportError:
        raise UsageError('--runtime ray needs Ray: pip install "asyncrl[ray]" (or pip install ray)') from None
    return ray


CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class EnvRunner:
    """One env runner: an :class:`Actor` with its own one-slot buffer and weight store (a plain class; the Ray
    runtime runs it as a Ray actor whose :meth:`take_weights` runs in a concurrency group of its own, so newer
    weights reach it while a rollout runs and the next rollout starts with them)."""

    def __init__(self, cfg: RunConfig, spec: ModelSpec, obs_dtype: str, seed: int):
        torch.set_num_threads(1)
        algo = get_algorithm(cfg.algo)
        self._publishing = threading.Lock()  # (one writer at a time: the rollout's thread or take_weights')
        model = make_model(spec)
        grad_size = sum(p.numel() for p in model.parameters()) if gradient_actor(algo) is not None else 0
        self.slots = TrajectorySlots(
            spec, 1, cfg.rollout.n_steps, cfg.rollout.num_envs, getattr(torch, obs_dtype), grad_size, shared=False
        )
        self.weights = WeightStore(synced_tensors(model), shared=False)
        self.actor = Actor(cfg, algo, spec, self.slots, self.weights, seed)

    def node(self) -> str:
        """The Ray node this runner runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def take_weights(self, weights: np.ndarray, version: int) -> None:
        """Keep ``weights [P]`` of policy ``version`` for the next rollout if they are newer than what it has."""
        with self._publishing:
            if version > self.weights.latest_version:
                self.weights.publish_flat(torch.from_numpy(np.array(weights, np.float32)), version)  # (writable)

    def rollout(self, weights: np.ndarray, version: int) -> dict[str, Any]:
        """Take ``weights [P]`` (policy ``version``) if newer than what it has, collect one rollout, return it."""
        self.take_weights(weights, version)
        rep = self.actor.step(0)
        r = self.slots.rollout(0)
        obs = r.obs.numpy()
        return {
            "obs": pack_frames(obs) if stacked_frames(obs) else obs,
            "first": r.first.numpy(),
            "actions": r.actions.numpy(),
            "r_t": r.r_t.numpy(),
            "discount_t": r.discount_t.numpy(),
            "logp": None if r.behaviour_logp is None else r.behaviour_logp.numpy(),
            "returns": None if r.returns is None else r.returns.numpy(),
            "action_mask": None if r.action_mask is None else r.action_mask.numpy(),
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
    if r.action_mask is not None and data["action_mask"] is not None:
        np.copyto(r.action_mask.numpy(), data["action_mask"])
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
        raise UsageError(
            f"--ray-address {address!r} is not supported (allowed: local, auto, or HOST:PORT of a Ray "
            f"head, e.g. 10.0.0.5:6379)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(
            f"--ray-address {address}: no Ray head answers there ({e.strerror or e}); start one with "
            f"'ray start --head --port={port}' on that machine"
        ) from None


def preflight(cfg: RunConfig) -> None:
    """Before the run dir is written: Ray is installed, and ``--ray-address`` is well formed and answers."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError('--runtime ray needs Ray: pip install "asyncrl[ray]" (or pip install ray)')
    if cfg.runtime.ray_address not in ("local", "auto"):
        check_reachable(cfg.runtime.ray_address)


def connect(ray: Any, cfg: RunConfig) -> None:
    """Start a private local Ray instance (bound to 127.0.0.1) or join the cluster at ``--ray-address``; the
    SIGINT and SIGTERM handlers in place before (asyncrl's) are put back after ``ray.init``, which replaces them."""
    address = cfg.runtime.ray_address
    paths = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    common: dict[str, Any] = dict(
        include_dashboard=False,
        log_to_driver=False,
        logging_level="error",
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if address == "local":
            ray.init(
                address="local",
                num_cpus=max(cfg.runtime.workers, usable_cores()),
                object_store_memory=LOCAL_OBJECT_STORE,
                _node_ip_address="127.0.0.1",
                **common,
            )
            return
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"--ray-address {address}: cannot join the Ray cluster ({first})") from None
    finally:
        for sig, handler in handlers.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                try:
                    signal.signal(sig, handler)
                except ValueError:  # not the main thread: Ray could not install its own either
                    pass


def run_ray(setup: RunSetup) -> None:
    """Run the actor-learner algorithm with env runners on Ray and the learner here (see the module docstring)."""
    address = setup.cfg.runtime.ray_address
    switch_before = os.environ.get(CLUSTER_SWITCH)
    ray = _ray(address == "local" or address.rpartition(":")[0].strip("[]") in LOOPBACK)
    try:
        connect(ray, setup.cfg)
        try:
            _run(ray, setup)
        finally:
            _shutdown(ray)  # a local instance stops; a joined cluster only loses this driver
    finally:
        if switch_before is None:
            os.environ.pop(CLUSTER_SWITCH, None)  # (the caller's environment as it was)


def _shutdown(ray: Any) -> None:
    """``ray.shutdown``, waiting until a local instance's raylet, GCS and helpers have exited (so that a run ended
    by a signal leaves no Ray process behind once it has exited itself; Rays before ``wait_for_processes`` do not
    wait)."""
    try:
        ray.shutdown(wait_for_processes=True)
    except TypeError:
        ray.shutdown()


class _RayRunners:
    """The transport: one Ray actor per env runner, its requests in flight and its placement."""

    def __init__(self, ray: Any, setup: RunSetup, learner: Learner, ledger: SlotLedger):
        self.ray, self.cfg, self.learner, self.ledger = ray, setup.cfg, learner, ledger
        n = setup.cfg.runtime.workers
        self.runners: list[Any] = [None] * n
        self.nodes = [""] * n
        self.placing: dict[Any, tuple[int, float]] = {}  # node() reference -> (rank, deadline)
        self.in_flight: dict[Any, tuple[int, int]] = {}  # rollout reference -> (rank, slot)
        self.published: tuple[Any, int] = (None, -2)  # the newest weights put in the object store, their version
        self.wire = [0, 0]  # bytes and env steps of the rollouts received since the last metrics row
        self.live: list[int] = list(range(n))
        """The runners in the run (:attr:`ActorPool.live`)."""
        self._Runner = ray.remote(num_cpus=1, max_restarts=0, concurrency_groups={"weights": 1})(EnvRunner)
        self._args = (setup.cfg, setup.model.spec, str(setup.obs_dtype).removeprefix("torch."))

    def start(self, rank: int, seed: int) -> None:
        """Create runner ``rank``; it gets its slots once it is placed (:meth:`poll`)."""
        if self.runners[rank] is not None:
            self.drop(rank)
        self.runners[rank] = self._Runner.remote(*self._args, seed)
        self.placing[self.runners[rank].node.remote()] = (rank, time.monotonic() + self.cfg.runtime.ray_start_timeout)

    def drop(self, rank: int) -> None:
        """Forget runner ``rank``'s requests and end its actor."""
        for ref in [r for r, (k, _) in self.in_flight.items() if k == rank]:
            del self.in_flight[ref]
        for ref in [r for r, (k, _) in self.placing.items() if k == rank]:
            del self.placing[ref]
        self.ray.kill(self.runners[rank], no_restart=True)

    def submit(self, rank: int) -> None:
        """One request per free slot of runner ``rank`` with the newest weights. A new version is put in the object
        store once and also sent to the runners that have a request waiting behind the running one, so that the
        waiting request starts with it (not with the weights of its submission)."""
        if rank not in self.live:
            return  # (a runner given up: its slots stay idle)
        if self.published[1] != self.learner.version:  # one put per version handed out
            self.published = (self.ray.put(self.learner.weights.latest()[1].numpy()), self.learner.version)
            waiting = [r for r, n in Counter(k for k, _ in self.in_flight.values()).items() if n > 1 and r != rank]
            for r in waiting:
                self.runners[r].take_weights.options(concurrency_group="weights").remote(*self.published)
        for s in self.ledger.hand_out(rank):
            self.in_flight[self.runners[rank].rollout.remote(*self.published)] = (rank, s)

    def describe(self, rank: int, error: BaseException) -> str:
        node = self.nodes[rank]
        where = f" on node {_node_address(self.ray, node)} ({node[:12]})" if node else ""
        text = _ANSI.sub("", str(error)).strip()
        if isinstance(error, self.ray.exceptions.RayTaskError):
            return f"runner {rank}{where} raised an exception:\n{text}"
        return f"runner {rank}{where} failed:\n{text}"

    def close(self) -> None:
        self.in_flight.clear()
        self.placing.clear()
        for r in self.runners:
            if r is not None:
                self.ray.kill(r, no_restart=True)


def _run(ray: Any, setup: RunSetup) -> None:
    cfg, model, control = setup.cfg, setup.model, setup.control
    slots = build_slots(cfg, setup.algo, model, setup.obs_dtype)
    learner = Learner(
        cfg,
        setup.algo,
        model,
        slots,
        WeightStore(synced_tensors(model)),
        control.schedule,
        version=control.counters.updates,
        optimizer_state=setup.optimizer_state,
    )
    ledger = SlotLedger(cfg.runtime.workers, cfg.runtime.slots_per_actor)
    runners = _RayRunners(ray, setup, learner, ledger)
    pool = ActorPool(
        control,
        ledger,
        control.window,
        cfg.runtime.workers,
        cfg.runtime.restart_actors,
        cfg.runtime.batch_rollouts,
        runners.start,
    )
    runners.live = pool.live
    control.gauges = lambda: {
        **pool.gauges(),
        "in_flight": float(len(runners.in_flight)),
        "ray_runners": float(len(pool.live)),
        "ray_nodes": float(len(set(runners.nodes))),
    }
    control.extra_progress = lambda: (
        progress(control, len(ledger.ready)) + f" | ray {len(pool.live)} runners, {len(set(runners.nodes))} node(s)"
    )
    failure: str | None = None
    try:
        for rank in range(cfg.runtime.workers):
            pool.start(rank)
        while failure is None:
            failure = _serve(runners, pool, slots)
            if failure is None:
                learn_full_slots(cfg, learner, ledger, control, runners.submit)
                if runners.wire[1]:
                    control.window.add({"wire_bytes_per_step": runners.wire[0] / runners.wire[1]})
                    runners.wire[:] = [0, 0]
                if control.tick(learner.model_state, learner.optimizer_state):
                    break
    finally:
        runners.close()
    end_run(control, learner, failure)


def _serve(runners: _RayRunners, pool: ActorPool, slots: TrajectorySlots) -> str | None:
    """Wait up to 50 ms for a rollout or a placement; take what arrived: the run's failure, or ``None``."""
    ray = runners.ray
    refs = [*runners.in_flight, *runners.placing]
    if not refs:
        time.sleep(0.05)
    ready, _ = ray.wait(refs, num_returns=1, timeout=0.05) if refs else ([], [])
    if ready:
        ready = list(dict.fromkeys([*ready, *ray.wait(refs, num_returns=len(refs), timeout=0)[0]]))
    for ref in ready:
        if ref in runners.placing:
            rank, _ = runners.placing.pop(ref)
            failure = _placed(runners, pool, rank, ref)
        elif ref in runners.in_flight:  # (else a dead runner's other request, dropped)
            failure = _received(runners, pool, slots, ref)
        else:
            continue
        if failure is not None:
            return failure
    return _overdue(runners, pool)


def _placed(runners: _RayRunners, pool: ActorPool, rank: int, ref: Any) -> str | None:
    try:
        runners.nodes[rank] = runners.ray.get(ref)
    except runners.ray.exceptions.RayError as e:
        return f"runner {rank} failed while starting:\n{e}"
    runners.submit(rank)
    return None


def _received(runners: _RayRunners, pool: ActorPool, slots: TrajectorySlots, ref: Any) -> str | None:
    rank, slot = runners.in_flight.pop(ref)
    try:
        data = runners.ray.get(ref)
    except runners.ray.exceptions.RayError as e:
        return pool.failed(rank, runners.describe(rank, e))  # (a restart drops the old runner's other requests)
    fill_slot(slots, slot, data)
    steps, episodes, stats = data["report"]
    runners.wire[0] += payload_bytes({k: v for k, v in data.items() if k != "report"})
    runners.wire[1] += steps
    pool.report(rank, slot, ActorReport(steps, episodes, stats))
    return None


def _overdue(runners: _RayRunners, pool: ActorPool) -> str | None:
    """Give up the runners not placed by their deadline."""
    now = time.monotonic()
    for rank, deadline in list(runners.placing.values()):
        if now < deadline:
            continue
        runners.drop(rank)
        cpus = runners.ray.available_resources().get("CPU", 0)
        why = (
            f"runner {rank} could not be placed within {runners.cfg.runtime.ray_start_timeout:g} s (the cluster "
            f"has {cpus:g} free CPUs, each runner takes one)"
        )
        if (failure := pool.give_up(rank, why)) is not None:
            return failure
    return None


def _node_address(ray: Any, node_id: str) -> str:
    for n in ray.nodes():
        if n.get("NodeID") == node_id:
            return str(n.get("NodeManagerAddress", "?"))
    return "?"


register_runtime(
    Runtime(
        "ray",
        RayConfig,
        run_ray,
        about="env runners on a Ray cluster, the learner here (IMPALA, APPO, a3c-ps across machines)",
        default_workers=learner_workers,
        derived=learner_slots,
        check=check_learner,
        preflight=preflight,
        metrics=(*LEARNER_COLUMNS, *RAY_COLUMNS),
        resumes=("actor-learner",),
    )
)
