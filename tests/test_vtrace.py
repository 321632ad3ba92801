"""V-trace against a slow loop in the paper's notation, and its identities."""

from __future__ import annotations

import math

import pytest
import torch

from asyncrl.losses.returns import n_step_returns
from asyncrl.losses.vtrace import vtrace


def _paper_vtrace(log_rhos, discounts, rewards, values, bootstrap, rho_bar, c_bar, pg_rho_bar, lam):
    """Espeholt et al. (2018), eq. (1), summed explicitly per env column (plain Python floats)."""
    T, B = len(rewards), len(rewards[0])
    vs = [[0.0] * B for _ in range(T)]
    adv = [[0.0] * B for _ in range(T)]
    for b in range(B):
        V = [values[t][b] for t in range(T)] + [bootstrap[b]]
        ratio = [math.exp(log_rhos[t][b]) for t in range(T)]
        for s in range(T):
            total = V[s]
            for t in range(s, T):
                coef = 1.0
                for i in range(s, t):  # prod_{i=s}^{t-1} gamma_i c_i
                    coef *= discounts[i][b] * lam * min(c_bar, ratio[i])
                delta = min(rho_bar, ratio[t]) * (rewards[t][b] + discounts[t][b] * V[t + 1] - V[t])
                total += coef * delta
            vs[s][b] = total
        for s in range(T):
            nxt = vs[s + 1][b] if s + 1 < T else bootstrap[b]
            adv[s][b] = min(pg_rho_bar, ratio[s]) * (rewards[s][b] + discounts[s][b] * nxt - V[s])
    return vs, adv


def _random(T, B, seed):
    g = torch.Generator().manual_seed(seed)
    log_rhos = torch.randn(T, B, generator=g, dtype=torch.float64) * 0.7
    discounts = 0.95 * (torch.rand(T, B, generator=g, dtype=torch.float64) > 0.2).double()
    rewards = torch.randn(T, B, generator=g, dtype=torch.float64)
    values = torch.randn(T, B, generator=g, dtype=torch.float64)
    bootstrap = torch.randn(B, generator=g, dtype=torch.float64)
    return log_rhos, discounts, rewards, values, bootstrap


@pytest.mark.parametrize("T, B", [(1, 1), (5, 3), (12, 4)])
@pytest.mark.parametrize(
    "rho_bar, c_bar, pg_rho_bar, lam", [(1.0, 1.0, 1.0, 1.0), (0.8, 0.5, 2.0, 1.0), (10.0, 10.0, 10.0, 0.9)]
)
def test_matches_the_paper_loop(T, B, rho_bar, c_bar, pg_rho_bar, lam):
    args = _random(T, B, seed=T * 10 + B)
    out = vtrace(*args, rho_bar=rho_bar, c_bar=c_bar, pg_rho_bar=pg_rho_bar, lambda_=lam)
    ref_vs, ref_adv = _paper_vtrace(*(a.tolist() for a in args), rho_bar, c_bar, pg_rho_bar, lam)
    torch.testing.assert_close(out.vs, torch.tensor(ref_vs, dtype=torch.float64), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out.pg_advantages, torch.tensor(ref_adv, dtype=torch.float64), rtol=1e-10, atol=1e-10)


def test_on_policy_equals_n_step_returns():
    _, discounts, rewards, values, bootstrap = _random(8, 5, seed=1)
    out = vtrace(torch.zeros(8, 5, dtype=torch.float64), discounts, rewards, values, bootstrap)
    torch.testing.assert_close(out.vs, n_step_returns(rewards, discounts, bootstrap))


def test_zero_discount_cuts_the_trace():
    log_rhos, discounts, rewards, values, bootstrap = _random(6, 2, seed=2)
    discounts[2] = 0.0
    a = vtrace(log_rhos, discounts, rewards, values, bootstrap).vs
    rewards2 = rewards.clone()
    rewards2[3:] += 5.0
    b = vtrace(log_rhos, discounts, rewards2, values, bootstrap).vs
    torch.testing.assert_close(a[:3], b[:3])  # nothing after the cut reaches steps 0..2
    assert not torch.allclose(a[3:], b[3:])


def test_clipping_limits_the_importance_weight():
    T, B = 4, 2
    _, discounts, rewards, values, bootstrap = _random(T, B, seed=3)
    big = torch.full((T, B), 5.0, dtype=torch.float64)  # pi/mu = e^5, clipped to 1 everywhere
    torch.testing.assert_close(
        vtrace(big, discounts, rewards, values, bootstrap).vs,
        vtrace(torch.zeros(T, B, dtype=torch.float64), discounts, rewards, values, bootstrap).vs,
    )


def test_truncation_bootstraps_from_the_final_observation():
    # A time limit after step 1: the folded reward r + gamma * V(final_obs) and a zero discount make
    # v_1 exactly that one-step target (on-policy), and nothing of the next episode leaks back.
    from asyncrl.losses.returns import fold_truncation_bootstrap

    gamma = 0.9
    r = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    d = torch.full((3, 1), gamma, dtype=torch.float64)
    trunc = torch.tensor([[False], [True], [False]])
    v_final = torch.tensor([[0.0], [10.0], [0.0]], dtype=torch.float64)
    r_t, discount_t = fold_truncation_bootstrap(r, d, trunc, v_final, gamma)
    values = torch.tensor([[0.5], [0.25], [-1.0]], dtype=torch.float64)
    boot = torch.tensor([4.0], dtype=torch.float64)
    vs = vtrace(torch.zeros(3, 1, dtype=torch.float64), discount_t, r_t, values, boot).vs
    assert vs[1, 0].item() == pytest.approx(2.0 + gamma * 10.0)
    assert vs[0, 0].item() == pytest.approx(1.0 + gamma * (2.0 + gamma * 10.0))
    assert vs[2, 0].item() == pytest.approx(3.0 + gamma * 4.0)
