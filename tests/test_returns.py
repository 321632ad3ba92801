"""n-step returns, GAE and the truncation bootstrap against slow reference loops and hand-computed cases.

The references use the explicit-sum form of each estimator (not the backward recursion the
library uses), one env column at a time, over plain Python lists:

``G_t = sum_{k=t}^{T-1} (prod_{j=t}^{k-1} d_j) r_k + (prod_{j=t}^{T-1} d_j) V(s_T)``
``A_t = sum_{k=t}^{T-1} (prod_{j=t}^{k-1} lambda d_j) delta_k``,
``delta_k = r_k + d_k V(s_{k+1}) - V(s_k)``.
"""

import pytest
import torch

from asyncrl.losses.returns import fold_truncation_bootstrap, gae_advantages, n_step_returns

SHAPES = [(1, 1), (5, 1), (7, 3), (20, 4), (33, 8)]
GAMMA = 0.97


def _random_case(T, B, seed, p_term=0.2):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(T, B, generator=g, dtype=torch.float64)
    terminated = torch.rand(T, B, generator=g, dtype=torch.float64) < p_term
    d = torch.where(terminated, 0.0, GAMMA).to(torch.float64)
    v = torch.randn(T, B, generator=g, dtype=torch.float64)
    boot = torch.randn(B, generator=g, dtype=torch.float64)
    return r, d, v, boot


def _ref_n_step_column(r, d, boot):
    """Explicit sum over one env's lists."""
    T = len(r)
    out = []
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, T):
            total += weight * r[k]
            weight *= d[k]
        total += weight * boot
        out.append(total)
    return out


def _ref_gae_column(r, d, v, boot, lam):
    T = len(r)
    v_next = v[1:] + [boot]
    delta = [r[k] + d[k] * v_next[k] - v[k] for k in range(T)]
    out = []
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, T):
            total += weight * delta[k]
            weight *= lam * d[k]
        out.append(total)
    return out


def _columns(fn, *tensors_and_boot, extra=()):
    """Apply a per-column reference to [T, B] tensors (and a [B] bootstrap), return [T, B]."""
    *mats, boot = tensors_and_boot
    B = boot.shape[0]
    cols = []
    for b in range(B):
        cols.append(fn(*[m[:, b].tolist() for m in mats], float(boot[b]), *extra))
    return torch.tensor(cols, dtype=torch.float64).T


@pytest.mark.parametrize("T,B", SHAPES)
def test_n_step_returns_match_reference(T, B):
    r, d, _, boot = _random_case(T, B, seed=T * 100 + B)
    got = n_step_returns(r, d, boot)
    assert got.shape == (T, B)
    want = _columns(_ref_n_step_column, r, d, boot)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("T,B", SHAPES)
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_matches_reference(T, B, lam):
    r, d, v, boot = _random_case(T, B, seed=T * 100 + B + 1)
    got = gae_advantages(r, d, v, boot, lam)
    assert got.shape == (T, B)
    want = _columns(_ref_gae_column, r, d, v, boot, extra=(lam,))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_float32_inputs_agree_with_float64_reference():
    r, d, v, boot = _random_case(16, 3, seed=7)
    got = n_step_returns(r.float(), d.float(), boot.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _columns(_ref_n_step_column, r, d, boot), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("T,B", SHAPES)
def test_gae_lambda_one_plus_values_is_n_step_return(T, B):
    r, d, v, boot = _random_case(T, B, seed=T + B)
    adv = gae_advantages(r, d, v, boot, 1.0)
    torch.testing.assert_close(adv + v, n_step_returns(r, d, boot), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("T,B", SHAPES)
def test_gae_lambda_zero_is_one_step_td_error(T, B):
    r, d, v, boot = _random_case(T, B, seed=T + B + 3)
    adv = gae_advantages(r, d, v, boot, 0.0)
    td = torch.empty_like(r)
    for t in range(T):
        v_next = boot if t == T - 1 else v[t + 1]
        td[t] = r[t] + d[t] * v_next - v[t]
    torch.testing.assert_close(adv, td, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lam", [None, 0.0, 0.7, 1.0])
def test_zero_discount_cuts_the_trace(lam):
    """Rewards, values and the bootstrap after a zero discount do not reach earlier steps."""
    T, B, cut = 10, 3, 4
    r, d, v, boot = _random_case(T, B, seed=11, p_term=0.0)
    d[cut, 1] = 0.0  # env 1 terminates after step `cut`

    def estimate(r, v, boot):
        if lam is None:
            return n_step_returns(r, d, boot)
        return gae_advantages(r, d, v, boot, lam)

    base = estimate(r, v, boot)
    r2, v2, boot2 = r.clone(), v.clone(), boot.clone()
    r2[cut + 1 :] += 5.0
    v2[cut + 1 :] -= 3.0
    boot2 += 7.0
    changed = estimate(r2, v2, boot2)
    # Env 1: steps up to and including the cut are unaffected...
    torch.testing.assert_close(changed[: cut + 1, 1], base[: cut + 1, 1], rtol=0, atol=1e-12)
    # ...but the steps after it do change, and so do the same early steps of the envs without a
    # cut (all of them; with lambda = 0 only step `cut`, whose TD error reads V(s_{cut+1})).
    assert (changed[cut + 1 :, 1] - base[cut + 1 :, 1]).abs().min() > 1e-3
    early = slice(cut, cut + 1) if lam == 0.0 else slice(0, cut + 1)
    assert (changed[early, 0] - base[early, 0]).abs().min() > 1e-6
    assert (changed[early, 2] - base[early, 2]).abs().min() > 1e-6


def test_n_step_returns_hand_computed():
    # Env 0: gamma 0.5 throughout, r = [1, 0, 2], V(s_T) = 4.
    #   G_2 = 2 + 0.5 * 4 = 4;  G_1 = 0 + 0.5 * 4 = 2;  G_0 = 1 + 0.5 * 2 = 2.
    # Env 1: r = [1, 1, 1], terminated after step 1 (d_1 = 0), V(s_T) = 8.
    #   G_2 = 1 + 0.5 * 8 = 5;  G_1 = 1 + 0 * 5 = 1;  G_0 = 1 + 0.5 * 1 = 1.5.
    r = torch.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 1.0]])
    d = torch.tensor([[0.5, 0.5], [0.5, 0.0], [0.5, 0.5]])
    boot = torch.tensor([4.0, 8.0])
    want = torch.tensor([[2.0, 1.5], [2.0, 1.0], [4.0, 5.0]])
    torch.testing.assert_close(n_step_returns(r, d, boot), want)


def _truncation_case():
    # T=3, B=2, gamma=0.9. Env 0 is truncated (time limit) after step 1; env 1 terminates after step 2.
    gamma = 0.9
    r = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    d = torch.tensor([[gamma, gamma], [gamma, gamma], [gamma, 0.0]])
    trunc = torch.tensor([[False, False], [True, False], [False, False]])
    # Only [1, 0] is read; the rest is garbage that must be ignored.
    v_final = torch.tensor([[100.0, -100.0], [10.0, 50.0], [-7.0, 9.0]])
    return gamma, r, d, trunc, v_final


def test_fold_truncation_bootstrap_hand_computed():
    gamma, r, d, trunc, v_final = _truncation_case()
    r_f, d_f = fold_truncation_bootstrap(r, d, trunc, v_final, gamma)
    # Folded reward at [1, 0]: 3 + 0.9 * 10 = 12, and its discount is cut to 0.
    want_r = torch.tensor([[1.0, 2.0], [12.0, 4.0], [5.0, 6.0]])
    want_d = torch.tensor([[0.9, 0.9], [0.0, 0.9], [0.9, 0.0]])
    torch.testing.assert_close(r_f, want_r)
    torch.testing.assert_close(d_f, want_d)
    # The inputs are not modified in place.
    assert r[1, 0] == 3.0 and d[1, 0] == gamma


def test_returns_before_truncation_bootstrap_from_final_obs_value():
    gamma, r, d, trunc, v_final = _truncation_case()
    boot = torch.tensor([7.0, 8.0])
    r_f, d_f = fold_truncation_bootstrap(r, d, trunc, v_final, gamma)
    G = n_step_returns(r_f, d_f, boot)
    # Env 0 by hand: G_2 = 5 + 0.9 * 7 = 11.3; G_1 = 3 + 0.9 * V(final) = 3 + 9 = 12; G_0 = 1 + 0.9 * 12 = 11.8.
    # Env 1 by hand: G_2 = 6 (terminated); G_1 = 4 + 0.9 * 6 = 9.4; G_0 = 2 + 0.9 * 9.4 = 10.46.
    want = torch.tensor([[11.8, 10.46], [12.0, 9.4], [11.3, 6.0]])
    torch.testing.assert_close(G, want)

    # Changing the next episode (its reward and the bootstrap) leaves env 0's earlier returns alone...
    r2 = r.clone()
    r2[2, 0] = -50.0
    G2 = n_step_returns(*fold_truncation_bootstrap(r2, d, trunc, v_final, gamma), torch.tensor([-30.0, 8.0]))
    torch.testing.assert_close(G2[:2, 0], G[:2, 0])
    assert G2[2, 0] != G[2, 0]
    # ...while changing V(final_obs) moves them: +1 in V(final) is +0.9 at t=1 and +0.81 at t=0.
    v2 = v_final.clone()
    v2[1, 0] += 1.0
    G3 = n_step_returns(*fold_truncation_bootstrap(r, d, trunc, v2, gamma), boot)
    torch.testing.assert_close(G3[:, 0] - G[:, 0], torch.tensor([0.81, 0.9, 0.0]))
    torch.testing.assert_close(G3[:, 1], G[:, 1])
