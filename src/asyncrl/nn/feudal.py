"""The FeUdal Network (FuN; Vezhnevets et al., 2017, arXiv 1703.01161, section 3), discrete actions.

    eq. 1  z_t = f_percept(x_t)                 torso (MLP or CNN) -> linear -> ReLU, size d
    eq. 2  s_t = f_Mspace(z_t)                  linear -> ReLU, size d (the Manager's latent state)
    eq. 3  h^M, g^_t = f_Mrnn(s_t, h^M)         dilated LSTM (r cores), output pooled over the cores
           g_t = g^_t / ||g^_t||                the goal, unit norm (:func:`unit_goal`)
    eq. 4  w_t = phi(sum_{i=t-c+1..t} g_i)      linear, no bias, d -> k, goals held constant (:func:`goal_sum`)
    eq. 5  h^W, U_t = f_Wrnn(z_t, h^W)          LSTM of size |A| * k, U_t = h^W as [|A|, k]
    eq. 6  pi_t = softmax(U_t w_t)              (:func:`policy_logits`)

The learning signals (eq. 7, the transition policy gradient; eq. 8, the intrinsic reward) are in
:mod:`asyncrl.losses.feudal`; the dilated LSTM in :mod:`asyncrl.nn.dilated_lstm`.

Separate critics read the Manager's pooled output (``V^M``) and the Worker's LSTM state (``V^W``).
No gradient passes between Worker and Manager: the Worker sees the goals detached, and the
Manager learns only from its transition policy gradient and its critic.

The recurrent state carries, besides both LSTMs, the last ``c`` goals and latent states, so the
goal pooling and the intrinsic reward continue across rollouts. Everything resets at an
episode's first observation.

Shapes: ``T`` steps, ``B`` envs, ``A`` actions, ``d`` latent size, ``k`` goal embedding size,
``r`` dilation, ``c`` horizon.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from asyncrl.losses.feudal import intrinsic_reward
from asyncrl.nn import heads
from asyncrl.nn.dilated_lstm import DilatedLSTM
from asyncrl.nn.layers import lstm_over_time, orthogonal_init
from asyncrl.nn.model import PolicyOutput
from asyncrl.nn.spec import ModelSpec
from asyncrl.nn.torsos import build_torso, torso_input

FeudalState = tuple[Tensor, ...]
"""``(h_W [B, A*k], c_W [B, A*k], h_M [B, r, d], c_M [B, r, d], tick [B], goals [B, c, d],
states [B, c, d], valid [B, c])``: both LSTMs, the step within the episode, the last ``c`` goals
and latent states (oldest first) and which of those belong to the current episode."""


class FeudalOutput(NamedTuple):
    """Everything the FeUdal loss needs from a forward over ``T`` steps.

    ``params [T, B, A]`` logits; ``value [T, B, 2]`` (``V^M``, ``V^W``); ``core_state`` after the
    last step; ``s [T, B, d]`` latent states; ``goals [T, B, d]`` unit goals (with gradient);
    ``intrinsic [T, B]`` the intrinsic reward at each observation (no gradient)."""

    params: Tensor
    value: Tensor
    core_state: FeudalState
    s: Tensor
    goals: Tensor
    intrinsic: Tensor


class FeudalNet(nn.Module):
    """Manager and Worker over a shared perception module. See the module docstring."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        if spec.action_masks:
            raise ValueError("FeUdal Networks take no action masks (the env gives info['action_mask'])")
        if spec.action_kind != "discrete":
            raise ValueError(f"FeUdal Networks need a discrete action space (Discrete; got {spec.action_kind} actions)")
        self.spec = spec
        d, k, A = spec.feudal_dim, spec.goal_dim, spec.action_dim
        self.torso, feat = build_torso(spec)
        self.percept = nn.Sequential(orthogonal_init(nn.Linear(feat, d), np.sqrt(2)), nn.ReLU())
        self.mspace = nn.Sequential(orthogonal_init(nn.Linear(d, d), np.sqrt(2)), nn.ReLU())
        self.manager = DilatedLSTM(d, d, spec.dilation)
        self.worker = nn.LSTMCell(d, A * k)
        nn.init.zeros_(self.worker.bias_ih)
        nn.init.zeros_(self.worker.bias_hh)
        self.phi = nn.Linear(d, k, bias=False)
        nn.init.orthogonal_(self.phi.weight, 1.0)
        self.manager_value = orthogonal_init(nn.Linear(d, 1), 1.0)
        self.worker_value = orthogonal_init(nn.Linear(A * k, 1), 1.0)

    # ---- core state -------------------------------------------------------------------
    def initial_state(self, batch: int) -> FeudalState:
        s = self.spec
        hw = torch.zeros(batch, s.action_dim * s.goal_dim)
        hm, cm = self.manager.initial_state(batch)
        hist = torch.zeros(batch, s.horizon, s.feudal_dim)
        return (hw, hw.clone(), hm, cm, torch.zeros(batch), hist, hist.clone(), torch.zeros(batch, s.horizon))

    # ---- forward ----------------------------------------------------------------------
    def _features(self, obs: Tensor) -> Tensor:
        """``obs [T, B, *obs_shape]`` -> ``z [T, B, d]``."""
        T, B = obs.shape[:2]
        return self.percept(self.torso(torso_input(self.spec, obs))).reshape(T, B, -1)

    def forward_full(self, obs: Tensor, core_state: FeudalState, first: Tensor, intrinsic: bool = True) -> FeudalOutput:
        """Run ``T`` steps for ``B`` envs: ``obs [T, B, *obs_shape]``, ``first [T, B]`` bool (the state is reset
        before ``obs[t]`` where set). ``intrinsic``: compute the intrinsic rewards (the loss needs them, acting
        does not: ``intrinsic`` is then zeros).

        Only the Worker's LSTM steps through time one step at a time; the Manager's dilated LSTM runs in rounds of
        ``r`` steps (:meth:`~asyncrl.nn.dilated_lstm.DilatedLSTM.sequence`), the rest for all ``T`` steps at once.
        The Manager runs first (its goals do not depend on the Worker), then the goal windows
        (:func:`goal_windows`) give the pooled goals, the intrinsic rewards and the next state's histories."""
        T, B = first.shape
        A, k, c = self.spec.action_dim, self.spec.goal_dim, self.spec.horizon
        z = self._features(obs)
        s = self.mspace(z)
        if T == 1:
            return self._one_step(z, s, core_state, first, intrinsic)
        s_const = s.detach()
        hw, cw, hm, cm, tick, g_hist, s_hist, valid = core_state
        pooled, hm, cm, tick = self.manager.sequence(s, hm, cm, tick, first)  # [T, B, d]
        goals = unit_goal(pooled)
        g_const = goals.detach()
        mask = goal_windows(first, valid, c)  # [T + 1, B, c]
        g_win = windows(g_hist, g_const) * mask.unsqueeze(-1)  # [T + 1, B, c, d]: the c goals before each step
        s_win = windows(s_hist, s_const) * mask.unsqueeze(-1)
        if intrinsic:
            r_int = intrinsic_reward(s_const.reshape(T * B, -1), s_win[:T].flatten(0, 1), g_win[:T].flatten(0, 1),
                                     mask[:T].flatten(0, 1)).reshape(T, B)  # fmt: skip
        else:
            r_int = torch.zeros(T, B, device=z.device)
        w = self.phi(goal_sum(g_const, g_win[:T]))  # [T, B, k]: no gradient to the Manager
        h, (hw, cw) = lstm_over_time(self.worker, z, (hw, cw), first)  # [T, B, A * k]
        logits = policy_logits(h.view(T, B, A, k), w)
        values = torch.cat([self.manager_value(pooled), self.worker_value(h)], -1)
        state = (hw, cw, hm, cm, tick, g_win[T], s_win[T], mask[T])
        return FeudalOutput(logits, values, state, s, goals, r_int)

    def _one_step(self, z: Tensor, s: Tensor, core_state: FeudalState, first: Tensor, intrinsic: bool) -> FeudalOutput:
        """:meth:`forward_full` of one step (acting), in fewer operations: the histories are shifted, not windowed.
        ``z``, ``s``: ``[1, B, d]``."""
        B = first.shape[1]
        A, k = self.spec.action_dim, self.spec.goal_dim
        hw, cw, hm, cm, tick, g_hist, s_hist, valid = core_state
        if bool(first.any()):  # (an episode starts: its envs' state from zero)
            keep = (~first[0]).to(z.dtype)
            k1, k2 = keep.unsqueeze(-1), keep.view(B, 1, 1)
            hw, cw, hm, cm, tick = hw * k1, cw * k1, hm * k2, cm * k2, tick * keep
            g_hist, s_hist, valid = g_hist * k2, s_hist * k2, valid * k1
        s_const = s[0].detach()
        pooled, hm, cm = self.manager.step(s[0], hm, cm, tick)
        goal = unit_goal(pooled)
        g_const = goal.detach()
        r_int = intrinsic_reward(s_const, s_hist, g_hist, valid) if intrinsic else torch.zeros(B, device=z.device)
        hw, cw = self.worker(z[0], (hw, cw))
        logits = policy_logits(hw.view(B, A, k), self.phi(goal_sum(g_const, g_hist)))
        values = torch.cat([self.manager_value(pooled), self.worker_value(hw)], -1)
        state = (
            hw,
            cw,
            hm,
            cm,
            tick + 1,
            torch.cat([g_hist[:, 1:], g_const.unsqueeze(1)], 1),
            torch.cat([s_hist[:, 1:], s_const.unsqueeze(1)], 1),
            torch.cat([valid[:, 1:], torch.ones(B, 1, device=valid.device)], 1),
        )
        return FeudalOutput(logits[None], values[None], state, s, goal[None], r_int[None])

    def forward(self, obs: Tensor, core_state: FeudalState, first: Tensor) -> PolicyOutput:
        """As :meth:`~asyncrl.nn.model.ActorCritic.forward`; ``value`` is ``[T, B, 2]`` (``V^M``, ``V^W``)."""
        out = self.forward_full(obs, core_state, first, intrinsic=False)
        return PolicyOutput(out.params, out.value, out.core_state)

    # ---- acting -----------------------------------------------------------------------
    @torch.no_grad()
    def act(
        self,
        obs: Tensor,
        core_state: FeudalState,
        first: Tensor,
        deterministic: bool = False,
        mask: Tensor | None = None,  # (FeUdal takes no masks: its spec refuses them)
    ) -> tuple[Tensor, Tensor, FeudalState]:
        """One step for ``B`` envs -> ``(actions [B], value [B, 2], core state)``."""
        out = self.forward(obs.unsqueeze(0), core_state, first.unsqueeze(0))
        return self.sample(out.params[0], deterministic), out.value[0], out.core_state

    def sample(self, params: Tensor, deterministic: bool = False, sde_weights: Tensor | None = None) -> Tensor:
        """Actions ``[...]`` from the Worker's logits ``params [..., A]`` (categorical: ``sde_weights``, gSDE's
        noise matrices of continuous heads, never apply)."""
        return heads.categorical_sample(params, deterministic)

    def log_prob_entropy(self, params: Tensor, actions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return heads.categorical_log_prob_entropy(heads.masked_logits(params, mask), actions)

    def env_actions(self, actions: Tensor | np.ndarray) -> np.ndarray:
        return actions.numpy() if isinstance(actions, Tensor) else actions


def unit_goal(g_hat: Tensor) -> Tensor:
    """Eq. 3: the goal ``g_t = g^_t / ||g^_t||``, a direction in the latent state space. ``[..., d] -> [..., d]``."""
    return g_hat / g_hat.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def goal_sum(g_t: Tensor, before: Tensor) -> Tensor:
    """Eq. 4's pooling, ``sum_{i=t-c+1..t} g_i`` (``phi`` then embeds it): the goal of step ``t`` and the ``c - 1``
    before it. ``g_t [..., d]``, ``before [..., c, d]`` the ``c`` goals before ``t`` (oldest first, zero where
    they belong to another episode) -> ``[..., d]``."""
    return g_t + before[..., 1:, :].sum(-2)


def policy_logits(u: Tensor, w: Tensor) -> Tensor:
    """Eq. 6: the Worker's policy ``pi_t = softmax(U_t w_t)``, as logits ``U_t w_t``. ``u [..., A, k]`` the
    Worker's action embeddings, ``w [..., k]`` the goal embedding -> ``[..., A]``."""
    return torch.matmul(u, w.unsqueeze(-1)).squeeze(-1)


def goal_windows(first: Tensor, valid: Tensor, c: int) -> Tensor:
    """Which of the ``c`` steps before each step belong to its episode.

    Args:
        first: ``[T, B]`` bool, step ``t`` starts an episode.
        valid: ``[B, c]`` the state's flags for the ``c`` steps before the rollout (oldest first).

    Returns:
        ``[T + 1, B, c]`` (oldest first): row ``t < T`` for the steps before step ``t`` (``t - c .. t - 1``);
        row ``T`` for the steps ``T - c .. T - 1``, the next rollout's history.
    """
    T, B = first.shape
    episode = torch.cat([torch.zeros(c, B, device=first.device), first.to(valid.dtype).cumsum(0)])  # [c + T, B]
    flags = torch.cat([valid.t(), torch.ones(T, B, device=first.device, dtype=valid.dtype)])
    current = torch.cat([episode[c:], episode[-1:]])  # [T + 1, B]: step t's episode; row T, step T - 1's
    return flags.unfold(0, c, 1) * (episode.unfold(0, c, 1) == current.unsqueeze(-1)).to(valid.dtype)


def windows(history: Tensor, steps: Tensor) -> Tensor:
    """``history [B, c, d]`` (the ``c`` steps before the rollout, oldest first) and ``steps [T, B, d]`` ->
    ``[T + 1, B, c, d]``: for each step ``t``, the ``c`` vectors before it (row ``T``: the last ``c``)."""
    c = history.shape[1]
    return torch.cat([history.transpose(0, 1), steps]).unfold(0, c, 1).permute(0, 1, 3, 2)
