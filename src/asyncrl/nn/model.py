"""The actor-critic network used by every algorithm.

``torso`` (an MLP over flattened observations) -> optional ``LSTM`` core -> a policy head
(categorical logits or a diagonal-Gaussian mean with a learned, state-independent log-std)
and a value head. Without an LSTM the critic has its own MLP by default (as Stable-Baselines3
and CleanRL do for classic control); with an LSTM both heads share torso and core, as in the
A3C paper.

Shapes: ``T`` time steps, ``B`` envs, ``O`` flattened observation size, ``A`` the number of
actions (discrete) or action dimensions (continuous), ``H`` the LSTM size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from asyncrl.nn import heads

CoreState = tuple[Tensor, Tensor] | None
"""LSTM state ``(h [B, H], c [B, H])``, or ``None`` for feed-forward models."""


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model without its env (saved in checkpoints)."""

    obs_shape: list[int]
    obs_discrete_n: int = 0  # > 0: observations are Discrete(n) indices, one-hot encoded
    action_kind: str = "discrete"  # "discrete" or "continuous"
    action_dim: int = 2
    action_low: list[float] = field(default_factory=list)
    action_high: list[float] = field(default_factory=list)
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    lstm: bool = False
    lstm_size: int = 128
    separate_critic: bool = True
    log_std_init: float = 0.0
    torso: str = "mlp"  # "mlp", or a convolutional torso of nn/torsos.py for [C, H, W] images
    kind: str = "actor-critic"  # or "feudal" (nn/feudal.py; the fields below)
    feudal_dim: int = 256  # FeUdal: size d of the perception output, latent state and Manager LSTM
    goal_dim: int = 16  # FeUdal: size k of the goal embedding
    dilation: int = 10  # FeUdal: the Manager's dilated LSTM cores r
    horizon: int = 10  # FeUdal: goal horizon c (goal pooling, intrinsic reward, transition gradient)

    @property
    def obs_size(self) -> int:
        return self.obs_discrete_n or int(np.prod(self.obs_shape, dtype=np.int64))

    @property
    def value_shape(self) -> tuple[int, ...]:
        """Shape of one step's value: ``()``, or ``(2,)`` for FeUdal's Manager and Worker critics."""
        return (2,) if self.kind == "feudal" else ()

    def to_dict(self) -> dict:
        return asdict(self)


def make_model(spec: ModelSpec) -> nn.Module:
    """The network a spec describes: :class:`ActorCritic`, or :class:`~asyncrl.nn.feudal.FeudalNet`."""
    if spec.kind == "feudal":
        from asyncrl.nn.feudal import FeudalNet

        return FeudalNet(spec)
    if spec.kind != "actor-critic":
        raise ValueError(f"model kind {spec.kind!r} is not supported (allowed: actor-critic, feudal)")
    return ActorCritic(spec)


def resolve_torso(obs_space: gym.Space, torso: str = "auto") -> str:
    """``torso``, with ``auto`` resolved: the A3C paper's small CNN for channels-first ``uint8``
    frames of a useful size (Atari, ViZDoom: ``[C <= 4, H, W >= 36]``), an MLP otherwise."""
    if torso != "auto":
        return torso
    shape = getattr(obs_space, "shape", None) or ()
    image = (isinstance(obs_space, gym.spaces.Box) and obs_space.dtype == np.uint8 and len(shape) == 3
             and shape[0] <= 4 and min(shape[1:]) >= 36)
    return "a3c-cnn" if image else "mlp"


def spec_from_spaces(obs_space: gym.Space, action_space: gym.Space, torso: str = "auto", **kwargs) -> ModelSpec:
    """Build a :class:`ModelSpec` for the given spaces; raises ``ValueError`` for unsupported ones.

    ``torso="auto"`` picks the A3C paper's small CNN for ``[C, H, W]`` images and an MLP otherwise.
    """
    torso = resolve_torso(obs_space, torso)
    kwargs["torso"] = torso
    if torso != "mlp":
        kwargs["separate_critic"] = False  # policy and value share the convolutional features
    if isinstance(obs_space, gym.spaces.Box):
        obs_shape, obs_n = list(obs_space.shape), 0
    elif isinstance(obs_space, gym.spaces.Discrete):
        obs_shape, obs_n = [], int(obs_space.n)
    else:
        raise ValueError(f"observation space {obs_space} is not supported (allowed: Box, Discrete)")
    if isinstance(action_space, gym.spaces.Discrete):
        return ModelSpec(obs_shape, obs_n, "discrete", int(action_space.n), **kwargs)
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return ModelSpec(
            obs_shape, obs_n, "continuous", int(action_space.shape[0]),
            [float(x) for x in action_space.low], [float(x) for x in action_space.high], **kwargs,
        )
    raise ValueError(
        f"action space {action_space} is not supported (allowed: Discrete, 1-D Box)"
    )


class PolicyOutput(NamedTuple):
    """``params [T, B, A]`` (logits or Gaussian mean), ``value [T, B]``, the core state after the last step."""

    params: Tensor
    value: Tensor
    core_state: CoreState


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    act = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}[activation]
    layers: list[nn.Module] = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        layers += [orthogonal_init(nn.Linear(i, o), np.sqrt(2)), act()]
    return nn.Sequential(*layers)


def orthogonal_init(layer: nn.Module, gain: float) -> nn.Module:
    """Orthogonal weights with ``gain``, zero bias (linear and convolutional layers)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def build_torso(spec: ModelSpec) -> tuple[nn.Module, int]:
    """The spec's torso (an MLP over flattened observations, or a CNN of nn/torsos.py) and its output size."""
    if spec.activation not in ("tanh", "relu", "elu"):
        raise ValueError(f"activation {spec.activation!r} is not supported (allowed: tanh, relu, elu)")
    if spec.torso == "mlp":
        sizes = [spec.obs_size, *spec.hidden]
        return _mlp(sizes, spec.activation), sizes[-1]
    from asyncrl.nn.torsos import ConvTorso

    torso = ConvTorso(spec.torso, list(spec.obs_shape))
    return torso, torso.out_dim


def torso_input(spec: ModelSpec, obs: Tensor) -> Tensor:
    """``obs [T, B, *obs_shape]`` as the torso takes it: ``[T * B, O]`` floats for an MLP (``Discrete``
    observations one-hot), ``[T * B, C, H, W]`` images unchanged (uint8 until the CNN scales them)."""
    T, B = obs.shape[:2]
    if spec.torso != "mlp":
        return obs.reshape(T * B, *obs.shape[2:])
    if spec.obs_discrete_n:
        return torch.nn.functional.one_hot(obs.long(), spec.obs_discrete_n).float().reshape(T * B, -1)
    return obs.float().reshape(T * B, -1)


class ActorCritic(nn.Module):
    """MLP torso, optional LSTM core, policy and value heads. See the module docstring."""

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
        self.critic_torso = _mlp(sizes, spec.activation) if spec.separate_critic and not spec.lstm else None
        self.policy_head = orthogonal_init(nn.Linear(feat, spec.action_dim), 0.01)
        self.value_head = orthogonal_init(nn.Linear(feat, 1), 1.0)
        if spec.action_kind == "continuous":
            self.log_std = nn.Parameter(torch.full((spec.action_dim,), float(spec.log_std_init)))

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
        feats = self.torso(x)
        if self.core is not None:
            assert core_state is not None, "LSTM models need a core state"
            h, c = core_state
            keep = (~first).to(feats.dtype).unsqueeze(-1)
            feats = feats.reshape(T, B, -1)
            outs = []
            for t in range(T):
                h, c = self.core(feats[t], (h * keep[t], c * keep[t]))
                outs.append(h)
            feats = torch.stack(outs).reshape(T * B, -1)
            core_state = (h, c)
        critic_feats = self.critic_torso(x) if self.critic_torso is not None else feats
        params = self.policy_head(feats).reshape(T, B, -1)
        value = self.value_head(critic_feats).reshape(T, B)
        return PolicyOutput(params, value, core_state)

    # ---- acting -----------------------------------------------------------------------
    @torch.no_grad()
    def act(
        self, obs: Tensor, core_state: CoreState, first: Tensor, deterministic: bool = False
    ) -> tuple[Tensor, Tensor, CoreState]:
        """One step for ``B`` envs: ``obs [B, *obs_shape]``, ``first [B]`` ->
        ``(actions [B] or [B, A], value [B], core state)``."""
        out = self.forward(obs.unsqueeze(0), core_state, first.unsqueeze(0))
        return self.sample(out.params[0], deterministic), out.value[0], out.core_state

    def sample(self, params: Tensor, deterministic: bool = False) -> Tensor:
        """Actions from head outputs ``params [..., A]``."""
        if self.spec.action_kind == "discrete":
            return heads.categorical_sample(params, deterministic)
        return heads.gaussian_sample(params, self.log_std, deterministic)

    def log_prob_entropy(self, params: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """``params [..., A]``, ``actions [...]`` or ``[..., A]`` -> ``(log_prob [...], entropy [...])``."""
        if self.spec.action_kind == "discrete":
            return heads.categorical_log_prob_entropy(params, actions)
        return heads.gaussian_log_prob_entropy(params, self.log_std, actions)

    def env_actions(self, actions: Tensor | np.ndarray) -> np.ndarray:
        """Actions as the env takes them: int indices, or floats clipped to the action bounds."""
        a = actions.numpy() if isinstance(actions, Tensor) else actions
        if self.spec.action_kind == "continuous":
            a = np.clip(a, self.spec.action_low, self.spec.action_high).astype(np.float32)
        return a
