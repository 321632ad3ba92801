"""FeUdal Networks' learning signals as pure functions (Vezhnevets et al., 2017, arXiv 1703.01161).

Notation as in the paper: ``s_t`` the Manager's latent state, ``g_t`` its unit-norm goal, ``c``
the horizon. Time-major ``[T, B, ...]``; ``d`` the latent size.

- Intrinsic reward (eq. 8): ``r^I_t = 1/c sum_{i=1..c} d_cos(s_t - s_{t-i}, g_{t-i})``.
- Transition policy gradient (eq. 7): the Manager follows
  ``A^M_t * grad d_cos(s_{t+c} - s_t, g_t(theta))``; the displacement is a constant target.
- The Worker's reward ``R_t + alpha R^I_t`` (the return of its advantage actor-critic), with alpha optionally
  gated on how well the goals predict the displacements they ask for (:func:`intrinsic_weight`; not in the paper).
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-8


def cosine(a: Tensor, b: Tensor, eps: float = EPS) -> Tensor:
    """Cosine similarity along the last axis; ``0`` where either vector is zero. ``[..., d] -> [...]``."""
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps)


def intrinsic_reward(s_t: Tensor, s_hist: Tensor, g_hist: Tensor, valid: Tensor) -> Tensor:
    """Eq. 8: the Worker's intrinsic reward at ``s_t`` for the goals of the ``c`` steps before it.

    Args:
        s_t: ``[B, d]`` the current latent state.
        s_hist: ``[B, c, d]`` ``s_{t-c} .. s_{t-1}`` (oldest first).
        g_hist: ``[B, c, d]`` ``g_{t-c} .. g_{t-1}``, aligned with ``s_hist``.
        valid: ``[B, c]`` 1 where that past step belongs to the current episode, else 0.

    Returns:
        ``[B]``: ``1/c * sum_i valid_i * cos(s_t - s_{t-i}, g_{t-i})``. Steps before the episode's
        start count as 0 (the sum is still divided by ``c``).
    """
    c = s_hist.shape[1]
    cos = cosine(s_t.unsqueeze(1) - s_hist, g_hist)
    return (cos * valid).sum(1) / c


def intrinsic_weight(alpha: float, goal_cos: float, gate: float) -> float:
    """The weight of the intrinsic reward in the Worker's reward: the paper's ``alpha`` (``gate`` 0), or alpha
    scaled by ``clamp(goal_cos / gate, 0, 1)`` (``gate`` > 0).

    ``goal_cos`` is the batch's mean ``d_cos(s_{t+c} - s_t, g_t)``: about 0 while the goals say nothing of
    where the latent state goes (then the intrinsic reward is zero-mean noise: BENCHMARKS.md, DoorKey-5x5), and
    0.1-0.3 once they do. The gate gives the Worker the intrinsic reward in proportion, full from ``gate`` on.
    """
    if gate <= 0.0:
        return alpha
    return alpha * min(1.0, max(0.0, goal_cos / gate))


def manager_displacement(s: Tensor, first: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """``s_{t+c} - s_t`` for every step of a rollout, cut at the rollout's and the episode's end.

    The paper's horizon is always ``c`` steps; in a finite rollout ``t + c`` may lie beyond its
    last observation or in the next episode. Then the displacement ends at the last observation
    of ``t``'s episode within the rollout (at most ``T``).

    Args:
        s: ``[T + 1, B, d]`` latent states of the rollout's observations (``s[T]`` the bootstrap one).
        first: ``[T + 1, B]`` bool, ``obs[t]`` starts an episode.
        c: the horizon.

    Returns:
        ``(delta [T, B, d], mask [T, B] bool)``; ``mask`` is false where no later state of the
        same episode exists in the rollout (``delta`` is zero there).
    """
    T = s.shape[0] - 1
    B = s.shape[1]
    episode = first.long().cumsum(0)  # [T + 1, B]: equal ids = same episode
    t = torch.arange(T, device=s.device)
    end = t.unsqueeze(1).expand(T, B).clone()
    for k in range(1, c + 1):
        j = (t + k).clamp(max=T)
        same = (episode[j] == episode[:T]) & (t + k <= T).unsqueeze(1)
        end = torch.where(same, j.unsqueeze(1).expand(T, B), end)
    later = s.gather(0, end.unsqueeze(-1).expand(T, B, s.shape[-1]))
    return later - s[:T], end > t.unsqueeze(1)


def transition_policy_loss(advantage: Tensor, delta: Tensor, goals: Tensor, mask: Tensor) -> Tensor:
    """Eq. 7: the Manager's loss whose gradient is the transition policy gradient.

    ``-mean_t,b(mask * A^M_t * d_cos(delta_t, g_t))`` with the advantage and the displacement
    held constant, so only the goal (and what produced it) gets a gradient.

    Args:
        advantage: ``[T, B]`` Manager advantages ``R_t - V^M(x_t)``.
        delta: ``[T, B, d]`` state displacements from :func:`manager_displacement`.
        goals: ``[T, B, d]`` the goals ``g_t`` (with gradient).
        mask: ``[T, B]`` bool, steps that have a displacement.
    """
    assert advantage.shape == mask.shape == goals.shape[:2] == delta.shape[:2]
    cos = cosine(delta.detach(), goals)
    return -(advantage.detach() * cos * mask.to(cos.dtype)).mean()


def goal_diversity(goals: Tensor) -> Tensor:
    """``1 - ||mean of the unit goals||``: 0 when every goal points the same way, near 1 when spread.
    ``goals [..., d] -> []``."""
    unit = goals / goals.norm(dim=-1, keepdim=True).clamp_min(EPS)
    return 1.0 - unit.reshape(-1, goals.shape[-1]).mean(0).norm()
