"""The actor-learner machinery in one process: weights, slots, the slot cycle, policy lag, the
a3c-ps gradient hand-off, the APPO pieces, and determinism of the serial runtime."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from asyncrl.algos import get_algorithm
from asyncrl.algos.actor_critic import rollout_loss
from asyncrl.algos.appo import (
    APPOConfig,
    appo_batch_targets,
    appo_loss,
    appo_sample_loss,
    appo_targets,
    minibatch_columns,
    minibatch_indices,
    select_columns,
)
from asyncrl.config import RunConfig, TrainConfig, resolve
from asyncrl.core.sections import LossConfig
from asyncrl.envs.make import env_spaces
from asyncrl.losses.returns import gae_advantages, n_step_returns
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.spec import spec_from_spaces
from asyncrl.optim.grads import backward_and_clip
from asyncrl.runtime.actor import Actor, actor_seed
from asyncrl.runtime.learner import Learner
from asyncrl.runtime.schedule import LrSchedule
from asyncrl.runtime.slots import SlotLedger, build_slots
from asyncrl.runtime.weights import WeightStore


def _cfg(algo="impala", env="CartPole-v1", **kw) -> RunConfig:
    base = dict(algo=algo, env=env, workers=2, num_envs=3, n_steps=4, hidden=[16], seed=0, run_dir="unused", lr=1e-2)
    base.update(kw)
    obs, act = env_spaces(env)
    return resolve(TrainConfig(**base), "discrete" if hasattr(act, "n") else "continuous")


def _model(cfg: RunConfig) -> ActorCritic:
    obs, act = env_spaces(cfg.env)
    torch.manual_seed(cfg.run.seed)
    return ActorCritic(
        spec_from_spaces(
            obs,
            act,
            hidden=list(cfg.model.hidden),
            activation=cfg.model.activation,
            lstm=cfg.model.lstm,
            lstm_size=cfg.model.lstm_size,
            log_std_init=cfg.model.log_std_init,
        )
    )


class _Pieces:
    """Slots, weights, a learner and ``cfg.runtime.workers`` actors, wired as the runtimes wire them."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.model = _model(cfg)
        self.slots = build_slots(cfg, get_algorithm(cfg.algo), self.model, torch.float32)
        self.weights = WeightStore(list(self.model.parameters()))
        algo = get_algorithm(cfg.algo)
        schedule = LrSchedule(cfg.optim.lr, cfg.optim.lr_schedule, cfg.run.total_steps)
        self.learner = Learner(cfg, algo, self.model, self.slots, self.weights, schedule)
        self.actors = [
            Actor(cfg, algo, self.model.spec, self.slots, self.weights, actor_seed(cfg.run.seed, r, 0))
            for r in range(cfg.runtime.workers)
        ]
        self.ledger = SlotLedger(cfg.runtime.workers, cfg.runtime.slots_per_actor)
        self.free = [self.ledger.hand_out(r) for r in range(cfg.runtime.workers)]

    def act(self, rank: int) -> int:
        slot = self.free[rank].pop(0)
        self.actors[rank].step(slot)
        self.ledger.filled(slot)
        return slot

    def learn(self, n: int = 1) -> dict:
        batch = self.ledger.take(n)
        stats = self.learner.step(batch, env_steps=0)
        for s in batch:
            self.ledger.release(s)
            self.free[self.ledger.owner(s)] += self.ledger.hand_out(self.ledger.owner(s))
        return stats

    def params(self) -> list[torch.Tensor]:
        return [p.detach().cpu().clone() for p in self.learner.model.parameters()]


# ---- weights -------------------------------------------------------------------------------


def test_weight_store_publishes_versions_and_readers_only_copy_newer_ones():
    src = [torch.randn(3, 2), torch.randn(4)]
    store = WeightStore(src)
    dst = [torch.zeros(3, 2), torch.zeros(4)]
    assert store.read_into(dst, -1) is None  # nothing published yet
    for version in range(5, 10):  # more publications than buffers
        for p in src:
            p.add_(1.0)
        store.publish(src, version)
        assert store.latest_version == version
        assert store.read_into(dst, version) is None  # not newer than what the reader has
        assert store.read_into(dst, version - 1) == version
        assert all(torch.equal(a, b) for a, b in zip(dst, src))


def test_weight_store_reader_retries_when_the_buffer_it_read_was_overwritten():
    src = [torch.zeros(6)]
    store = WeightStore(src)
    store.publish(src, 0)
    dst = [torch.full((6,), -1.0)]
    calls = {"n": 0}
    real_copy = torch._foreach_copy_

    def copy_while_learner_publishes_three_times(a, b):
        real_copy(a, b)
        calls["n"] += 1
        if calls["n"] == 1:  # a slow reader: the learner publishes 3 versions during its copy
            for v in (1, 2, 3):
                store.publish([torch.full((6,), float(v))], v)

    torch._foreach_copy_ = copy_while_learner_publishes_three_times
    try:
        got = store.read_into(dst, -1)
    finally:
        torch._foreach_copy_ = real_copy
    assert calls["n"] >= 2 and got == 3 and torch.equal(dst[0], torch.full((6,), 3.0))


# ---- slots ---------------------------------------------------------------------------------


def test_batch_puts_slots_side_by_side_on_the_env_axis():
    cfg = _cfg(lstm=True, lstm_size=5)
    slots = build_slots(cfg, get_algorithm(cfg.algo), _model(cfg), torch.float32)
    for name in ("obs", "r_t", "behaviour_logp", "core_h"):
        t = getattr(slots, name)
        t.copy_(torch.randn(t.shape))
    b = slots.batch([3, 1])
    T, B = cfg.rollout.n_steps, cfg.rollout.num_envs
    assert b.obs.shape == (T + 1, 2 * B, 4) and b.r_t.shape == (T, 2 * B) and b.core_state[0].shape == (2 * B, 5)
    assert torch.equal(b.obs[:, :B], slots.obs[3]) and torch.equal(b.obs[:, B:], slots.obs[1])
    assert torch.equal(b.behaviour_logp[:, B:], slots.behaviour_logp[1])
    assert torch.equal(b.core_state[0][:B], slots.core_h[3])
    assert slots.obs.is_shared() and slots.version.is_shared()


def test_ledger_refuses_a_double_free_and_a_second_hand_out():
    ledger = SlotLedger(num_actors=2, slots_per_actor=2)
    assert ledger.hand_out(1) == [2, 3] and ledger.hand_out(1) == []
    ledger.filled(3)
    with pytest.raises(RuntimeError, match="slot 3 is full"):
        ledger.filled(3)
    assert ledger.take(5) == [3]
    ledger.release(3)
    with pytest.raises(RuntimeError, match="slot 3 is free"):
        ledger.release(3)
    ledger.reclaim(1)  # actor 1 died while filling slot 2
    assert ledger.hand_out(1) == [2, 3]


def test_every_slot_is_freed_exactly_once_per_fill_under_a_random_schedule():
    cfg = _cfg(workers=3, slots_per_actor=2, batch_rollouts=2)
    p = _Pieces(cfg)
    rng = random.Random(0)
    for _ in range(60):
        ranks = [r for r in range(cfg.runtime.workers) if p.free[r]]
        if ranks and (len(p.ledger.ready) < cfg.runtime.batch_rollouts or rng.random() < 0.5):
            p.act(rng.choice(ranks))
        else:
            p.learn(cfg.runtime.batch_rollouts)
    p.learn(len(p.ledger.ready))
    assert sum(p.ledger.fills) > 20
    assert p.ledger.fills == p.ledger.frees
    assert all(s == "free" or s == "acting" for s in p.ledger.state)


# ---- versions and lag ------------------------------------------------------------------------


def test_samples_carry_their_policy_version_and_the_learner_measures_the_lag():
    cfg = _cfg(workers=2, slots_per_actor=2, batch_rollouts=1)
    p = _Pieces(cfg)
    a0, a1 = p.actors
    a0.step(0)  # slot 0 acted with version 0
    assert int(p.slots.version[0]) == 0
    for _ in range(2):  # two updates from actor 1's rollouts
        a1.step(2)
        assert p.learner.step([2], env_steps=0)["policy_lag_max"] == 0
    assert p.learner.version == 2
    a1.step(3)
    assert int(p.slots.version[3]) == 2  # actors pick up the newest weights between rollouts
    stats = p.learner.step([0, 3], env_steps=0)
    assert stats["policy_lag_mean"] == 1.0 and stats["policy_lag_max"] == 2.0 and stats["dropped_samples"] == 0
    assert p.learner.version == 3


def test_max_policy_lag_drops_stale_samples_without_updating():
    cfg = _cfg(workers=2, slots_per_actor=2, batch_rollouts=1, max_policy_lag=1)
    p = _Pieces(cfg)
    a0, a1 = p.actors
    a0.step(0)
    for _ in range(2):
        a1.step(2)
        p.learner.step([2], env_steps=0)
    before = p.params()
    stats = p.learner.step([0], env_steps=0)
    assert stats["dropped_samples"] == cfg.rollout.n_steps * cfg.rollout.num_envs and stats["policy_lag_max"] == 2
    assert p.learner.version == 2 and all(torch.equal(a, b) for a, b in zip(before, p.params()))
    a0.step(1)  # a fresh rollout (lag 0) next to the stale one: only the stale one is dropped
    stats = p.learner.step([0, 1], env_steps=0)
    assert stats["dropped_samples"] == cfg.rollout.n_steps * cfg.rollout.num_envs and p.learner.version == 3


# ---- a3c-ps: the learner applies each actor's gradient, in arrival order ----------------------


def test_a3c_ps_applies_each_gradient_as_torch_rmsprop_would():
    cfg = _cfg(
        algo="a3c-ps",
        workers=2,
        slots_per_actor=1,
        batch_rollouts=2,
        optimizer="rmsprop",
        max_grad_norm=0.5,
        entropy_coef=0.01,
    )
    p = _Pieces(cfg)
    ref = copy.deepcopy(p.model)
    ref_opt = torch.optim.RMSprop(
        ref.parameters(), lr=cfg.optim.lr, alpha=cfg.optim.rms_alpha, eps=cfg.optim.optimizer_eps
    )
    for _ in range(3):
        arrival = [p.act(1), p.act(0)]  # actor 1 first: arrival order, not rank order
        # Each actor's gradient is computed from its own rollout with the weights it acted with.
        expected = []
        for s in arrival:
            actor = p.actors[p.ledger.owner(s)]
            local = copy.deepcopy(actor.model)
            loss = rollout_loss(local, p.slots.rollout(s), cfg.loss).loss
            grads, _ = backward_and_clip(list(local.parameters()), loss, cfg.optim.max_grad_norm)
            expected.append(grads)
        for grads in expected:
            for q, g in zip(ref.parameters(), grads):
                q.grad = g.clone()
            ref_opt.step()
        stats = p.learn(2)
        # Both gradients came from the same weights; the second is applied after the first: lag 1.
        assert stats["policy_lag_mean"] == 0.5 and stats["policy_lag_max"] == 1.0
        for a, b in zip(p.model.parameters(), ref.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert p.learner.version == 6  # one version per gradient


# ---- APPO pieces -------------------------------------------------------------------------------


def test_appo_targets_on_policy_equal_n_step_returns_and_gae():
    g = torch.Generator().manual_seed(0)
    T, B = 6, 3
    r = torch.randn(T, B, generator=g, dtype=torch.float64)
    d = 0.9 * (torch.rand(T, B, generator=g, dtype=torch.float64) > 0.2).double()
    v = torch.randn(T, B, generator=g, dtype=torch.float64)
    boot = torch.randn(B, generator=g, dtype=torch.float64)
    zeros = torch.zeros(T, B, dtype=torch.float64)
    vs, adv = appo_targets(zeros, r, d, v, boot, LossConfig(), APPOConfig(targets="vtrace"))
    ret = n_step_returns(r, d, boot)
    torch.testing.assert_close(vs, ret)
    torch.testing.assert_close(adv, r + d * torch.cat([ret[1:], boot[None]]) - v)
    vs, adv = appo_targets(zeros, r, d, v, boot, LossConfig(gae_lambda=0.95), APPOConfig(targets="gae"))
    torch.testing.assert_close(adv, gae_advantages(r, d, v, boot, 0.95))
    torch.testing.assert_close(vs, adv + v)


def test_minibatches_partition_the_env_columns():
    cols = minibatch_columns(10, 3, torch.Generator().manual_seed(1))
    assert len(cols) == 3 and sorted(torch.cat(cols).tolist()) == list(range(10))
    cfg = _cfg(lstm=True, lstm_size=4)
    slots = build_slots(cfg, get_algorithm(cfg.algo), _model(cfg), torch.float32)
    slots.obs.copy_(torch.randn(slots.obs.shape))
    slots.core_h.copy_(torch.randn(slots.core_h.shape))
    batch = slots.batch([0, 1])
    sub = select_columns(batch, torch.tensor([4, 0]))
    assert torch.equal(sub.obs[:, 0], batch.obs[:, 4]) and torch.equal(sub.core_state[0][1], batch.core_state[0][0])


def test_minibatch_indices_partition_the_samples():
    idx = minibatch_indices(10, 4, torch.Generator().manual_seed(3))
    assert len(idx) == 4 and sorted(torch.cat(idx).tolist()) == list(range(10))
    assert {len(i) for i in idx} <= {2, 3}
    assert len(minibatch_indices(3, 8, torch.Generator().manual_seed(3))) == 3  # never an empty minibatch


def _filled_batch(cfg: RunConfig, pieces_rounds: int = 2):
    p = _Pieces(cfg)
    for r in range(pieces_rounds):
        p.act(r % cfg.runtime.workers)
    p.ids = p.ledger.take(pieces_rounds)
    return p, p.slots.batch(p.ids)


@pytest.mark.parametrize("targets", ["vtrace", "gae"])
def test_sample_loss_on_the_whole_batch_equals_the_sequence_loss(targets):
    # With the network unchanged since the targets were computed, the feed-forward path (targets once,
    # flat samples) and the sequence path (targets per minibatch) are the same loss and gradient.
    cfg = _cfg(algo="appo", targets=targets, normalize_advantages=True)
    p, batch = _filled_batch(cfg)
    model, loss, prm = p.learner.model, cfg.loss, cfg.algo_config
    seq = appo_loss(model, batch, loss, prm)
    g_seq = torch.autograd.grad(seq.loss, list(model.parameters()))
    vs, adv = appo_batch_targets(model, batch, loss, prm)
    n = vs.numel()
    flat = appo_sample_loss(
        model,
        batch.obs[:-1].reshape(n, -1),
        batch.actions.reshape(n),
        batch.behaviour_logp.reshape(n),
        vs.reshape(n),
        adv.reshape(n),
        loss,
        prm,
    )
    g_flat = torch.autograd.grad(flat.loss, list(model.parameters()))
    torch.testing.assert_close(flat.loss, seq.loss)
    for a, b in zip(g_flat, g_seq):
        torch.testing.assert_close(a, b)
    assert seq.stats.keys() == flat.stats.keys()


def test_feed_forward_appo_computes_targets_once_per_batch():
    # Two minibatches of one epoch: the second minibatch's targets come from the network before the
    # first step. Recomputing them after that step would give a different update.
    cfg = _cfg(algo="appo", epochs=1, minibatches=2, targets="gae", gae_lambda=0.95)
    p, batch = _filled_batch(cfg)
    model, prm = copy.deepcopy(p.learner.model), cfg.algo_config
    gen = torch.Generator().manual_seed(cfg.run.seed)  # the learner's minibatch generator at version 0
    vs, adv = (t.reshape(-1) for t in appo_batch_targets(model, batch, cfg.loss, prm))
    n = vs.numel()
    obs, act, logp = batch.obs[:-1].reshape(n, -1), batch.actions.reshape(n), batch.behaviour_logp.reshape(n)
    params = list(model.parameters())
    opt = p.learner.optimizer.__class__(params, cfg.optim.lr, eps=cfg.optim.optimizer_eps, shared=False)
    for idx in minibatch_indices(n, 2, gen):
        loss = appo_sample_loss(model, obs[idx], act[idx], logp[idx], vs[idx], adv[idx], cfg.loss, prm).loss
        grads, _ = backward_and_clip(params, loss, cfg.optim.max_grad_norm)
        opt.step(params, grads, cfg.optim.lr)
    p.learner.step(p.ids, env_steps=0)
    for a, b in zip(p.params(), params):
        torch.testing.assert_close(a, b.detach())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device in this PyTorch (the CPU build)")
@pytest.mark.parametrize("algo", ["impala", "appo"])
def test_a_cuda_learner_follows_the_cpu_learner(algo):
    # The same scripted schedule with the learner on the GPU: same weights up to float rounding,
    # published to the actors' CPU buffers and checkpointed as CPU tensors.
    def run(device):
        cfg = _cfg(
            algo=algo,
            workers=2,
            slots_per_actor=2,
            batch_rollouts=2,
            device=device,
            **(dict(epochs=2, minibatches=4) if algo == "appo" else {}),
        )
        p = _Pieces(cfg)
        for step in ["A0", "A1", "L", "A0", "A1", "L"]:
            p.learn(2) if step == "L" else p.act(int(step[1]))
        return p

    cpu, gpu = run("cpu"), run("cuda")
    assert gpu.learner.model is not gpu.model and next(gpu.learner.model.parameters()).is_cuda
    for a, b in zip(cpu.params(), gpu.params()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    shared = [torch.zeros_like(t) for t in gpu.params()]
    assert gpu.weights.read_into(shared, -1) == gpu.learner.version
    for a, b in zip(shared, gpu.params()):
        assert torch.equal(a, b)
    assert all(t.device.type == "cpu" for t in gpu.learner.model_state().values())
    opt = gpu.learner.optimizer_state()
    assert all(t.device.type == "cpu" for v in opt.values() if isinstance(v, list) for t in v)


# ---- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("impala", {}),
        ("appo", dict(epochs=2, minibatches=2)),
        ("a3c-ps", {}),
        ("impala", dict(lstm=True, lstm_size=8)),
        ("appo", dict(env="Pendulum-v1")),
    ],
)
def test_a_scripted_schedule_gives_identical_parameters_twice(algo, extra):
    def run():
        cfg = _cfg(algo=algo, workers=2, slots_per_actor=2, batch_rollouts=2, **extra)
        p = _Pieces(cfg)
        for step in ["A0", "A1", "L", "A0", "A0", "L", "A1", "A1", "L", "A0", "A1", "L"]:
            if step == "L":
                p.learn(2)
            else:
                p.act(int(step[1]))
        return p.params(), p.learner.version

    (a, va), (b, vb) = run(), run()
    assert va == vb == (8 if algo == "a3c-ps" else 4)  # a3c-ps: one version per applied gradient
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    fresh = [q.detach() for q in _model(_cfg(algo=algo, **extra)).parameters()]
    assert not all(torch.equal(x, y) for x, y in zip(a, fresh))


def test_a3c_ps_a_skipped_gradient_publishes_no_version():
    cfg = _cfg(algo="a3c-ps", workers=2, slots_per_actor=1, batch_rollouts=2)
    p = _Pieces(cfg)
    bad, _ = p.act(0), p.act(1)
    p.slots.grad_ok[bad] = False  # what an actor writes when its gradient is not finite
    stats = p.learn(2)
    # Only the good gradient made a new policy: one version, and it was applied with lag 0.
    assert stats["skipped_updates"] == 1 and p.learner.version == 1 and p.weights.latest_version == 1
    assert stats["policy_lag_max"] == 0
    before = p.params()
    for r in range(2):
        p.slots.grad_ok[p.act(r)] = False
    stats = p.learn(2)
    assert stats["skipped_updates"] == 2 and p.learner.version == 1 and p.weights.latest_version == 1
    assert all(torch.equal(a, b) for a, b in zip(before, p.params()))
