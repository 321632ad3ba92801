"""V-trace off-policy targets (Espeholt et al., 2018, "IMPALA", section 4.1) as a pure function.

Same conventions as :mod:`asyncrl.losses.returns`: time-major ``[T, B]`` tensors,
``discount_t`` is ``gamma`` or ``0`` where the episode terminated after step ``t``, and
truncated episodes have their bootstrap folded into ``r_t`` beforehand.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class VTraceOutput(NamedTuple):
    """``vs [T, B]``: value targets; ``pg_advantages [T, B]``: advantages for the policy gradient."""

    vs: Tensor
    pg_advantages: Tensor


@torch.no_grad()
def vtrace(
    log_rhos: Tensor,
    discount_t: Tensor,
    r_t: Tensor,
    v_t: Tensor,
    bootstrap: Tensor,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    pg_rho_bar: float = 1.0,
    lambda_: float = 1.0,
) -> VTraceOutput:
    """V-trace targets and policy-gradient advantages.

    With ``rho_t = min(rho_bar, pi/mu)``, ``c_t = lambda * min(c_bar, pi/mu)`` and
    ``delta_t = rho_t * (r_t + discount_t * V(x_{t+1}) - V(x_t))``:
    ``v_s = V(x_s) + delta_s + discount_s * c_s * (v_{s+1} - V(x_{s+1}))`` with ``v_T = V(x_T)``,
    and the policy-gradient advantage is
    ``min(pg_rho_bar, pi/mu)_s * (r_s + discount_s * v_{s+1} - V(x_s))``.
    On-policy (``log_rhos = 0``) with ``rho_bar = c_bar = lambda = 1``, ``vs`` equals the
    n-step returns of :func:`~asyncrl.losses.returns.n_step_returns`.

    Args:
        log_rhos: ``[T, B]`` ``log pi(a_t|x_t) - log mu(a_t|x_t)`` (target over behaviour policy).
        discount_t: ``[T, B]`` discounts.
        r_t: ``[T, B]`` rewards.
        v_t: ``[T, B]`` values ``V(x_t)`` under the current value function.
        bootstrap: ``[B]`` value ``V(x_T)``.
        rho_bar: truncation level of the importance weights in the value targets (the paper's default: 1).
        c_bar: truncation level of the trace coefficients (the paper's default: 1).
        pg_rho_bar: truncation level of the importance weights in the policy gradient (the paper's default: 1).
        lambda_: the trace-cutting lambda of the paper's remark 2 (1: plain V-trace).
    """
    rhos = torch.exp(log_rhos)
    clipped_rhos = torch.clamp(rhos, max=rho_bar)
    cs = lambda_ * torch.clamp(rhos, max=c_bar)
    v_tp1 = torch.cat([v_t[1:], bootstrap.unsqueeze(0)], dim=0)
    deltas = clipped_rhos * (r_t + discount_t * v_tp1 - v_t)
    acc = torch.zeros_like(bootstrap)
    vs_minus_v = torch.empty_like(v_t)
    for t in range(v_t.shape[0] - 1, -1, -1):
        acc = deltas[t] + discount_t[t] * cs[t] * acc
        vs_minus_v[t] = acc
    vs = vs_minus_v + v_t
    vs_tp1 = torch.cat([vs[1:], bootstrap.unsqueeze(0)], dim=0)
    pg_advantages = torch.clamp(rhos, max=pg_rho_bar) * (r_t + discount_t * vs_tp1 - v_t)
    return VTraceOutput(vs, pg_advantages)
