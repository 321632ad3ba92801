"""Preallocated trajectory slots in shared memory: what actors fill and the learner consumes.

Every field is one tensor ``[S, ...]`` over the ``S`` slots, moved to shared memory once before
any actor starts; a slot ``i`` is a :class:`~asyncrl.runtime.rollout.Rollout` of views into
row ``i``. Only slot indices travel between processes, never observations. Besides the rollout
(time-major ``[T + 1, B, ...]`` observations and ``first`` flags, ``[T, B]`` actions, rewards,
``discount_t`` and behaviour log-probabilities, the LSTM state before the rollout), a slot holds
the policy version that produced it and, for ``a3c-ps``, the flat gradient its actor computed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asyncrl.algos.base import Algorithm, gradient_actor
from asyncrl.core.batch import Rollout, empty_rollout
from asyncrl.core.sections import RunConfig
from asyncrl.nn.model import PolicyNet
from asyncrl.nn.spec import ModelSpec


class TrajectorySlots:
    """``num_slots`` rollouts of ``T`` steps and ``B`` envs, plus a version ``[S]`` and gradients ``[S, P]``.

    Args:
        spec: the model spec (observation and action shapes, LSTM size).
        num_slots: ``S``.
        T: rollout length (``n_steps``).
        B: envs per actor.
        obs_dtype: dtype of the observations (uint8 frames stay uint8).
        grad_size: ``P``, the number of model parameters, when slots carry gradients (``a3c-ps``); else 0.
        shared: in shared memory (for actor processes); a Ray runner's own one-slot buffer is not.
    """

    def __init__(
        self,
        spec: ModelSpec,
        num_slots: int,
        T: int,
        B: int,
        obs_dtype: torch.dtype = torch.float32,
        grad_size: int = 0,
        shared: bool = True,
    ):
        self.num_slots, self.T, self.B = num_slots, T, B
        one = empty_rollout(spec, T, B, obs_dtype=obs_dtype, logp=True)

        def stacked(t: Tensor) -> Tensor:
            x = torch.zeros((num_slots, *t.shape), dtype=t.dtype)
            return x.share_memory_() if shared else x

        self.obs, self.first, self.actions = stacked(one.obs), stacked(one.first), stacked(one.actions)
        assert one.behaviour_logp is not None
        self.r_t, self.discount_t, self.behaviour_logp = (
            stacked(one.r_t),
            stacked(one.discount_t),
            stacked(one.behaviour_logp),
        )
        self.returns = None if one.returns is None else stacked(one.returns)
        self.action_mask = None if one.action_mask is None else stacked(one.action_mask)
        """Each step's running discounted return, for a model with a return normaliser (``None`` otherwise)."""
        self.core_h: Tensor | None = None
        self.core_c: Tensor | None = None
        if one.core_state is not None:
            self.core_h, self.core_c = stacked(one.core_state[0]), stacked(one.core_state[1])
        self.version = stacked(torch.zeros((), dtype=torch.int64))
        """Policy version (learner updates) of the weights that acted in each slot."""
        self.grads = stacked(torch.zeros(grad_size)) if grad_size else None
        """``a3c-ps``: the flat, clipped gradient each slot's actor computed (``None`` otherwise)."""
        self.grad_ok = stacked(torch.zeros((), dtype=torch.bool)).fill_(True)
        """``a3c-ps``: ``False`` where the gradient was not finite (the learner skips it)."""

    def rollout(self, i: int) -> Rollout:
        """Slot ``i`` as a :class:`Rollout` of views (writing to it writes to shared memory)."""
        core = None if self.core_h is None or self.core_c is None else (self.core_h[i], self.core_c[i])
        return Rollout(
            self.obs[i],
            self.first[i],
            self.actions[i],
            self.r_t[i],
            self.discount_t[i],
            core,
            self.behaviour_logp[i],
            None if self.returns is None else self.returns[i],
            None if self.action_mask is None else self.action_mask[i],
        )

    def batch(self, ids: list[int]) -> Rollout:
        """Slots ``ids`` side by side along the env axis: a :class:`Rollout` of ``[T(+1), len(ids) * B, ...]``
        (a copy, so the slots can be freed at once)."""
        idx = torch.as_tensor(ids, dtype=torch.int64)

        def cat(t: Tensor, time_major: bool = True) -> Tensor:
            x = t.index_select(0, idx)  # [k, T, B, ...]
            if time_major:
                x = x.transpose(0, 1)  # [T, k, B, ...]
                return x.reshape(x.shape[0], -1, *x.shape[3:])
            return x.reshape(-1, *x.shape[2:])  # [k * B, ...]

        core = (
            None if self.core_h is None or self.core_c is None else (cat(self.core_h, False), cat(self.core_c, False))
        )
        return Rollout(
            cat(self.obs),
            cat(self.first),
            cat(self.actions),
            cat(self.r_t),
            cat(self.discount_t),
            core,
            cat(self.behaviour_logp),
            None if self.returns is None else cat(self.returns),
            None if self.action_mask is None else cat(self.action_mask),
        )


FREE, ACTING, FULL, LEARNING = "free", "acting", "full", "learning"


class SlotLedger:
    """Where every slot is in its cycle ``free -> acting -> full -> learning -> free``, and the
    queue of full slots in arrival order. Actor ``r`` owns slots ``r * k .. r * k + k - 1``.

    Each transition checks the slot's current state, so a slot handed out twice or freed twice
    raises at once; ``fills[i]`` and ``frees[i]`` count the completed cycles of slot ``i``.
    """

    def __init__(self, num_actors: int, slots_per_actor: int):
        self.k = slots_per_actor
        n = num_actors * slots_per_actor
        self.state = [FREE] * n
        self.ready: list[int] = []
        self.fills = [0] * n
        self.frees = [0] * n

    def owner(self, slot: int) -> int:
        return slot // self.k

    def _move(self, slot: int, old: str, new: str) -> None:
        if self.state[slot] != old:
            raise RuntimeError(f"slot {slot} is {self.state[slot]}, expected {old}")
        self.state[slot] = new

    def hand_out(self, rank: int) -> list[int]:
        """The free slots of actor ``rank``, now marked as acting."""
        out = [s for s in range(rank * self.k, (rank + 1) * self.k) if self.state[s] == FREE]
        for s in out:
            self._move(s, FREE, ACTING)
        return out

    def filled(self, slot: int) -> None:
        """An actor filled ``slot``: it joins the queue for the learner."""
        self._move(slot, ACTING, FULL)
        self.fills[slot] += 1
        self.ready.append(slot)

    def take(self, n: int) -> list[int]:
        """The ``n`` oldest full slots (fewer if fewer are full), now marked as learning."""
        out, self.ready = self.ready[:n], self.ready[n:]
        for s in out:
            self._move(s, FULL, LEARNING)
        return out

    def release(self, slot: int) -> None:
        """The learner is done with ``slot``: it is free for its actor again."""
        self._move(slot, LEARNING, FREE)
        self.frees[slot] += 1

    def reclaim(self, rank: int) -> None:
        """Actor ``rank`` died: the slots it was filling are free again (their contents are dropped)."""
        for s in range(rank * self.k, (rank + 1) * self.k):
            if self.state[s] == ACTING:
                self.state[s] = FREE


def build_slots(cfg: RunConfig, algo: Algorithm, model: PolicyNet, obs_dtype: torch.dtype) -> TrajectorySlots:
    """The run's slots: ``slots_per_actor`` per actor, each ``n_steps`` x ``num_envs``, with a gradient
    buffer where the actors compute the gradients (a3c-ps)."""
    grad_size = sum(p.numel() for p in model.parameters()) if gradient_actor(algo) is not None else 0
    return TrajectorySlots(
        model.spec,
        cfg.runtime.workers * cfg.runtime.slots_per_actor,
        cfg.rollout.n_steps,
        cfg.rollout.num_envs,
        obs_dtype,
        grad_size,
    )
