"""Torsos: the MLP over flattened observations (``mlp``), and convolutional torsos for image
observations ``uint8 [C, H, W]`` (scaled to [0, 1] inside):

- ``a3c-cnn``: the A3C paper's small network (Mnih et al., 2016, after Mnih et al., 2013): 16 8x8
  filters stride 4, 32 4x4 stride 2, a 256-unit fully connected layer; ReLU.
- ``nature-cnn``: the DQN Nature network (Mnih et al., 2015): 32 8x8/4, 64 4x4/2, 64 3x3/1, 512 units.
- ``impala-cnn``: the IMPALA paper's residual network (Espeholt et al., 2018): three stages of
  (16, 32, 32) channels, each a 3x3 convolution, 3x3 max-pool stride 2 and two residual blocks,
  then 256 units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from asyncrl.nn.layers import LayerT, mlp, orthogonal_init
from asyncrl.nn.spec import ModelSpec

CNN_TORSOS = ("a3c-cnn", "nature-cnn", "impala-cnn")


def _orthogonal(m: LayerT, gain: float = np.sqrt(2)) -> LayerT:
    return orthogonal_init(m, gain)


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv0 = _orthogonal(nn.Conv2d(c, c, 3, padding=1))
        self.conv1 = _orthogonal(nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ConvTorso(nn.Module):
    """``obs [N, C, H, W]`` (any dtype; uint8 frames are divided by 255) -> features ``[N, out_dim]``."""

    def __init__(self, kind: str, obs_shape: list[int]):
        super().__init__()
        if kind not in CNN_TORSOS:
            raise ValueError(f"torso {kind!r} is not supported (allowed: mlp, {', '.join(CNN_TORSOS)})")
        if len(obs_shape) != 3 or min(obs_shape[1:]) < 36:
            raise ValueError(
                f"--torso {kind} needs [C, H, W] image observations of at least 36x36, "
                f"got shape {obs_shape} (use --torso mlp)"
            )
        c = obs_shape[0]
        if kind == "a3c-cnn":
            convs = [
                _orthogonal(nn.Conv2d(c, 16, 8, stride=4)),
                nn.ReLU(),
                _orthogonal(nn.Conv2d(16, 32, 4, stride=2)),
                nn.ReLU(),
            ]
            hidden = 256
        elif kind == "nature-cnn":
            convs = [
                _orthogonal(nn.Conv2d(c, 32, 8, stride=4)),
                nn.ReLU(),
                _orthogonal(nn.Conv2d(32, 64, 4, stride=2)),
                nn.ReLU(),
                _orthogonal(nn.Conv2d(64, 64, 3, stride=1)),
                nn.ReLU(),
            ]
            hidden = 512
        else:
            convs = []
            for out in (16, 32, 32):
                convs += [
                    _orthogonal(nn.Conv2d(c, out, 3, padding=1)),
                    nn.MaxPool2d(3, stride=2, padding=1),
                    _Residual(out),
                    _Residual(out),
                ]
                c = out
            convs.append(nn.ReLU())
            hidden = 256
        self.convs = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Sequential(_orthogonal(nn.Linear(flat, hidden)), nn.ReLU())
        self.out_dim = hidden

    def forward(self, obs: Tensor) -> Tensor:
        """``obs [N, C, H, W]`` (uint8 frames are scaled to [0, 1]) -> features ``[N, out_dim]``."""
        x = obs.float()
        if obs.dtype == torch.uint8:
            x = x / 255.0
        if torch.is_grad_enabled() and x.device.type == "cpu":
            # A pass that will be differentiated (the learner's, a Hogwild worker's) runs channels-last: on CPU,
            # oneDNN's convolution backward is about twice as fast that way (BENCHMARKS, "A cheaper learner step").
            # Acting (no gradient) stays contiguous, whose forward is the faster one.
            x = x.contiguous(memory_format=torch.channels_last)
        return self.fc(self.convs(x))


class MultiInputTorso(nn.Module):
    """Dict/Tuple observations, flattened (``obs [N, size]``, :mod:`asyncrl.envs.multi_input`): each image entry
    through its own A3C CNN, Discrete entries one-hot, the Box entries (and the one-hot vectors) through one MLP
    (``hidden``, ``activation``); the features side by side -> ``[N, out_dim]``."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.parts = spec.obs_parts
        cnns = [ConvTorso("a3c-cnn", p["shape"]) for p in self.parts if p["kind"] == "image"]
        self.cnns = nn.ModuleList(cnns)
        flat = sum(p["n"] if p["kind"] == "discrete" else p["size"] for p in self.parts if p["kind"] != "image")
        self.mlp = mlp([flat, *spec.hidden], spec.activation) if flat else None
        self.out_dim = sum(c.out_dim for c in cnns) + (spec.hidden[-1] if flat else 0)

    def forward(self, obs: Tensor) -> Tensor:
        feats, flat, cnns, start = [], [], iter(self.cnns), 0
        for p in self.parts:
            x = obs[:, start : start + p["size"]]
            start += p["size"]
            if p["kind"] == "image":
                feats.append(next(cnns)(x.reshape(-1, *p["shape"]) / 255.0))
            elif p["kind"] == "discrete":
                flat.append(nn.functional.one_hot(x[:, 0].long(), p["n"]).float())
            else:
                flat.append(x)
        if self.mlp is not None:
            feats.append(self.mlp(torch.cat(flat, -1)))
        return torch.cat(feats, -1)


def build_torso(spec: ModelSpec) -> tuple[nn.Module, int]:
    """The spec's torso (an MLP over flattened observations, a CNN of nn/torsos.py, or the multi-input torso of
    Dict/Tuple observations) and its output size."""
    if spec.activation not in ("tanh", "relu", "elu"):
        raise ValueError(f"activation {spec.activation!r} is not supported (allowed: tanh, relu, elu)")
    if spec.torso == "multi-input":
        multi = MultiInputTorso(spec)
        return multi, multi.out_dim
    if spec.torso == "mlp":
        sizes = [spec.obs_size, *spec.hidden]
        return mlp(sizes, spec.activation), sizes[-1]
    torso = ConvTorso(spec.torso, list(spec.obs_shape))
    return torso, torso.out_dim


def torso_input(spec: ModelSpec, obs: Tensor) -> Tensor:
    """``obs [T, B, *obs_shape]`` as the torso takes it: ``[T * B, O]`` floats for an MLP (``Discrete``
    observations one-hot), ``[T * B, C, H, W]`` images unchanged (uint8 until the CNN scales them)."""
    T, B = obs.shape[:2]
    if spec.torso == "multi-input":
        return obs.float().reshape(T * B, -1)
    if spec.torso != "mlp":
        return obs.reshape(T * B, *obs.shape[2:])
    if spec.obs_discrete_n:
        return torch.nn.functional.one_hot(obs.long(), spec.obs_discrete_n).float().reshape(T * B, -1)
    return obs.float().reshape(T * B, -1)
