"""The learner of the actor-learner runtime: consumes batches of trajectory slots, updates its own
model with its own (non-shared) optimizer and publishes versioned weights.

It knows nothing of processes; runtimes call :meth:`Learner.step` with the slot indices in
arrival order and free the slots afterwards. With ``--device cuda`` the learner updates a copy of the
model on the GPU (batches are copied there as uint8 where the observations are frames) and
publishes its weights back to the actors' shared CPU buffers; checkpoints always hold CPU tensors.
Every sample carries the policy version that produced it, so the learner measures the policy lag
(its version minus the sample's) of every batch, and with ``max_policy_lag`` drops the slots that
are too stale.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from asyncrl import limits as L
from asyncrl.algos import get_algorithm
from asyncrl.algos.base import Algorithm, gradient_actor
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import RunConfig, check_batch_size
from asyncrl.core.settings import setting
from asyncrl.errors import UsageError
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.normalize import synced_tensors
from asyncrl.optim.grads import TrainStep, grad_views
from asyncrl.runtime.base import OnDevice, Workers
from asyncrl.runtime.control import TrainingControl
from asyncrl.runtime.loop import apply_gradient, learn
from asyncrl.runtime.schedule import LrSchedule
from asyncrl.runtime.setup import optimizer_for
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots
from asyncrl.runtime.weights import WeightStore


@dataclass(kw_only=True)
class LearnerConfig(Workers, OnDevice):
    """The actor-learner protocol (on this machine or on Ray): slots, batches, policy lag, the learner's device."""

    batch_rollouts: int = setting(1, lo=1, hi=L.MAX_BATCH_SAMPLES)
    """Actor rollouts (of ``n_steps x num_envs`` steps each) per learner update."""
    slots_per_actor: int = setting(2, lo=1, hi=L.MAX_SLOTS)
    """Preallocated trajectory slots per actor; an actor waits for a free one (backpressure), so at most
    ``workers x slots_per_actor`` rollouts are in flight. Unset: enough for the actors to fill the next batch
    while the learner learns from this one (2, or 2 x batch-rollouts / workers where that is more)."""
    max_policy_lag: int = setting(0, lo=0, hi=L.MAX_POLICY_LAG, resume=True)
    """Drop samples produced by a policy more than this many updates old (0: keep all)."""
    restart_actors: bool = setting(False, resume=True, fixed=True)
    """Restart an actor that raises or dies (counted in the logs) instead of ending the run."""


LEARNER_COLUMNS = (
    "dropped_samples",
    "queue_depth",
    "actor_restarts",
    "vtrace/rho_mean",
    "appo/clip_fraction",
    "appo/approx_kl",
)
"""``metrics.csv`` columns of the actor-learner runtimes: samples dropped as too stale (a running total), slots
waiting for the learner, actors restarted. The three algorithm columns after them are IMPALA's and APPO's
``metrics``, kept here so that the column order of run dirs written before runtimes were registered objects
stays the same on resume."""


def check_learner(cfg: RunConfig) -> None:
    """The rules between the learner's section and the others: the batch fits, the slots exist, and an algorithm
    whose actors send gradients learns on the CPU."""
    r = cfg.runtime
    check_batch_size(cfg.rollout.num_envs, cfg.rollout.n_steps, r.batch_rollouts)
    if r.batch_rollouts > r.workers * r.slots_per_actor:
        raise UsageError(
            f"--batch-rollouts {r.batch_rollouts} is more than the {r.workers * r.slots_per_actor} "
            f"slots (--workers x --slots-per-actor) that exist; allowed: 1 to "
            f"{r.workers * r.slots_per_actor}"
        )
    if gradient_actor(get_algorithm(cfg.algo)) is not None and r.device != "cpu":
        raise UsageError(
            f"--device {r.device} does not apply to --algo {cfg.algo}: its learner only applies the "
            f"actors' gradients, on the CPU (allowed: cpu)"
        )


def learner_slots(values: dict[str, Any]) -> dict[str, Any]:
    """``slots_per_actor`` from the batch and the actor count (the runtime's ``derived``): room for two batches,
    the one the learner learns from and the next one the actors fill meanwhile, and at least 2 per actor. With
    fewer, an actor runs out of free slots and waits for the learner, and acting and learning take turns: APPO's
    MuJoCo row (2 rollouts a batch, one actor on 2 cores) stepped Ant-v5 at 3,178 env steps/s with 2 slots and
    5,668 with 4 (BENCHMARKS.md, "Acting while the learner learns")."""
    batch = values.get("batch_rollouts", LearnerConfig.batch_rollouts)
    return {"slots_per_actor": min(L.MAX_SLOTS, max(2, math.ceil(2 * batch / values["workers"])))}


def learner_workers(algo: Algorithm) -> int:
    """Actors by default: one per core, less the learner's (a3c-ps: its learner only applies the actors'
    gradients, so one per core)."""
    cores = L.usable_cores()
    return cores if gradient_actor(algo) is not None else max(1, cores - 1)


def learner_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (cuda when this PyTorch sees a GPU)."""
    if name in (None, "auto"):
        return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_model_state(model: Any) -> dict:
    """``model``'s ``state_dict`` as CPU tensors (the same tensors where it is on the CPU)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def cpu_optimizer_state(optimizer: Any) -> dict:
    """``optimizer``'s ``state_dict`` as CPU tensors."""
    return {
        k: [t.cpu() for t in v] if isinstance(v, list) else v.cpu() if torch.is_tensor(v) else v
        for k, v in optimizer.state_dict().items()
    }


def to_device(batch: Rollout, device: torch.device) -> Rollout:
    """``batch`` with every tensor on ``device`` (dtypes kept: uint8 frames cross as uint8)."""
    if device.type == "cpu":
        return batch

    def mv(t):
        return None if t is None else t.to(device, non_blocking=True)

    core = None if batch.core_state is None else tuple(mv(t) for t in batch.core_state)
    return Rollout(
        mv(batch.obs),
        mv(batch.first),
        mv(batch.actions),
        mv(batch.r_t),
        mv(batch.discount_t),
        core,
        mv(batch.behaviour_logp),
        mv(batch.returns),
        mv(batch.action_mask),
    )


class Learner:
    """Owns the model and the optimizer. ``version`` counts the updates (policy versions) so far.

    ``model`` is updated in place on the CPU; on another device the learner trains a copy, and
    :meth:`model_state` / :meth:`optimizer_state` give CPU tensors for checkpoints.
    """

    def __init__(
        self,
        cfg: RunConfig,
        algo: Algorithm,
        model: PolicyNet,
        slots: TrajectorySlots,
        weights: WeightStore,
        schedule: LrSchedule,
        version: int = 0,
        optimizer_state: dict | None = None,
    ):
        self.device = learner_device(cfg.runtime.device)
        self.schedule = schedule
        if self.device.type != "cpu":
            model = copy.deepcopy(model).to(self.device)
        self.cfg, self.algo, self.model, self.slots, self.weights = cfg, algo, model, slots, weights
        self.params: list[torch.Tensor] = list(model.parameters())
        self.optimizer = optimizer_for(cfg.optim, self.params, shared=False)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.version = version
        self.generator = torch.Generator().manual_seed(cfg.run.seed + 104_729 * version)  # e.g. APPO's minibatches
        self.train_step = TrainStep(self.params, self.optimizer, cfg.optim.max_grad_norm)
        self.gradients_from_actors = gradient_actor(algo) is not None
        """a3c-ps: the slots hold the actors' gradients, applied one by one in arrival order."""
        self.synced = synced_tensors(model)
        """What actors copy: the parameters and the normalisers' statistics."""
        self.weights.publish(self.synced, self.version)

    def model_state(self) -> dict:
        """The model's ``state_dict`` as CPU tensors."""
        return cpu_model_state(self.model)

    def optimizer_state(self) -> dict:
        """The optimizer's state as CPU tensors."""
        return cpu_optimizer_state(self.optimizer)

    def step(self, ids: list[int], env_steps: int) -> dict[str, float]:
        """One update on the slots ``ids`` (their arrival order); ``env_steps`` sets the lr schedule.

        Returns statistics: the losses, ``policy_lag_mean``/``policy_lag_max`` over the batch's
        samples, ``dropped_samples`` (env steps discarded as too stale) and ``skipped_updates``.
        """
        lr = self.schedule(env_steps)
        if self.gradients_from_actors:
            return {"lr": lr, **self._apply_gradients(ids, lr)}
        lags = [self.version - int(self.slots.version[i]) for i in ids]
        keep = [i for i, lag in zip(ids, lags) if not self._too_stale(lag)]
        stats = {
            "policy_lag_mean": sum(lags) / len(lags),
            "policy_lag_max": float(max(lags)),
            "lr": lr,
            "dropped_samples": float((len(ids) - len(keep)) * self.slots.T * self.slots.B),
            "skipped_updates": 0.0,
        }
        if not keep:
            return stats
        batch = to_device(self.slots.batch(keep), self.device)
        stats.update(learn(self.algo, self.model, batch, self.cfg, self.train_step, lr, self.generator))
        self._publish()
        return stats

    def _too_stale(self, lag: int) -> bool:
        return bool(self.cfg.runtime.max_policy_lag) and lag > self.cfg.runtime.max_policy_lag

    def _publish(self) -> None:
        self.version += 1
        self.weights.publish(self.synced, self.version)

    def _apply_gradients(self, ids: list[int], lr: float) -> dict[str, float]:
        skipped, dropped, lags = 0, 0, []
        for i in ids:  # arrival order, one optimizer step and one publication per applied gradient
            lag = self.version - int(self.slots.version[i])  # counts the gradients applied just before
            lags.append(lag)
            if self._too_stale(lag):
                dropped += 1
                continue
            if not bool(self.slots.grad_ok[i]):  # non-finite: skipped, the weights (and version) stay
                skipped += 1
                continue
            assert self.slots.grads is not None
            grads = grad_views(self.slots.grads[i], self.params)
            apply_gradient(self.model, self.slots.rollout(i), self.train_step, grads, lr)
            self._publish()
        return {
            "policy_lag_mean": sum(lags) / len(lags),
            "policy_lag_max": float(max(lags)),
            "dropped_samples": float(dropped * self.slots.T * self.slots.B),
            "skipped_updates": float(skipped),
        }


def learn_full_slots(
    cfg: RunConfig, learner: Learner, ledger: SlotLedger, control: TrainingControl, hand_back: Callable[[int], None]
) -> None:
    """While ``batch_rollouts`` slots are full: one learner update on the oldest of them, then each is
    released and ``hand_back(rank)`` gives its actor the slots it now has free."""
    while len(ledger.ready) >= cfg.runtime.batch_rollouts:
        batch = ledger.take(cfg.runtime.batch_rollouts)
        stats = learner.step(batch, control.counters.env_steps)
        control.counters.updates = learner.version
        control.update_done(stats)
        for s in batch:
            ledger.release(s)
            hand_back(ledger.owner(s))
