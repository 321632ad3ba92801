"""The clipped surrogate loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from asyncrl.losses.surrogate import clipped_surrogate_loss


def test_hand_computed_values():
    # ratios 1.5, 0.5, 1.1 with advantages +2, -1, +1 and clip 0.2:
    #   sample 0: min(1.5*2, 1.2*2) = 2.4   (clipped, positive advantage)
    #   sample 1: min(0.5*-1, 0.8*-1) = -0.8 (clipped, negative advantage)
    #   sample 2: min(1.1*1, 1.1*1) = 1.1   (inside the range)
    ratios = torch.tensor([1.5, 0.5, 1.1], dtype=torch.float64)
    mu = torch.log(torch.tensor([0.2, 0.4, 0.5], dtype=torch.float64))
    logp = (mu + torch.log(ratios)).requires_grad_(True)
    adv = torch.tensor([2.0, -1.0, 1.0], dtype=torch.float64)
    loss, stats = clipped_surrogate_loss(logp, mu, adv, clip=0.2)
    assert loss.item() == pytest.approx(-(2.4 - 0.8 + 1.1) / 3)
    assert stats["clip_fraction"] == pytest.approx(2 / 3)
    kl = sum((r - 1) - math.log(r) for r in (1.5, 0.5, 1.1)) / 3
    assert stats["approx_kl"] == pytest.approx(kl)
    loss.backward()
    # Clipped samples carry no gradient; the unclipped one has d/dlogp of -ratio*A/3.
    torch.testing.assert_close(logp.grad, torch.tensor([0.0, 0.0, -1.1 / 3], dtype=torch.float64))


def test_on_policy_gradient_equals_the_policy_gradient():
    logp = torch.randn(10, dtype=torch.float64, requires_grad=True)
    adv = torch.randn(10, dtype=torch.float64)
    loss, stats = clipped_surrogate_loss(logp, logp.detach(), adv, clip=0.1)
    loss.backward()
    torch.testing.assert_close(logp.grad, -adv / 10)
    assert stats["clip_fraction"] == 0.0 and abs(stats["approx_kl"]) < 1e-12


def test_bad_clip_is_refused():
    with pytest.raises(ValueError, match="clip"):
        clipped_surrogate_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), clip=0.0)
