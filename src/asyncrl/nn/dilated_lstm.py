"""The dilated LSTM of FeUdal Networks' Manager (Vezhnevets et al., 2017, section 3.2).

``r`` separate groups of LSTM state ("cores") share one set of weights. At an episode's step ``t``
only core ``t % r`` reads the input and updates; the others keep their state. The output is
pooled (summed) over the cores' latest outputs, i.e. over the last ``r`` steps' outputs, so
the Manager can remember for ``r`` times longer than an LSTM of the same size while still
producing an output at every step.

Shapes: ``B`` envs, ``D`` input size, ``H`` hidden size, ``r`` dilation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DilatedLSTM(nn.Module):
    """``step(x [B, D], h [B, r, H], c [B, r, H], tick [B]) -> (pooled [B, H], h, c)``."""

    def __init__(self, input_size: int, hidden_size: int, dilation: int):
        super().__init__()
        if dilation < 1:
            raise ValueError(f"dilation must be a positive integer, got {dilation}")
        self.hidden_size, self.dilation = hidden_size, dilation
        self.cell = nn.LSTMCell(input_size, hidden_size)
        nn.init.zeros_(self.cell.bias_ih)
        nn.init.zeros_(self.cell.bias_hh)

    def initial_state(self, batch: int) -> tuple[Tensor, Tensor]:
        """Zero ``(h [B, r, H], c [B, r, H])``."""
        h = torch.zeros(batch, self.dilation, self.hidden_size)
        return h, h.clone()

    def step(self, x: Tensor, h: Tensor, c: Tensor, tick: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Advance core ``tick % r`` of every env by one step.

        Args:
            x: ``[B, D]`` input.
            h, c: ``[B, r, H]`` the cores' states.
            tick: ``[B]`` the step index within the episode (any numeric dtype).

        Returns:
            ``(pooled [B, H], h [B, r, H], c [B, r, H])``: the sum of the cores' hidden states
            after the update (the last ``r`` outputs), and the new states (only one core per env
            changed; the rest are the inputs, unchanged).
        """
        B = x.shape[0]
        idx = tick.long() % self.dilation
        rows = torch.arange(B, device=x.device)
        h_new, c_new = self.cell(x, (h[rows, idx], c[rows, idx]))
        sel = nn.functional.one_hot(idx, self.dilation).to(torch.bool).unsqueeze(-1)  # [B, r, 1]
        h = torch.where(sel, h_new.unsqueeze(1), h)
        c = torch.where(sel, c_new.unsqueeze(1), c)
        return h.sum(1), h, c
