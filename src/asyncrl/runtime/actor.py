"""The actor of the actor-learner runtime: steps its envs with the latest published weights and
fills trajectory slots. It knows nothing of processes; runtimes call :meth:`Actor.step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from asyncrl.algos.base import Algorithm, gradient_actor
from asyncrl.core.sections import RunConfig
from asyncrl.nn.build import make_model
from asyncrl.nn.normalize import synced_tensors
from asyncrl.nn.spec import ModelSpec
from asyncrl.runtime.setup import train_collector, train_envs
from asyncrl.runtime.slots import TrajectorySlots
from asyncrl.runtime.weights import WeightStore


@dataclass
class ActorReport:
    """What one :meth:`Actor.step` produced besides the slot's contents."""

    env_steps: int
    episodes: list[tuple[float, int]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def actor_seed(run_seed: int, rank: int, env_steps: int, restarts: int = 0) -> int:
    """Distinct, collision-free seeds per (run seed, actor, resume point, restart)."""
    return int(np.random.SeedSequence([run_seed, rank, env_steps, restarts]).generate_state(1)[0])


class Actor:
    """Owns ``cfg.rollout.num_envs`` envs and a local model; ``step(slot)`` writes one rollout into ``slot``.

    Before each rollout it copies the newest published weights, if any (never waits for them), and
    stamps the slot with their version. For an algorithm whose actors compute the gradients (a3c-ps,
    :class:`~asyncrl.algos.base.ActorGradients`) it also writes the rollout's gradient into the slot.
    """

    def __init__(
        self, cfg: RunConfig, algo: Algorithm, spec: ModelSpec, slots: TrajectorySlots, weights: WeightStore, seed: int
    ):
        torch.manual_seed(seed)
        self.cfg, self.slots, self.weights = cfg, slots, weights
        self.model = make_model(spec)
        self.params: list[torch.Tensor] = synced_tensors(self.model)  # weights and normaliser statistics
        self.version = -1
        self._sync()
        self.venv = train_envs(cfg, seed)
        self.collector = train_collector(cfg, algo, self.venv, self.model, seed)
        self.gradients = gradient_actor(algo)

    def _sync(self) -> None:
        v = self.weights.read_into(self.params, self.version)
        if v is not None:
            self.version = v

    def step(self, slot: int) -> ActorReport:
        self._sync()
        rollout = self.slots.rollout(slot)
        self.collector.collect(rollout)
        self.slots.version[slot] = self.version
        stats: dict[str, float] = {}
        if self.gradients is not None and self.slots.grads is not None:
            ok, stats = self.gradients.actor_gradient(self.model, rollout, self.cfg, self.slots.grads[slot])
            self.slots.grad_ok[slot] = ok
        episodes, self.collector.finished = self.collector.finished, []
        return ActorReport(rollout.num_steps, episodes, stats)

    def close(self) -> None:
        self.venv.close()
