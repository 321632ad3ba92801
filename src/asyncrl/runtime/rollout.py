"""Collect time-major rollouts from a vector env with a policy; shared by every runtime.

Acting runs without gradients (in numpy for feed-forward MLPs, see
:mod:`asyncrl.nn.numpy_policy`); the learner re-runs the model on the whole rollout in one
batched forward, which is exact because the acting parameters do not change during a rollout.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from asyncrl.core.batch import CoreState, Rollout, empty_rollout
from asyncrl.envs.vector import EpisodeTracker
from asyncrl.losses.returns import fold_truncation_bootstrap
from asyncrl.nn import heads
from asyncrl.nn.model import ActorCritic, PolicyNet
from asyncrl.nn.normalize import normalizers
from asyncrl.nn.numpy_policy import NumpyPolicy


def stream_seeds(seed: int | None) -> tuple[int | None, int | None, int | None]:
    """Independent seeds for env resets, numpy action sampling and torch action sampling.

    One integer seeding both the envs and the sampler would make them replay the same PCG64 words
    (an action's uniform equal to another env's initial state); spawning a ``SeedSequence`` gives
    streams that share nothing and stay reproducible for a seed.
    """
    if seed is None:
        return None, None, None
    children = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(c.generate_state(1)[0]) for c in children)  # type: ignore[return-value]


class RolloutCollector:
    """Steps ``venv`` with ``model`` for ``n_steps`` at a time; keeps env and core state between rollouts.

    ``model``'s parameters may change between rollouts (in place); the collector always acts
    with their current values. ``gamma`` is one discount, or one per critic for a model whose
    value has a trailing axis (FeUdal's ``(manager, worker)``). With ``record_logp`` every rollout also
    carries the behaviour policy's log-probabilities of its actions (for off-policy corrections such as V-trace).
    """

    def __init__(
        self,
        venv,
        model: PolicyNet,
        n_steps: int,
        gamma: float | tuple[float, ...],
        reward_scale: float = 1.0,
        seed: int | None = None,
        record_logp: bool = False,
        reward_clip: float = 10.0,
    ):
        self.venv, self.model, self.n_steps = venv, model, n_steps
        self.gamma, self.reward_scale, self.reward_clip = gamma, reward_scale, reward_clip
        self.record_logp = record_logp
        B = venv.num_envs
        env_seed, act_seed, torch_seed = stream_seeds(seed)
        self.obs = np.asarray(venv.reset(seed=env_seed))
        self.first = np.ones(B, dtype=bool)
        self.device = next(model.parameters()).device
        """Where the model acts (a GPU for the synchronous runtime's ``--device cuda``); rollouts stay on the CPU."""
        self.core_state = _on(model.initial_state(B), self.device)
        self.masked = bool(getattr(model.spec, "action_masks", False))
        """The env gives action masks (``venv.action_mask``): acting samples only the allowed actions."""
        cpu = self.device.type == "cpu"
        self.fast = NumpyPolicy(model, act_seed) if NumpyPolicy.supports(model) and not self.masked and cpu else None
        if torch_seed is not None:
            torch.manual_seed(torch_seed)  # torch's sampler (LSTM, CNN and FeUdal models act in torch)
        self.return_norm = normalizers(model)[1]
        self.sde_freq = int(model.spec.sde_sample_freq) if getattr(model, "sde_features", 0) else -1
        """gSDE: each env's noise matrix is drawn anew every this many steps, and at every rollout's start when 0;
        -1 without gSDE."""
        self.sde_weights: Any = None
        """gSDE: the envs' noise matrices ``[B, K, A]`` held between draws (numpy when acting in numpy)."""
        self.ret = np.zeros(B, np.float64)
        """With a return normaliser: each env's running discounted return of the raw rewards."""
        self.tracker = EpisodeTracker(B)
        self.finished: list[tuple[float, int]] = []
        """Episodes (return, length) finished since the caller last cleared this list."""

    def collect(self, out: Rollout | None = None) -> Rollout:
        """Collect ``n_steps`` steps; writes into ``out`` in place when given (e.g. a shared-memory slot).

        With a return normaliser in the model, the rewards are scaled by its current ``1 / std`` (the statistics
        the acting weights came with) and clipped to ``+-reward_clip``, and ``out.returns`` gets each step's
        running discounted return for the learner to update the statistics from; ``reward_scale`` is then not
        applied (as Stable-Baselines3's ``VecNormalize``, which has no scale of its own). Without one, the rewards
        are multiplied by ``reward_scale``."""
        if out is None:
            out = empty_rollout(
                self.model.spec,
                self.n_steps,
                self.venv.num_envs,
                obs_dtype=torch.from_numpy(self.obs[:0]).dtype,
                logp=self.record_logp,
            )
        model, T, B = self.model, self.n_steps, self.venv.num_envs
        obs, first, actions = out.obs.numpy(), out.first.numpy(), out.actions.numpy()
        logps = out.behaviour_logp.numpy() if self.record_logp and out.behaviour_logp is not None else None
        rewards, terminated = np.empty((T, B), np.float32), np.empty((T, B), bool)
        truncs = np.zeros((T, B), bool)
        gamma = np.asarray(self.gamma, np.float32)  # [] or [K]
        v_final = np.zeros((T, B, *gamma.shape), np.float32)
        returns = out.returns.numpy() if self.return_norm is not None and out.returns is not None else None
        start_state = state = self.core_state
        masks = out.action_mask.numpy() if out.action_mask is not None else None
        for t in range(T):
            self._sde_draw_due(t)
            obs[t], first[t] = self.obs, self.first
            if masks is not None:
                masks[t] = self._mask()
            action, logp, state = self._act(state, logps is not None, None if masks is None else masks[t])
            actions[t] = action
            if logps is not None:
                logps[t] = logp
            res = self.venv.step(model.env_actions(action))
            done = res.terminated | res.truncated
            if res.games is None:
                self.finished += self.tracker.update(res.reward, done)
            else:  # an env that reports games (Atari): log whole games with their real score, not lives
                self.finished += [(score, steps) for _, score, steps in res.games]
            rewards[t], terminated[t] = res.reward, res.terminated
            if returns is not None:
                self.ret = self.ret * float(self.gamma) + res.reward  # type: ignore[arg-type]
                returns[t] = self.ret
                self.ret[done] = 0.0
            if res.truncated.any():
                idx = np.flatnonzero(res.truncated)
                truncs[t, idx] = True
                v_final[t, idx] = self._final_values(res.final_obs[idx], state, idx)
            self.obs, self.first = res.obs, done
        obs[T], first[T] = self.obs, self.first
        self.core_state = state
        self._write_targets(out, rewards, terminated, truncs, v_final, gamma)
        if start_state is not None:  # the recurrent state before the rollout, for the learner's forward
            if out.core_state is None:
                out.core_state = tuple(x.clone() for x in start_state)
            else:
                torch._foreach_copy_(list(out.core_state), list(start_state))
        return out

    def _write_targets(
        self,
        out: Rollout,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncs: np.ndarray,
        v_final: np.ndarray,
        gamma: np.ndarray,
    ) -> None:
        """``out.r_t`` and ``out.discount_t`` ``[T, B(, K)]`` from the raw rewards ``[T, B]``: scaled (by the return
        normaliser, else ``reward_scale``), then the truncation bootstrap ``gamma * v_final`` folded in."""
        per_critic = (...,) + (None,) * gamma.ndim  # broadcast [T, B] over the critics' axis
        if self.return_norm is None:
            rewards = rewards * np.float32(self.reward_scale)
        else:  # the normaliser sets the scale, as VecNormalize (a fixed scale before it would cancel out)
            rewards = np.clip(rewards * np.float32(self.return_norm.scale()), -self.reward_clip, self.reward_clip)
        discounts = torch.from_numpy((~terminated).astype(np.float32)[per_critic] * gamma)
        r_t, discount_t = fold_truncation_bootstrap(
            torch.from_numpy(rewards)[per_critic].expand(discounts.shape),
            discounts,
            torch.from_numpy(truncs)[per_critic],
            torch.from_numpy(v_final),
            torch.from_numpy(gamma),
        )
        out.r_t.copy_(r_t)
        out.discount_t.copy_(discount_t)

    def _act(
        self, state: CoreState, want_logp: bool, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None, CoreState]:
        """This step's actions ``[B, ...]``, their log-probabilities ``[B]`` (with ``want_logp``) and the core state
        after it: in numpy for a small feed-forward model, else in torch (with the env's action ``mask``)."""
        if self.fast is None:
            return self._torch_act(state, mask)
        if want_logp:
            action, logp = self.fast.act_logp(self.obs, self.sde_weights)
            return action, logp, state
        return self.fast.act(self.obs, sde_weights=self.sde_weights), None, state

    def _sde_draw_due(self, t: int) -> None:
        """gSDE: fresh noise matrices for every env where step ``t`` of the rollout is due one, as Stable-Baselines3
        draws them: at each rollout's start and every ``sde_sample_freq`` steps from there."""
        if self.sde_freq < 0 or not (t == 0 or (self.sde_freq > 0 and t % self.sde_freq == 0)):
            return
        B = self.venv.num_envs
        model = cast(ActorCritic, self.model)  # (only an actor-critic has gSDE)
        self.sde_weights = self.fast.sde_weights(B) if self.fast is not None else model.sde_weights(B)

    def _mask(self) -> np.ndarray:
        """The actions allowed now ``[B, head_size]`` (all, where the env has given no mask)."""
        mask = getattr(self.venv, "action_mask", None)
        return np.ones((self.venv.num_envs, self.model.spec.head_size), bool) if mask is None else mask

    @torch.no_grad()
    def _torch_act(
        self, state: CoreState, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, CoreState]:
        model, dev = self.model, self.device
        o = torch.from_numpy(self.obs).to(dev).unsqueeze(0)
        out = model(o, state, torch.from_numpy(self.first).to(dev).unsqueeze(0))
        params = heads.masked_logits(out.params[0], None if mask is None else torch.from_numpy(mask).to(dev))
        a = model.sample(params, sde_weights=self.sde_weights)
        logp = model.log_prob_entropy(params, a)[0].cpu().numpy() if self.record_logp else None
        return a.cpu().numpy(), logp, out.core_state

    @torch.no_grad()
    def _final_values(self, final_obs: np.ndarray, state: CoreState, idx: np.ndarray) -> np.ndarray:
        """``V(final_obs)`` for the truncated envs ``idx``, continuing their core state."""
        dev = self.device
        rows = torch.from_numpy(idx).to(dev)
        sub = None if state is None else tuple(x[rows] for x in state)
        o = torch.as_tensor(final_obs).to(dev).unsqueeze(0)
        out = self.model(o, sub, torch.zeros((1, len(idx)), dtype=torch.bool, device=dev))
        return out.value[0].cpu().numpy()


def _on(state: Any, device: torch.device) -> Any:
    """A core state (``None``, or a tuple of tensors) on ``device``."""
    return state if state is None or device.type == "cpu" else tuple(x.to(device) for x in state)
