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

import torch

from asyncrl.algos.a3c_ps import grad_views
from asyncrl.algos.base import Algorithm, gradient_actor
from asyncrl.config import RunConfig
from asyncrl.core.batch import Rollout
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.normalize import observe_rollout, synced_tensors
from asyncrl.optim.grads import TrainStep
from asyncrl.runtime.control import NonFiniteGuard
from asyncrl.runtime.schedule import LrSchedule
from asyncrl.runtime.setup import optimizer_for
from asyncrl.runtime.slots import SlotLedger, TrajectorySlots
from asyncrl.runtime.stats import StatsWindow
from asyncrl.runtime.weights import WeightStore


def learner_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (cuda when this PyTorch sees a GPU)."""
    if name in (None, "auto"):
        return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_device(batch: Rollout, device: torch.device) -> Rollout:
    """``batch`` with every tensor on ``device`` (dtypes kept: uint8 frames cross as uint8)."""
    if device.type == "cpu":
        return batch

    def mv(t):
        return None if t is None else t.to(device, non_blocking=True)

    core = None if batch.core_state is None else tuple(mv(t) for t in batch.core_state)
    return Rollout(mv(batch.obs), mv(batch.first), mv(batch.actions), mv(batch.r_t), mv(batch.discount_t), core,
                   mv(batch.behaviour_logp), mv(batch.returns))


class Learner:
    """Owns the model and the optimizer. ``version`` counts the updates (policy versions) so far.

    ``model`` is updated in place on the CPU; on another device the learner trains a copy, and
    :meth:`model_state` / :meth:`optimizer_state` give CPU tensors for checkpoints.
    """

    def __init__(self, cfg: RunConfig, algo: Algorithm, model: PolicyNet, slots: TrajectorySlots,
                 weights: WeightStore, version: int = 0, optimizer_state: dict | None = None,
                 schedule: LrSchedule | None = None):
        self.device = learner_device(cfg.runtime.device)
        self.schedule = schedule or LrSchedule(cfg.optim.lr, cfg.optim.lr_schedule, cfg.run.total_steps)
        self.guard = NonFiniteGuard()
        """The runtime feeds it each update's ``skipped_updates``; it ends a run that can no longer learn."""
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
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def optimizer_state(self) -> dict:
        """The optimizer's state as CPU tensors."""
        return {k: [t.cpu() for t in v] if isinstance(v, list) else v.cpu() if torch.is_tensor(v) else v
                for k, v in self.optimizer.state_dict().items()}

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
        stats = {"policy_lag_mean": sum(lags) / len(lags), "policy_lag_max": float(max(lags)), "lr": lr,
                 "dropped_samples": float((len(ids) - len(keep)) * self.slots.T * self.slots.B),
                 "skipped_updates": 0.0}
        if not keep:
            return stats
        self.train_step.lr = lr
        batch = to_device(self.slots.batch(keep), self.device)
        stats.update(self.algo.update(self.model, batch, self.cfg, self.train_step, self.generator))
        observe_rollout(self.model, batch)  # after the update: the loss saw the statistics the actors acted with
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
            self.optimizer.step(self.params, grad_views(self.slots.grads[i], self.params), lr)
            observe_rollout(self.model, self.slots.rollout(i))
            self._publish()
        return {"policy_lag_mean": sum(lags) / len(lags), "policy_lag_max": float(max(lags)),
                "dropped_samples": float(dropped * self.slots.T * self.slots.B), "skipped_updates": float(skipped)}


def learn_full_slots(cfg: RunConfig, learner: Learner, ledger: SlotLedger, window: StatsWindow,
                     counters, hand_back) -> None:
    """While ``batch_rollouts`` slots are full: one learner update on the oldest of them, then each is
    released and ``hand_back(rank)`` gives its actor the slots it now has free."""
    while len(ledger.ready) >= cfg.runtime.batch_rollouts:
        batch = ledger.take(cfg.runtime.batch_rollouts)
        stats = learner.step(batch, counters.env_steps)
        window.add(stats)
        counters.updates = learner.version
        learner.guard.update(stats.get("skipped_updates", 0.0) > 0)
        for s in batch:
            ledger.release(s)
            hand_back(ledger.owner(s))
