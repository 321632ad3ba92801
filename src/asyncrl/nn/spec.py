"""What a network is, as plain data: :class:`ModelSpec` (saved in checkpoints), built from an env's spaces."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model without its env (saved in checkpoints)."""

    obs_shape: list[int]
    obs_discrete_n: int = 0  # > 0: observations are Discrete(n) indices, one-hot encoded
    action_kind: str = "discrete"  # "discrete", "continuous", "multi-discrete" or "multi-binary"
    action_dim: int = 2  # discrete: the actions; continuous: the (flattened) dimensions; multi-*: the factors F
    action_low: list[float] = field(default_factory=list)  # continuous: bounds; multi-discrete: each factor's start
    action_high: list[float] = field(default_factory=list)
    action_nvec: list[int] = field(default_factory=list)  # multi-discrete: the categories of each factor
    action_shape: list[int] = field(default_factory=list)  # the env's action shape where it is not [action_dim]
    action_masks: bool = False  # the env gives info["action_mask"]: acting, the losses and evaluation mask logits
    obs_parts: list[dict] = field(default_factory=list)  # Dict/Tuple observations: the entries of the flat vector
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    lstm: bool = False
    lstm_size: int = 128
    separate_critic: bool = True
    log_std_init: float = 0.0
    bounded_mean: bool = False  # continuous: the Gaussian mean squashed into the action bounds (heads.bounded_mean)
    sde: bool = False  # continuous: gSDE, exploration noise linear in the policy's features (heads.sde_*)
    sde_sample_freq: int = 0  # gSDE: draw each env's noise matrix every this many steps (0: once per rollout)
    normalize_obs: bool = False  # a running observation normaliser (nn/normalize.py), clipped to +-obs_clip
    obs_clip: float = 10.0
    normalize_reward: bool = False  # a running return normaliser: actors scale rewards by its std
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
    def normalized_positions(self) -> list[int] | None:
        """What ``normalize_obs`` standardises of a flattened Dict/Tuple observation: the positions of its Box
        entries (images go to the CNN as they are, Discrete entries one-hot); ``None``: every element."""
        if self.torso != "multi-input":
            return None
        positions: list[int] = []
        start = 0
        for part in self.obs_parts:
            if part["kind"] == "box":
                positions.extend(range(start, start + part["size"]))
            start += part["size"]
        return positions

    @property
    def head_size(self) -> int:
        """Outputs of the policy head: logits (one per action, or per category of each factor, or per bit) or
        Gaussian means."""
        return sum(self.action_nvec) if self.action_kind == "multi-discrete" else self.action_dim

    @property
    def step_action_shape(self) -> tuple[int, ...]:
        """One env's action as a rollout stores it: ``()`` (an index) or ``(action_dim,)``."""
        return () if self.action_kind == "discrete" else (self.action_dim,)

    @property
    def value_shape(self) -> tuple[int, ...]:
        """Shape of one step's value: ``()``, or ``(2,)`` for FeUdal's Manager and Worker critics."""
        return (2,) if self.kind == "feudal" else ()

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_torso(obs_space: gym.Space, torso: str = "auto") -> str:
    """``torso``, with ``auto`` resolved: the A3C paper's small CNN for channels-first ``uint8``
    frames of a useful size (Atari, ViZDoom: ``[C <= 4, H, W >= 36]``), an MLP otherwise."""
    if getattr(obs_space, "parts", None):  # (flattened Dict/Tuple observations: envs/multi_input.py)
        return "multi-input"
    if torso != "auto":
        return torso
    shape: tuple[int, ...] = tuple(getattr(obs_space, "shape", None) or ())
    image = (
        isinstance(obs_space, gym.spaces.Box)
        and obs_space.dtype == np.uint8
        and len(shape) == 3
        and shape[0] <= 4
        and min(shape[1:]) >= 36
    )
    return "a3c-cnn" if image else "mlp"


def spec_from_spaces(obs_space: gym.Space, action_space: gym.Space, torso: str = "auto", **kwargs) -> ModelSpec:
    """Build a :class:`ModelSpec` for the given spaces; raises ``ValueError`` for unsupported ones.

    ``torso="auto"`` picks the A3C paper's small CNN for ``[C, H, W]`` images and an MLP otherwise.
    """
    torso = resolve_torso(obs_space, torso)
    kwargs["torso"] = torso
    if torso != "mlp":
        kwargs["separate_critic"] = False  # policy and value share the convolutional features
    if getattr(obs_space, "parts", None):
        kwargs["obs_parts"] = list(obs_space.parts)  # type: ignore[attr-defined]
    if isinstance(obs_space, gym.spaces.Box):
        obs_shape, obs_n = list(obs_space.shape), 0
    elif isinstance(obs_space, gym.spaces.Discrete):
        obs_shape, obs_n = [], int(obs_space.n)
    else:
        raise ValueError(f"observation space {obs_space} is not supported (allowed: Box, Discrete)")
    spec = ModelSpec(obs_shape, obs_n, **action_fields(action_space), **kwargs)
    if spec.action_masks and spec.action_kind not in ("discrete", "multi-discrete"):
        raise ValueError(f"action masks apply to Discrete and MultiDiscrete actions, not {action_space}")
    return spec


def action_fields(space: gym.Space) -> dict:
    """The :class:`ModelSpec` fields of an action space: ``Discrete`` (a categorical head), ``Box`` of any shape (a
    diagonal Gaussian over the flattened dimensions), ``MultiDiscrete`` (one categorical per factor) and
    ``MultiBinary`` (one Bernoulli per bit); ``ValueError`` for any other."""
    shape = [int(n) for n in getattr(space, "shape", ()) or ()]
    if isinstance(space, gym.spaces.Discrete):
        return dict(action_kind="discrete", action_dim=int(space.n))
    if isinstance(space, gym.spaces.Box):
        return dict(
            action_kind="continuous",
            action_dim=int(np.prod(shape, dtype=np.int64)),
            action_low=[float(x) for x in space.low.reshape(-1)],
            action_high=[float(x) for x in space.high.reshape(-1)],
            action_shape=shape if len(shape) != 1 else [],
        )
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = [int(n) for n in space.nvec.reshape(-1)]
        return dict(
            action_kind="multi-discrete",
            action_dim=len(nvec),
            action_nvec=nvec,
            action_low=[float(x) for x in np.asarray(space.start).reshape(-1)],
            action_shape=shape if len(shape) != 1 else [],
        )
    if isinstance(space, gym.spaces.MultiBinary):
        return dict(
            action_kind="multi-binary",
            action_dim=int(np.prod(shape, dtype=np.int64)),
            action_shape=shape if len(shape) != 1 else [],
        )
    raise ValueError(f"action space {space} is not supported (allowed: Discrete, Box, MultiDiscrete, MultiBinary)")


def spec_json(spec: ModelSpec) -> str:
    """``spec`` as a canonical JSON string (how it crosses to child processes)."""
    return json.dumps(spec.to_dict(), sort_keys=True)
