"""Building blocks shared by the networks: orthogonal initialisation and MLPs."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from torch import nn


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]``, each orthogonally initialised (gain sqrt 2) and activated."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}[activation]
    layers: list[nn.Module] = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        layers += [orthogonal_init(nn.Linear(i, o), np.sqrt(2)), act()]
    return nn.Sequential(*layers)


LayerT = TypeVar("LayerT", nn.Linear, nn.Conv2d)


def orthogonal_init(layer: LayerT, gain: float) -> LayerT:
    """Orthogonal weights with ``gain``, zero bias (linear and convolutional layers)."""
    nn.init.orthogonal_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer
