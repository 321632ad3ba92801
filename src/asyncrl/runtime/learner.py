"""The learner of the actor-learner runtime: consumes batches of trajectory slots, updates its own
model with its own (non-shared) optimizer and publishes versioned weights.

It knows nothing of processes; runtimes call :meth:`Learner.step` with the slot indices in
arrival order and free the slots afterwards. Every sample carries the policy version that
produced it, so the learner measures the policy lag (its version minus the sample's) of every
batch, and with ``max_policy_lag`` drops the slots that are too stale.
"""

from __future__ import annotations

import math

import torch

from asyncrl.algos.actor_critic import backward_and_clip
from asyncrl.config import TrainConfig
from asyncrl.nn.model import ActorCritic
from asyncrl.optim import make_optimizer
from asyncrl.runtime.schedule import learning_rate
from asyncrl.runtime.slots import TrajectorySlots
from asyncrl.runtime.weights import WeightStore


class Learner:
    """Owns the model and the optimizer. ``version`` counts the updates (policy versions) so far."""

    def __init__(self, cfg: TrainConfig, model: ActorCritic, slots: TrajectorySlots, weights: WeightStore,
                 version: int = 0, optimizer_state: dict | None = None):
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

    def step(self, ids: list[int], env_steps: int) -> dict[str, float]:
        """One update on the slots ``ids`` (their arrival order); ``env_steps`` sets the lr schedule.

        Returns statistics: the losses, ``policy_lag_mean``/``policy_lag_max`` over the batch's
        samples, ``dropped_samples`` (env steps discarded as too stale) and ``skipped_updates``.
        """
        cfg = self.cfg
        lr = learning_rate(cfg.lr, cfg.lr_schedule, env_steps, cfg.total_steps)
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

        res = impala_loss(self.model, self.slots.batch(ids), self.loss_params)
        stats = {**res.stats, **self._update(res.loss, lr)}
        self._publish()
        return stats

    def _appo(self, ids: list[int], lr: float) -> dict[str, float]:
        from asyncrl.algos.appo import appo_loss, minibatch_columns, select_columns

        batch = self.slots.batch(ids)
        p = self.loss_params
        acc: dict[str, list[float]] = {}
        for _ in range(p.epochs):
            for cols in minibatch_columns(batch.first.shape[1], p.minibatches, self.generator):
                res = appo_loss(self.model, select_columns(batch, cols), p)
                for k, v in {**res.stats, **self._update(res.loss, lr)}.items():
                    acc.setdefault(k, []).append(v)
        self._publish()
        stats = {k: sum(v) / len(v) for k, v in acc.items()}
        stats["skipped_updates"] = float(sum(acc["skipped_updates"]))
        return stats

    def _apply_gradients(self, ids: list[int], lr: float) -> dict[str, float]:
        from asyncrl.algos.a3c_ps import grad_views

        skipped, dropped, lags = 0, 0, []
        for i in ids:  # arrival order, one optimizer step and one publication each
            lag = self.version - int(self.slots.version[i])  # counts the gradients applied just before
            lags.append(lag)
            if self._too_stale(lag):
                dropped += 1
                continue
            if bool(self.slots.grad_ok[i]):
                self.optimizer.step(self.params, grad_views(self.slots.grads[i], self.params), lr)
            else:
                skipped += 1
            self._publish()
        return {"policy_lag_mean": sum(lags) / len(lags), "policy_lag_max": float(max(lags)),
                "dropped_samples": float(dropped * self.slots.T * self.slots.B), "skipped_updates": float(skipped)}
