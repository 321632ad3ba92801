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

import torch

from asyncrl.algos.actor_critic import backward_and_clip
from asyncrl.config import TrainConfig
from asyncrl.nn.model import ActorCritic
from asyncrl.optim import make_optimizer
from asyncrl.runtime.control import NonFiniteGuard
from asyncrl.runtime.rollout import Rollout
from asyncrl.runtime.schedule import LrSchedule
from asyncrl.runtime.slots import TrajectorySlots
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
                   mv(batch.behaviour_logp))


class Learner:
    """Owns the model and the optimizer. ``version`` counts the updates (policy versions) so far.

    ``model`` is updated in place on the CPU; on another device the learner trains a copy, and
    :meth:`model_state` / :meth:`optimizer_state` give CPU tensors for checkpoints.
    """

    def __init__(self, cfg: TrainConfig, model: ActorCritic, slots: TrajectorySlots, weights: WeightStore,
                 version: int = 0, optimizer_state: dict | None = None, schedule: LrSchedule | None = None):
        self.device = learner_device(cfg.device)
        self.schedule = schedule or LrSchedule(cfg.lr, cfg.lr_schedule, cfg.total_steps)
        self.guard = NonFiniteGuard()
        """The runtime feeds it each update's ``skipped_updates``; it ends a run that can no longer learn."""
        if self.device.type != "cpu":
            model = copy.deepcopy(model).to(self.device)
        self.cfg, self.model, self.slots, self.weights = cfg, model, slots, weights
        self.params = list(model.parameters())
        self.optimizer = make_optimizer(cfg.optimizer, self.params, cfg.lr, shared=False, eps=cfg.optimizer_eps,
                                        alpha=cfg.rms_alpha)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.version = version
        self.generator = torch.Generator().manual_seed(cfg.seed + 104_729 * version)  # APPO minibatches
        if cfg.algo == "impala":
            from asyncrl.algos.impala import VTraceParams

            self.loss_params = VTraceParams.from_config(cfg)
        elif cfg.algo == "appo":
            from asyncrl.algos.appo import APPOParams

            self.loss_params = APPOParams.from_config(cfg)
        self.weights.publish(self.params, self.version)

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
        cfg = self.cfg
        lr = self.schedule(env_steps)
        if cfg.algo == "a3c-ps":
            return {"lr": lr, **self._apply_gradients(ids, lr)}
        lags = [self.version - int(self.slots.version[i]) for i in ids]
        keep = [i for i, lag in zip(ids, lags) if not self._too_stale(lag)]
        stats = {"policy_lag_mean": sum(lags) / len(lags), "policy_lag_max": float(max(lags)), "lr": lr,
                 "dropped_samples": float((len(ids) - len(keep)) * self.slots.T * self.slots.B),
                 "skipped_updates": 0.0}
        if not keep:
            return stats
        if cfg.algo == "appo":
            stats.update(self._appo(keep, lr))
        else:
            stats.update(self._impala(keep, lr))
        return stats

    def _too_stale(self, lag: int) -> bool:
        return bool(self.cfg.max_policy_lag) and lag > self.cfg.max_policy_lag

    def _update(self, loss: torch.Tensor, lr: float) -> dict[str, float]:
        grads, norm = backward_and_clip(self.params, loss, self.cfg.max_grad_norm)
        skipped = not math.isfinite(norm)  # a non-finite gradient never reaches the weights
        if not skipped:
            self.optimizer.step(self.params, grads, lr)
        return {"grad_norm": norm, "skipped_updates": float(skipped)}

    def _publish(self) -> None:
        self.version += 1
        self.weights.publish(self.params, self.version)

    def _impala(self, ids: list[int], lr: float) -> dict[str, float]:
        from asyncrl.algos.impala import impala_loss

        res = impala_loss(self.model, to_device(self.slots.batch(ids), self.device), self.loss_params)
        stats = {**res.stats, **self._update(res.loss, lr)}
        self._publish()
        return stats

    def _appo(self, ids: list[int], lr: float) -> dict[str, float]:
        from asyncrl.algos.appo import (
            appo_batch_targets,
            appo_loss,
            appo_sample_loss,
            minibatch_columns,
            minibatch_indices,
            select_columns,
        )

        batch = to_device(self.slots.batch(ids), self.device)
        p = self.loss_params
        acc: dict[str, list[float]] = {}

        def update(res) -> None:
            for k, v in {**res.stats, **self._update(res.loss, lr)}.items():
                acc.setdefault(k, []).append(v)

        if batch.core_state is None and p.epochs * p.minibatches > 1:
            # feed-forward: PPO's shuffled samples, targets once per batch (with one epoch of one
            # minibatch both ways are the same loss, and the sequence path saves a forward pass)
            vs, adv = (t.reshape(-1) for t in appo_batch_targets(self.model, batch, p))
            obs = batch.obs[:-1].reshape(-1, *batch.obs.shape[2:])
            actions = batch.actions.reshape(-1, *batch.actions.shape[2:])
            logp = batch.behaviour_logp.reshape(-1)
            for _ in range(p.epochs):
                for idx in minibatch_indices(vs.shape[0], p.minibatches, self.generator):
                    idx = idx.to(self.device)
                    update(appo_sample_loss(self.model, obs[idx], actions[idx], logp[idx], vs[idx], adv[idx], p))
        else:
            for _ in range(p.epochs):
                for cols in minibatch_columns(batch.first.shape[1], p.minibatches, self.generator):
                    update(appo_loss(self.model, select_columns(batch, cols), p))
        self._publish()
        stats = {k: sum(v) / len(v) for k, v in acc.items()}
        stats["skipped_updates"] = float(sum(acc["skipped_updates"]))
        return stats

    def _apply_gradients(self, ids: list[int], lr: float) -> dict[str, float]:
        from asyncrl.algos.a3c_ps import grad_views

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
            self.optimizer.step(self.params, grad_views(self.slots.grads[i], self.params), lr)
            self._publish()
        return {"policy_lag_mean": sum(lags) / len(lags), "policy_lag_max": float(max(lags)),
                "dropped_samples": float(dropped * self.slots.T * self.slots.B), "skipped_updates": float(skipped)}
