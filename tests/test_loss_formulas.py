"""The A2C/A3C, IMPALA and APPO losses against totals computed by hand from their formulas.

A tiny rollout (``T = 2`` steps, ``B = 2`` envs, two actions; env 1 terminates after step 0) is
fed through the library's loss functions by a table "model" whose policy logits and values are
leaf parameters chosen by hand. The expected numbers are written out here in plain Python from
the published formulas:

- A2C: ``-mean(log pi(a_t) A_t) + value_coef * 0.5 * mean((G_t - V_t)^2) - entropy_coef * mean(H_t)``
  with n-step returns ``G_t = r_t + d_t G_{t+1}``, ``G_T = V_T``, and ``A_t = G_t - V_t``;
- IMPALA: the same on V-trace targets ``v_s`` and advantages ``min(1, pi/mu)(r_s + d_s v_{s+1} - V_s)``;
- APPO: ``-mean(min(ratio A, clip(ratio, 1 +- eps) A)) + value_coef * 0.5 * mean((v_s - V_s)^2)
  - entropy_coef * mean(H) + kl_coef * mean(ratio - 1 - log ratio)``.

Besides the totals (which pin the entropy sign and the ``0.5 * value_coef`` factor), each loss is
checked to treat advantages and targets as constants: its policy term gives the value parameters
no gradient, and its value term gives the policy logits none.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from asyncrl.algos.actor_critic import rollout_loss
from asyncrl.algos.appo import APPOConfig, appo_loss
from asyncrl.algos.impala import VTraceConfig, impala_loss
from asyncrl.core.batch import Rollout
from asyncrl.core.sections import LossConfig
from asyncrl.losses.actor_critic import actor_critic_loss
from asyncrl.nn import heads
from asyncrl.nn.model import PolicyOutput

F64 = torch.float64
T, B = 2, 2
# pi(.|x_t) for t = 0..T (the last row is the bootstrap observation's; its policy is unused)
PROBS = [[[0.25, 0.75], [0.5, 0.5]], [[2 / 3, 1 / 3], [0.1, 0.9]], [[0.5, 0.5], [0.5, 0.5]]]
VALUES = [[0.5, -0.3], [-0.2, 0.4], [1.0, 2.0]]  # V(x_t), t = 0..T
ACTIONS = [[1, 0], [0, 1]]
REWARDS = [[1.0, 0.5], [2.0, -1.0]]
DISCOUNTS = [[0.9, 0.0], [0.9, 0.9]]  # env 1 terminated after step 0
MU = [[0.5, 0.6], [0.8, 0.3]]  # behaviour probabilities of the actions taken: ratios 1.5, 5/6, 5/6, 3


class TableModel(nn.Module):
    """Hand-set logits ``[T + 1, B, 2]`` and values ``[T + 1, B]`` as leaf parameters, whatever the obs."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(PROBS, dtype=F64).log())
        self.values = nn.Parameter(torch.tensor(VALUES, dtype=F64))

    def forward(self, obs, core_state, first):
        return PolicyOutput(self.logits, self.values, core_state)

    def log_prob_entropy(self, params, actions, mask=None):
        return heads.categorical_log_prob_entropy(params, actions)


def _batch(behaviour: bool = False) -> Rollout:
    return Rollout(
        obs=torch.zeros(T + 1, B, 1),
        first=torch.zeros(T + 1, B, dtype=torch.bool),
        actions=torch.tensor(ACTIONS),
        r_t=torch.tensor(REWARDS, dtype=F64),
        discount_t=torch.tensor(DISCOUNTS, dtype=F64),
        core_state=None,
        behaviour_logp=torch.tensor(MU, dtype=F64).log() if behaviour else None,
    )


# ---- the formulas, by hand ------------------------------------------------------------------


def _pi(t, b):
    return PROBS[t][b][ACTIONS[t][b]]


def _ratio(t, b):
    return _pi(t, b) / MU[t][b]


def _mean_entropy():
    return sum(-sum(p * math.log(p) for p in PROBS[t][b]) for t in range(T) for b in range(B)) / (T * B)


def _nstep_returns():
    G = [[0.0] * B for _ in range(T)]
    for b in range(B):
        g = VALUES[T][b]
        for t in reversed(range(T)):
            g = REWARDS[t][b] + DISCOUNTS[t][b] * g
            G[t][b] = g
    return G


def _vtrace(rho_bar=1.0, c_bar=1.0):
    """Espeholt et al. (2018) eq. 1: ``v_s = V_s + delta_s + d_s c_s (v_{s+1} - V_{s+1})``, ``v_T = V_T``."""
    vs = [[0.0] * B for _ in range(T)]
    for b in range(B):
        nxt_vs = VALUES[T][b]
        for s in reversed(range(T)):
            rho, c = min(rho_bar, _ratio(s, b)), min(c_bar, _ratio(s, b))
            delta = rho * (REWARDS[s][b] + DISCOUNTS[s][b] * VALUES[s + 1][b] - VALUES[s][b])
            vs[s][b] = VALUES[s][b] + delta + DISCOUNTS[s][b] * c * (nxt_vs - VALUES[s + 1][b])
            nxt_vs = vs[s][b]
    return vs


def _one_step_adv(targets, weight=lambda t, b: 1.0):
    """``weight(t, b) * (r_t + d_t targets_{t+1} - V_t)`` with ``targets_T = V_T``."""
    out = [[0.0] * B for _ in range(T)]
    for b in range(B):
        for t in range(T):
            nxt = targets[t + 1][b] if t + 1 < T else VALUES[T][b]
            out[t][b] = weight(t, b) * (REWARDS[t][b] + DISCOUNTS[t][b] * nxt - VALUES[t][b])
    return out


def _gae(lam):
    adv = [[0.0] * B for _ in range(T)]
    for b in range(B):
        a = 0.0
        for t in reversed(range(T)):
            delta = REWARDS[t][b] + DISCOUNTS[t][b] * VALUES[t + 1][b] - VALUES[t][b]
            a = delta + DISCOUNTS[t][b] * lam * a
            adv[t][b] = a
    return adv


def _mean(f):
    return sum(f(t, b) for t in range(T) for b in range(B)) / (T * B)


def _ac_total(adv, targets, value_coef, entropy_coef):
    policy = -_mean(lambda t, b: math.log(_pi(t, b)) * adv[t][b])
    value = 0.5 * _mean(lambda t, b: (targets[t][b] - VALUES[t][b]) ** 2)
    return policy + value_coef * value - entropy_coef * _mean_entropy(), value


def _logit_grad_of_policy_term(coef):
    """d/dlogits of ``-mean(coef_t log pi(a_t))``: ``-coef_t (onehot(a_t) - pi_t) / (T B)``; the
    bootstrap row gets none."""
    g = torch.zeros(T + 1, B, 2, dtype=F64)
    for t in range(T):
        for b in range(B):
            for j in range(2):
                g[t, b, j] = -coef[t][b] * ((j == ACTIONS[t][b]) - PROBS[t][b][j]) / (T * B)
    return g


# ---- the checks -----------------------------------------------------------------------------


def _grads(loss_fn):
    model = TableModel()
    out = loss_fn(model)
    logits, values = torch.autograd.grad(out.loss, [model.logits, model.values], allow_unused=True)
    zero = torch.zeros(T + 1, B, dtype=F64)
    return out, logits, zero if values is None else values


def _check_value_term_gradient(loss_with, value_coef, targets):
    """Adding the value term leaves the logits' gradient unchanged and gives the values
    ``-value_coef * (target_t - V_t) / (T B)`` (and nothing for the bootstrap value)."""
    _, g_logits0, g_values0 = _grads(loss_with(0.0))
    _, g_logits, g_values = _grads(loss_with(value_coef))
    assert torch.equal(g_logits, g_logits0)
    want = torch.zeros(T + 1, B, dtype=F64)
    for t in range(T):
        for b in range(B):
            want[t, b] = -value_coef * (targets[t][b] - VALUES[t][b]) / (T * B)
    torch.testing.assert_close(g_values - g_values0, want)


def test_a2c_loss_by_hand():
    """``rollout_loss`` (A2C/A3C, n-step returns) equals the hand total: the entropy bonus is subtracted
    and the value loss is ``value_coef * 0.5 * MSE``."""
    G = _nstep_returns()
    adv = [[G[t][b] - VALUES[t][b] for b in range(B)] for t in range(T)]
    want, want_value = _ac_total(adv, G, value_coef=0.7, entropy_coef=0.3)
    out = rollout_loss(TableModel(), _batch(), LossConfig(gae_lambda=1.0, value_coef=0.7, entropy_coef=0.3))
    assert out.loss.item() == pytest.approx(want, rel=1e-12)
    assert out.stats["loss/value"] == pytest.approx(want_value, rel=1e-12)
    assert out.stats["loss/entropy"] == pytest.approx(_mean_entropy(), rel=1e-12)


def test_a2c_advantages_and_returns_are_constants():
    """The policy term's gradient reaches only the logits (exactly ``-A_t (onehot - pi) / N``), and
    the value term's only the values."""
    G = _nstep_returns()
    adv = [[G[t][b] - VALUES[t][b] for b in range(B)] for t in range(T)]

    def loss_with(value_coef):
        return lambda m: rollout_loss(m, _batch(), LossConfig(gae_lambda=1.0, value_coef=value_coef, entropy_coef=0.0))

    _, g_logits, g_values = _grads(loss_with(0.0))
    assert torch.count_nonzero(g_values) == 0
    torch.testing.assert_close(g_logits, _logit_grad_of_policy_term(adv))
    _check_value_term_gradient(loss_with, 0.7, G)


def test_actor_critic_loss_treats_advantages_and_returns_as_constants():
    """Advantages and returns handed in with a gradient history still pass no gradient back."""
    src = torch.tensor([0.3, -1.2, 2.0], dtype=F64, requires_grad=True)
    log_prob = torch.log(torch.tensor([0.2, 0.5, 0.9], dtype=F64)).requires_grad_(True)
    v_t = torch.tensor([0.1, 0.2, 0.3], dtype=F64, requires_grad=True)
    out = actor_critic_loss(
        log_prob,
        torch.ones(3, dtype=F64),
        v_t,
        advantages=src * 2.0,
        returns=src + 1.0,
        value_coef=0.5,
        entropy_coef=0.01,
    )
    out.loss.backward()
    assert src.grad is None
    torch.testing.assert_close(log_prob.grad, -(src.detach() * 2.0) / 3)
    torch.testing.assert_close(v_t.grad, -0.5 * ((src.detach() + 1.0) - v_t.detach()) / 3)


def test_entropy_bonus_is_maximised():
    """With zero advantages and exact values the loss is ``-entropy_coef * mean(H)``, and a gradient
    descent step on it raises the entropy."""
    logits = torch.tensor([[[2.0, -1.0, 0.0]], [[0.5, 0.4, -3.0]]], dtype=F64, requires_grad=True)
    v = torch.zeros(2, 1, dtype=F64, requires_grad=True)
    zeros = torch.zeros(2, 1, dtype=F64)

    def entropy(lg):
        p = torch.softmax(lg, -1)
        return -(p * p.log()).sum(-1).mean()

    logp, ent = heads.categorical_log_prob_entropy(logits, torch.zeros(2, 1, dtype=torch.long))
    out = actor_critic_loss(logp, ent, v, zeros, zeros, value_coef=0.5, entropy_coef=0.1)
    h0 = entropy(logits).item()
    assert out.loss.item() == pytest.approx(-0.1 * h0, rel=1e-12)
    out.loss.backward()
    assert entropy(logits.detach() - 1.0 * logits.grad).item() > h0


def test_impala_loss_by_hand():
    """``impala_loss`` equals the hand total on V-trace targets and truncated-ratio advantages."""
    vs = _vtrace()
    adv = _one_step_adv(vs, weight=lambda t, b: min(1.0, _ratio(t, b)))
    want, want_value = _ac_total(adv, vs, value_coef=0.7, entropy_coef=0.3)
    out = impala_loss(TableModel(), _batch(True), LossConfig(value_coef=0.7, entropy_coef=0.3), VTraceConfig())
    assert out.loss.item() == pytest.approx(want, rel=1e-12)
    assert out.stats["loss/value"] == pytest.approx(want_value, rel=1e-12)


def test_impala_advantages_and_targets_are_constants():
    vs = _vtrace()
    adv = _one_step_adv(vs, weight=lambda t, b: min(1.0, _ratio(t, b)))

    def loss_with(value_coef):
        loss = LossConfig(value_coef=value_coef, entropy_coef=0.0)
        return lambda m: impala_loss(m, _batch(True), loss, VTraceConfig())

    _, g_logits, g_values = _grads(loss_with(0.0))
    assert torch.count_nonzero(g_values) == 0
    torch.testing.assert_close(g_logits, _logit_grad_of_policy_term(adv))
    _check_value_term_gradient(loss_with, 0.7, vs)


def _appo_expected(targets: str, clip: float, value_coef: float, entropy_coef: float, kl_coef: float):
    if targets == "vtrace":
        vs = _vtrace()
        adv = _one_step_adv(vs)  # no importance weight: the ratio applies it
    else:
        adv = _gae(0.8)
        vs = [[adv[t][b] + VALUES[t][b] for b in range(B)] for t in range(T)]
    surrogate = -_mean(
        lambda t, b: min(_ratio(t, b) * adv[t][b], min(max(_ratio(t, b), 1 - clip), 1 + clip) * adv[t][b])
    )
    value = 0.5 * _mean(lambda t, b: (vs[t][b] - VALUES[t][b]) ** 2)
    kl = _mean(lambda t, b: _ratio(t, b) - 1 - math.log(_ratio(t, b)))
    return surrogate + value_coef * value - entropy_coef * _mean_entropy() + kl_coef * kl, vs, adv


@pytest.mark.parametrize("targets", ["vtrace", "gae"])
def test_appo_loss_by_hand(targets):
    """``appo_loss`` equals the hand total: clipped surrogate, ``0.5 * value_coef * MSE``, entropy
    subtracted, KL penalty added."""
    p = APPOConfig(targets=targets, clip_range=0.2, kl_coef=0.2)
    loss = LossConfig(gae_lambda=1.0 if targets == "vtrace" else 0.8, value_coef=0.7, entropy_coef=0.3)
    want, _, _ = _appo_expected(targets, 0.2, 0.7, 0.3, 0.2)
    out = appo_loss(TableModel(), _batch(True), loss, p)
    assert out.loss.item() == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("targets", ["vtrace", "gae"])
def test_appo_advantages_and_targets_are_constants(targets):
    """The surrogate's gradient reaches only the logits, and only through unclipped samples
    (``-ratio A (onehot - pi) / N``); the value term's reaches only the values."""
    _, vs, adv = _appo_expected(targets, 0.2, 0.0, 0.0, 0.0)

    def loss_with(value_coef):
        p = APPOConfig(targets=targets, clip_range=0.2)
        loss = LossConfig(gae_lambda=1.0 if targets == "vtrace" else 0.8, value_coef=value_coef, entropy_coef=0.0)
        return lambda m: appo_loss(m, _batch(True), loss, p)

    _, g_logits, g_values = _grads(loss_with(0.0))
    assert torch.count_nonzero(g_values) == 0
    # d/dlogp of -ratio * A is -ratio * A where the min picks the unclipped term, else 0
    coef = [[0.0] * B for _ in range(T)]
    for t in range(T):
        for b in range(B):
            r, a = _ratio(t, b), adv[t][b]
            clipped = min(max(r, 0.8), 1.2) * a
            coef[t][b] = r * a if r * a < clipped or r == min(max(r, 0.8), 1.2) else 0.0
    assert any(c == 0.0 for row in coef for c in row) and any(c != 0.0 for row in coef for c in row)
    torch.testing.assert_close(g_logits, _logit_grad_of_policy_term(coef))
    _check_value_term_gradient(loss_with, 0.7, vs)
