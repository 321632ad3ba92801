"""Building blocks shared by the networks: orthogonal initialisation, MLPs, and an LSTM cell run over a rollout."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn


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


def lstm_over_time(
    cell: nn.LSTMCell, x: Tensor, state: tuple[Tensor, Tensor], first: Tensor
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """``cell`` over ``T`` steps, its state zeroed where an episode starts.

    Args:
        x: ``[T, B, D]`` inputs.
        state: ``(h, c)``, each ``[B, H]``, before ``x[0]``.
        first: ``[T, B]`` bool, step ``t`` starts an episode (the state is zeroed before it).

    Returns:
        ``(h of every step [T, B, H], (h, c) after the last step)``: the same as calling ``cell`` step by step.
        The steps between episode starts go through one ``torch.lstm`` call (the fused op behind ``nn.LSTM``,
        here with the cell's weights), whose forward and backward take 3-5x less time than a loop of cell calls
        on a CPU; a single step calls the cell.
    """
    T = x.shape[0]
    h, c = state
    starts = first.any(1).tolist()
    if T == 1:
        if starts[0]:
            keep = (~first[0]).to(x.dtype).unsqueeze(-1)
            h, c = h * keep, c * keep
        h, c = cell(x[0], (h, c))
        return h.unsqueeze(0), (h, c)
    weights = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    cuts = [t for t in range(1, T) if starts[t]] + [T]
    outs, begin = [], 0
    for end in cuts:
        if starts[begin]:
            keep = (~first[begin]).to(x.dtype).unsqueeze(-1)
            h, c = h * keep, c * keep
        out, h1, c1 = torch.lstm(x[begin:end], (h[None], c[None]), weights, True, 1, 0.0, True, False, False)
        outs.append(out)
        h, c, begin = h1[0], c1[0], end
    return torch.cat(outs) if len(outs) > 1 else outs[0], (h, c)
