"""The actor-critic network used by every algorithm but FeUdal.

``torso`` (an MLP over flattened observations) -> optional ``LSTM`` core -> a policy head
(categorical logits or a diagonal-Gaussian mean with a learned, state-independent log-std; or, with
``spec.sde``, gSDE's state-dependent std, :mod:`asyncrl.nn.heads`) and a value head. Without an LSTM
the critic has its own MLP by default (as Stable-Baselines3 and CleanRL do for classic control); with
an LSTM both heads share torso and core, as in the A3C paper.

Shapes: ``T`` time steps, ``B`` envs, ``O`` flattened observation size, ``A`` the number of
actions (discrete) or action dimensions (continuous), ``H`` the LSTM size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from asyncrl.core.batch import CoreState
from asyncrl.nn import heads
from asyncrl.nn.layers import lstm_over_time, mlp, orthogonal_init
from asyncrl.nn.normalize import RunningNorm, obs_normalizer
from asyncrl.nn.spec import ModelSpec
from asyncrl.nn.torsos import build_torso, torso_input

__all__ = ["ActorCritic", "CoreState", "ModelSpec", "PolicyNet", "PolicyOutput"]


class PolicyOutput(NamedTuple):
    """``params [T, B, A]`` (logits or Gaussian mean; with gSDE ``[T, B, A + K]``, the mean then the policy's
    detached features), ``value [T, B]``, the core state after the last step."""

    params: Tensor
    value: Tensor
    core_state: Any
    """The network's recurrent state: :data:`CoreState` for an actor-critic, FeUdal's own tuple."""


class PolicyNet(Protocol):
    """What losses, runtimes and evaluation use of a network: :class:`ActorCritic` and
    :class:`~asyncrl.nn.feudal.FeudalNet` (``make_model`` builds either). ``core_state`` is the network's own
    recurrent state (``None`` for a feed-forward actor-critic)."""

    spec: ModelSpec

    def __call__(self, obs: Tensor, core_state: Any, first: Tensor) -> PolicyOutput:
        """``obs [T, B, *obs_shape]``, ``first [T, B]`` -> params ``[T, B, A]``, value ``[T, B]`` (or ``[T, B, 2]``:
        FeUdal's two critics), the state after the last step."""
        ...

    def initial_state(self, batch: int) -> Any: ...

    def act(
        self, obs: Tensor, core_state: Any, first: Tensor, deterministic: bool = False, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Any]:
        """One step ``obs [B, *obs_shape]`` (the allowed actions ``mask [B, head_size]``, if the env gives
        masks) -> ``(actions [B] or [B, A], values, state)``."""
        ...

    def sample(self, params: Tensor, deterministic: bool = False, sde_weights: Tensor | None = None) -> Tensor: ...

    def log_prob_entropy(
        self, params: Tensor, actions: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]: ...

    def env_actions(self, actions: Tensor | np.ndarray) -> np.ndarray: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]: ...

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, nn.Parameter]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any: ...

    def share_memory(self) -> Any: ...

    def eval(self) -> Any: ...

    def to(self, *args: Any, **kwargs: Any) -> Any: ...


class ActorCritic(nn.Module):
    """MLP torso, optional LSTM core, policy and value heads. See the module docstring.

    With ``spec.normalize_obs`` the torso's input is standardised by a running normaliser, and with
    ``spec.normalize_reward`` the model carries the return normaliser actors scale rewards by
    (:mod:`asyncrl.nn.normalize`); both are buffers, so they are saved and published with the weights."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        sizes = [spec.obs_size, *spec.hidden]
        self.torso, feat = build_torso(spec)
        self.core = nn.LSTMCell(feat, spec.lstm_size) if spec.lstm else None
        if self.core is not None:
            nn.init.zeros_(self.core.bias_ih)
            nn.init.zeros_(self.core.bias_hh)
            feat = spec.lstm_size
        self.critic_torso = mlp(sizes, spec.activation) if spec.separate_critic and not spec.lstm else None
        self.policy_head = orthogonal_init(nn.Linear(feat, spec.head_size), 0.01)
        self.value_head = orthogonal_init(nn.Linear(feat, 1), 1.0)
        self.sde_features = feat if spec.sde else 0
        """gSDE: the size ``K`` of the features the noise is linear in (the policy head's input); 0 without."""
        if spec.action_kind == "continuous":  # gSDE's log-std is a matrix [K, A], one entry per feature and action
            shape = (feat, spec.action_dim) if spec.sde else (spec.action_dim,)
            self.log_std = nn.Parameter(torch.full(shape, float(spec.log_std_init)))
        self.mean_bounds = (
            (torch.tensor(spec.action_low), torch.tensor(spec.action_high)) if spec.bounded_mean else None
        )  # (plain tensors, not buffers: the spec gives them)
        self.obs_norm = (
            obs_normalizer(spec.normalized_positions, spec.obs_size, spec.obs_clip) if spec.normalize_obs else None
        )
        self.return_norm = RunningNorm(()) if spec.normalize_reward else None

    # ---- core state -------------------------------------------------------------------
    def initial_state(self, batch: int) -> CoreState:
        """Zero LSTM state for ``batch`` envs, or ``None`` for feed-forward models."""
        if self.core is None:
            return None
        h = torch.zeros(batch, self.spec.lstm_size)
        return (h, h.clone())

    # ---- forward ----------------------------------------------------------------------
    def forward(self, obs: Tensor, core_state: CoreState, first: Tensor) -> PolicyOutput:
        """Run ``T`` steps for ``B`` envs.

        Args:
            obs: ``[T, B, *obs_shape]`` observations.
            core_state: state before ``obs[0]`` (``None`` for feed-forward models).
            first: ``[T, B]`` bool, ``obs[t]`` starts a new episode: the core state is zeroed first.
        """
        T, B = first.shape
        x = torso_input(self.spec, obs)
        if self.obs_norm is not None:
            x = self.obs_norm(x)
        feats = self.torso(x)
        if self.core is not None:
            assert core_state is not None, "LSTM models need a core state"
            out, core_state = lstm_over_time(self.core, feats.reshape(T, B, -1), core_state, first)
            feats = out.reshape(T * B, -1)
        critic_feats = self.critic_torso(x) if self.critic_torso is not None else feats
        params = self.policy_head(feats).reshape(T, B, -1)
        if self.mean_bounds is not None:
            params = heads.bounded_mean(params, *(b.to(params.device) for b in self.mean_bounds))
        if self.sde_features:
            params = torch.cat([params, feats.detach().reshape(T, B, -1)], dim=-1)
        value = self.value_head(critic_feats).reshape(T, B)
        return PolicyOutput(params, value, core_state)

    # ---- acting -----------------------------------------------------------------------
    @torch.no_grad()
    def act(
        self,
        obs: Tensor,
        core_state: CoreState,
        first: Tensor,
        deterministic: bool = False,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, CoreState]:
        """One step for ``B`` envs: ``obs [B, *obs_shape]``, ``first [B]``, the allowed actions ``mask [B,
        head_size]`` of an env with masks -> ``(actions [B] or [B, A], value [B], core state)``."""
        out = self.forward(obs.unsqueeze(0), core_state, first.unsqueeze(0))
        return self.sample(heads.masked_logits(out.params[0], mask), deterministic), out.value[0], out.core_state

    def sample(self, params: Tensor, deterministic: bool = False, sde_weights: Tensor | None = None) -> Tensor:
        """Actions ``[...]`` or ``[..., A]`` (:attr:`~asyncrl.nn.spec.ModelSpec.step_action_shape`) from head
        outputs ``params [..., head_size]``. With gSDE, ``sde_weights [B, K, A]`` (:meth:`sde_weights`) are the
        envs' held noise matrices for ``params [B, A + K]``; without them each sample draws its own."""
        kind = self.spec.action_kind
        if kind == "discrete":
            return heads.categorical_sample(params, deterministic)
        if kind == "multi-discrete":
            return heads.multi_categorical_sample(params, self.spec.action_nvec, deterministic)
        if kind == "multi-binary":
            return heads.bernoulli_sample(params, deterministic)
        if not self.sde_features:
            return heads.gaussian_sample(params, self.log_std, deterministic)
        mean, latent = self._split_sde(params)
        if deterministic:
            return mean
        if sde_weights is None:
            return heads.gaussian_sample(mean, heads.sde_log_std(latent, self.log_std))
        return heads.sde_sample(mean, latent, sde_weights.to(params.device))

    def sde_weights(self, batch: int) -> Tensor:
        """gSDE: fresh noise matrices ``[batch, K, A]`` for ``batch`` envs, at the current log-std."""
        return heads.sde_weights(self.log_std.detach().cpu(), batch)

    def _split_sde(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """gSDE's ``params [..., A + K]`` -> ``(mean [..., A], features [..., K])``."""
        return params[..., : self.spec.action_dim], params[..., self.spec.action_dim :]

    def log_prob_entropy(self, params: Tensor, actions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``params [..., head_size]``, ``actions [...]`` or ``[..., A]`` -> ``(log_prob [...], entropy [...])``
        (of the joint action: summed over a factorised head's factors), over the actions ``mask [..., head_size]``
        allows where given (an env's action masks)."""
        params = heads.masked_logits(params, mask)
        kind = self.spec.action_kind
        if kind == "discrete":
            return heads.categorical_log_prob_entropy(params, actions)
        if kind == "multi-discrete":
            return heads.multi_categorical_log_prob_entropy(params, self.spec.action_nvec, actions)
        if kind == "multi-binary":
            return heads.bernoulli_log_prob_entropy(params, actions)
        if self.sde_features:
            mean, latent = self._split_sde(params)
            return heads.gaussian_log_prob_entropy(mean, heads.sde_log_std(latent, self.log_std), actions)
        return heads.gaussian_log_prob_entropy(params, self.log_std, actions)

    def env_actions(self, actions: Tensor | np.ndarray) -> np.ndarray:
        """Actions ``[B, ...]`` as the env takes them: int indices; floats clipped to the action bounds; each
        factor's category from its ``start``; bits. Reshaped to the action space's shape where it has more than
        one axis."""
        return env_actions(self.spec, actions.numpy() if isinstance(actions, Tensor) else actions)


def env_actions(spec: ModelSpec, a: np.ndarray) -> np.ndarray:
    """A model's actions ``[B, *step_action_shape]`` as ``spec``'s env takes them ``[B, *action space shape]``."""
    kind = spec.action_kind
    if kind == "continuous":
        a = np.clip(a, spec.action_low, spec.action_high).astype(np.float32)
    elif kind == "multi-discrete":
        a = a + np.asarray(spec.action_low, np.int64) if any(spec.action_low) else a
    elif kind == "multi-binary":
        a = a.astype(np.int8)
    if spec.action_shape:
        a = a.reshape(*a.shape[:-1], *spec.action_shape)
    return a
