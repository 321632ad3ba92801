"""The clipped surrogate policy objective (Schulman et al., 2017, eq. 7) as a pure function."""

from __future__ import annotations

import torch
from torch import Tensor


def clipped_surrogate_loss(
    log_prob: Tensor, behaviour_log_prob: Tensor, advantages: Tensor, clip: float
) -> tuple[Tensor, dict[str, float]]:
    """``-mean(min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A))`` with ``ratio = pi / mu``.

    Args:
        log_prob: ``[...]`` log-probabilities of the taken actions under the current policy (with gradient).
        behaviour_log_prob: ``[...]`` the same under the policy that acted (constant).
        advantages: ``[...]`` advantages (constant).
        clip: the clipping range epsilon (> 0).

    Returns:
        The loss and statistics: the fraction of samples whose ratio was clipped, and the
        approximate KL divergence ``mean((ratio - 1) - log ratio)`` (Schulman's low-variance estimator).
    """
    if clip <= 0:
        raise ValueError(f"clip must be positive, got {clip}")
    log_ratio = log_prob - behaviour_log_prob.detach()
    ratio = torch.exp(log_ratio)
    adv = advantages.detach()
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv
    loss = -torch.minimum(unclipped, clipped).mean()
    with torch.no_grad():
        stats = {
            "clip_fraction": float(((ratio - 1.0).abs() > clip).float().mean()),
            "approx_kl": float(((ratio - 1.0) - log_ratio).mean()),
        }
    return loss, stats
