"""The dilated LSTM of FeUdal Networks' Manager (Vezhnevets et al., 2017, section 3.2).

``r`` separate groups of LSTM state ("cores") share one set of weights. At an episode's step ``t``
only core ``t % r`` reads the input and updates; the others keep their state. The output is
pooled (summed) over the cores' latest outputs, i.e. over the last ``r`` steps' outputs, so
the Manager can remember for ``r`` times longer than an LSTM of the same size while still
producing an output at every step.

Over a rollout of ``T`` steps, core ``j``'s inputs are ``r`` steps apart (within an episode), so
:meth:`DilatedLSTM.sequence` runs the cell ``ceil(T / r)`` times on ``r x B`` rows at once instead of ``T`` times
on ``B``: the same computation as :meth:`DilatedLSTM.step` step by step, in fewer and larger matrix products.

Shapes: ``T`` steps, ``B`` envs, ``D`` input size, ``H`` hidden size, ``r`` dilation.
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
        h = h.index_put((rows, idx), h_new)  # (out of place: the caller's state stays as it was)
        c = c.index_put((rows, idx), c_new)
        return h.sum(1), h, c

    def sequence(
        self, x: Tensor, h: Tensor, c: Tensor, tick: Tensor, first: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`step` over ``T`` steps, with every core's state and the tick reset where an episode starts.

        Args:
            x: ``[T, B, D]`` inputs.
            h, c: ``[B, r, H]`` the cores' states before the rollout.
            tick: ``[B]`` the step index within the episode of the rollout's first step (were it not reset).
            first: ``[T, B]`` bool, step ``t`` starts an episode (its state and tick start from zero).

        Returns:
            ``(pooled [T, B, H], h, c, tick)``: the pooled output of every step, the cores' states and the tick
            after the last step.
        """
        T, B = first.shape
        if T == 1:  # (acting: one step, cheaper as it is)
            keep = (~first[0]).to(x.dtype)
            tick = tick * keep
            pooled, h, c = self.step(x[0], h * keep.view(B, 1, 1), c * keep.view(B, 1, 1), tick)
            return pooled.unsqueeze(0), h, c, tick + 1
        r, H = self.dilation, self.hidden_size
        steps = torch.arange(T, device=x.device).unsqueeze(1)  # [T, 1]
        start = torch.where(first, steps, -1).cummax(0).values  # [T, B]: step t's episode start, -1 before
        ticks = torch.where(start >= 0, steps - start, tick.long() + steps)  # [T, B]
        before = (tick.long().unsqueeze(1) + torch.arange(r, device=x.device)) % r  # [B, r]: cores of t = -r..-1
        h_before, c_before = (a.gather(1, before.unsqueeze(-1).expand(B, r, H)) for a in (h, c))
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for n in range(0, T, r):  # round n / r: steps n .. n + r - 1, each core's next input
            L = min(r, T - n)
            if n == 0:
                core = (ticks[:L] % r).t().unsqueeze(-1).expand(B, L, H)
                h_in, c_in = (a.gather(1, core).transpose(0, 1) for a in (h, c))  # [L, B, H]
                keep = start[:L] < 0
            else:
                h_in, c_in = hs[-1][:L], cs[-1][:L]  # (the outputs r steps before)
                keep = steps[n : n + L] - r >= start[n : n + L]
            k = keep.to(x.dtype).unsqueeze(-1)
            h_new, c_new = self.cell(
                x[n : n + L].reshape(L * B, -1), ((h_in * k).reshape(L * B, H), (c_in * k).reshape(L * B, H))
            )
            hs.append(h_new.view(L, B, H))
            cs.append(c_new.view(L, B, H))
        out_h, out_c = torch.cat(hs), torch.cat(cs)
        # each step's pool: the outputs of steps t - r + 1 .. t of its episode (the cores' latest), else zero
        lag = steps.unsqueeze(-1) + 1 - r + torch.arange(r, device=x.device)  # [T, 1, r]
        mask = ((start.unsqueeze(-1) < 0) | (lag >= start.unsqueeze(-1))).to(x.dtype)  # [T, B, r]
        recent = torch.cat([h_before.transpose(0, 1), out_h])  # [r + T, B, H]: steps -r .. T - 1
        pooled = recent[1 : 1 + T] * mask[..., :1]
        for i in range(1, r):  # (lag r - 1 - i; a loop of slices: an unfold's backward is a slow scatter)
            pooled = pooled + recent[1 + i : 1 + i + T] * mask[..., i : i + 1]
        tick_end = ticks[-1] + 1
        order = ((torch.arange(r, device=x.device) - tick_end.unsqueeze(1)) % r).unsqueeze(-1).expand(B, r, H)

        def last_states(before_: Tensor, out: Tensor) -> Tensor:  # core j's latest state, [B, r, H]
            last = torch.cat([before_.transpose(0, 1), out])[-r:].transpose(0, 1) * mask[-1].unsqueeze(-1)
            return last.gather(1, order)

        return pooled, last_states(h_before, out_h), last_states(c_before, out_c), tick_end.to(tick.dtype)
