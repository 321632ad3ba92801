"""The Hogwild gradient hand-off: every ``hogwild_step`` applies that step's fresh gradient.

For each step the expected update is recomputed independently: the rollout the worker collected
is captured, its loss and clipped gradient are recomputed on a reference copy holding the
pre-step shared weights, ``torch.optim.RMSprop`` applies them, and the shared parameters must
have moved by exactly that update. A deliberately stale hand-off (the classic bug of linking a
worker's ``.grad`` into the shared model once) is shown to fail the same check.
"""

import copy

import pytest
import torch

from asyncrl.algos.actor_critic import rollout_loss
from asyncrl.config import TrainConfig, resolve
from asyncrl.envs.vector import make_vec_env
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.spec import spec_from_spaces
from asyncrl.optim import make_optimizer
from asyncrl.runtime.hogwild import hogwild_step
from asyncrl.runtime.rollout import RolloutCollector

N_STEPS = 5  # rollout length
GAMMA = 0.99
ALPHA, EPS = 0.99, 1e-5
MAX_GRAD_NORM = 0.5
LRS = [1e-3, 9e-4, 8e-4, 7e-4, 6e-4]  # one per hogwild step, as a schedule would pass
CFG = resolve(
    TrainConfig(
        algo="a3c", gae_lambda=1.0, value_coef=0.5, entropy_coef=0.01, max_grad_norm=MAX_GRAD_NORM, run_dir="unused"
    ),
    "discrete",
)
LOSS = CFG.loss
TOL = dict(rtol=1e-5, atol=1e-7)


class _Setup:
    def __init__(self, lstm: bool, seed: int = 0):
        torch.manual_seed(seed)
        self.venv = make_vec_env("CartPole-v1", 2, seed=0)
        spec = spec_from_spaces(
            self.venv.single_observation_space, self.venv.single_action_space, hidden=[16, 16], lstm=lstm, lstm_size=8
        )
        self.shared = ActorCritic(spec).share_memory()
        self.shared_params = list(self.shared.parameters())
        self.local = ActorCritic(spec)  # different random init: the step must sync it first
        self.optimizer = make_optimizer("rmsprop", self.shared_params, 7e-4, shared=True, eps=EPS, alpha=ALPHA)
        self.collector = RolloutCollector(self.venv, self.local, N_STEPS, GAMMA, seed=0)
        self.rollouts = []
        collect = self.collector.collect

        def capturing_collect():
            r = collect()
            self.rollouts.append(r)
            return r

        self.collector.collect = capturing_collect
        # The independent reference: a copy of the shared model and torch's RMSprop.
        self.ref = copy.deepcopy(self.shared)
        self.ref_opt = torch.optim.RMSprop(
            self.ref.parameters(), lr=LRS[0], alpha=ALPHA, eps=EPS, momentum=0, centered=False
        )

    def snapshot(self):
        return [p.detach().clone() for p in self.shared_params]

    def expected_update(self, before, rollout, lr):
        """The update ``rollout`` should cause, starting from the weights ``before``."""
        with torch.no_grad():
            for rp, b in zip(self.ref.parameters(), before):
                rp.copy_(b)
        out = rollout_loss(self.ref, rollout, LOSS)
        self.ref.zero_grad(set_to_none=True)  # independent of the library's hand-off code
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.ref.parameters(), MAX_GRAD_NORM)
        for group in self.ref_opt.param_groups:
            group["lr"] = lr
        self.ref_opt.step()
        return [rp.detach() - b for rp, b in zip(self.ref.parameters(), before)]


def _correct_step(s: _Setup, lr: float):
    return hogwild_step(s.local, s.shared, s.optimizer, s.collector, CFG, lr)


def _stale_step(s: _Setup, lr: float):
    """The classic buggy hand-off: the local ``.grad`` tensors are linked into the shared
    parameters only on the first call; later ``zero_grad(set_to_none=True)`` gives the local
    model new gradient tensors and the shared ``.grad`` keeps pointing at the first ones."""
    with torch.no_grad():
        for lp, sp in zip(s.local.parameters(), s.shared_params):
            lp.copy_(sp)
    rollout = s.collector.collect()
    out = rollout_loss(s.local, rollout, LOSS)
    s.local.zero_grad(set_to_none=True)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(s.local.parameters(), MAX_GRAD_NORM)
    for lp, sp in zip(s.local.parameters(), s.shared_params):
        if sp.grad is None:
            sp.grad = lp.grad
    s.optimizer.step(s.shared_params, [sp.grad for sp in s.shared_params], lr)


def _run_and_check(s: _Setup, step_fn):
    """Run one step per entry of ``LRS``; per step, whether the shared update was the expected one."""
    matched, deltas = [], []
    for lr in LRS:
        before = s.snapshot()
        step_fn(s, lr)
        got = [a - b for a, b in zip(s.snapshot(), before)]
        want = s.expected_update(before, s.rollouts[-1], lr)
        ok = True
        for g, w in zip(got, want):
            try:
                torch.testing.assert_close(g, w, **TOL)
            except AssertionError:
                ok = False
        matched.append(ok)
        deltas.append(got)
    return matched, deltas


@pytest.mark.parametrize("lstm", [False, True])
def test_every_step_applies_its_fresh_gradient(lstm):
    s = _Setup(lstm)
    matched, deltas = _run_and_check(s, _correct_step)
    assert len(s.rollouts) == len(LRS)
    assert matched == [True] * len(LRS)
    # The local grads were recreated each step (set_to_none), and the shared params hold no .grad.
    assert all(p.grad is not None for p in s.local.parameters())
    assert all(p.grad is None for p in s.shared_params)
    # Every step moved the parameters, and consecutive steps (different rollouts) moved them differently.
    for d in deltas:
        assert max(x.abs().max() for x in d) > 1e-5
    for r1, r2, d1, d2 in zip(s.rollouts, s.rollouts[1:], deltas, deltas[1:]):
        assert not torch.equal(r1.obs, r2.obs)
        diff = max((a - b).abs().max() for a, b in zip(d1, d2))
        assert diff > 1e-6


def test_step_syncs_local_model_and_counts_steps():
    """Before acting, ``hogwild_step`` copies the shared weights into the local model: afterwards the
    local parameters equal the shared ones as they were just before the optimizer step, exactly."""
    s = _Setup(lstm=False)
    before = s.snapshot()
    # _Setup gives the local model its own random init, so without the sync it would differ.
    assert any(not torch.equal(lp, b) for lp, b in zip(s.local.parameters(), before))
    n, stats = _correct_step(s, LRS[0])
    assert n == N_STEPS * 2
    assert stats["lr"] == LRS[0] and stats["grad_norm"] > 0
    for lp, b in zip(s.local.parameters(), before):
        assert torch.equal(lp.detach(), b)
    # ...and the optimizer step then moved the shared model away from that copy.
    assert any(not torch.equal(lp, sp) for lp, sp in zip(s.local.parameters(), s.shared_params))


def test_stale_handoff_fails_the_same_check():
    s = _Setup(lstm=False)
    matched, _ = _run_and_check(s, _stale_step)
    # The first step is right (the link is fresh)...
    assert matched[0]
    # ...every later one applies the first step's gradient again and is caught.
    assert not any(matched[1:])
