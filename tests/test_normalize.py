"""Observation and reward normalisation (``nn/normalize.py``) and how its statistics travel with the model.

The statistics must equal a direct mean and variance over the same data however it is split (workers' rollouts
merged one by one), be applied the same way by the torch model, the numpy acting path and ``Policy.predict``
on raw observations, survive a checkpoint, reach the actors with the weights, and never change in evaluation.
The reward scale is checked against a slow reference loop of the discounted return, and the truncation bootstrap
against the model's value of the final observation, in value units. Hogwild workers and actor-learner actors must
act (and workers compute their loss) with the shared or published statistics, not only the shared parameters.
"""

from __future__ import annotations

import copy
import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from asyncrl.algos import get_algorithm
from asyncrl.api import Policy
from asyncrl.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from asyncrl.config import TrainConfig, resolve
from asyncrl.core.batch import empty_rollout
from asyncrl.envs.classic import PendulumVec
from asyncrl.envs.make import env_spaces
from asyncrl.evaluate import run_episodes
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.normalize import EPS, RunningNorm, observe_rollout, synced_tensors
from asyncrl.nn.numpy_policy import NumpyPolicy
from asyncrl.nn.spec import spec_from_spaces, spec_json
from asyncrl.optim import make_optimizer
from asyncrl.runtime.actor import Actor
from asyncrl.runtime.hogwild import HogwildWorker
from asyncrl.runtime.rollout import RolloutCollector
from asyncrl.runtime.slots import TrajectorySlots
from asyncrl.runtime.weights import WeightStore

OBS = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def _model(normalize_obs=True, normalize_reward=True, seed=0, **kw) -> ActorCritic:
    torch.manual_seed(seed)
    return ActorCritic(
        spec_from_spaces(
            OBS, ACT, hidden=[16, 16], normalize_obs=normalize_obs, normalize_reward=normalize_reward, **kw
        )
    )


def _data(n: int, seed: int = 0) -> np.ndarray:
    """Observations far from standard: offsets 0..40, scales 0.1..100."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 5)) * np.array([0.1, 1.0, 5.0, 30.0, 100.0]) + np.arange(5) * 10).astype(np.float32)


def test_merged_statistics_equal_a_direct_mean_and_variance():
    """Chunks of uneven sizes (workers' rollouts, one of them empty) merged one by one give the mean and the
    population variance of all the data at once, and the count."""
    x = _data(1000)
    norm = RunningNorm((5,))
    for chunk in np.split(x, [1, 7, 7, 300, 650]):
        norm.update(torch.from_numpy(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), x.astype(np.float64).mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.var.numpy(), x.astype(np.float64).var(0), rtol=1e-5)
    assert float(norm.count) == 1000


def test_scalar_statistics_of_returns():
    r = np.random.default_rng(1).normal(3.0, 7.0, 500)
    norm = RunningNorm(())
    norm.update(torch.from_numpy(r[:123]))
    norm.update(torch.from_numpy(r[123:]))
    assert norm.scale() == pytest.approx(1.0 / np.sqrt(r.var() + EPS), rel=1e-5)


def test_forward_standardises_and_clips():
    norm = RunningNorm((5,), clip=3.0)
    x = torch.from_numpy(_data(2000))
    norm.update(x)
    y = norm(x)
    assert y.abs().max() <= 3.0
    inner = (x - norm.mean).abs() < 2.5 * norm.var.sqrt()  # unclipped entries: standardised exactly
    torch.testing.assert_close(y[inner], ((x - norm.mean) / torch.sqrt(norm.var + EPS))[inner])
    assert abs(float(y.mean())) < 0.05 and abs(float(y.std()) - 1.0) < 0.05


def test_observe_rollout_uses_the_rollouts_steps_not_the_bootstrap_observation():
    """Two rollouts observed in turn give the statistics of their ``obs[:T]`` together; ``obs[T]`` (the next
    rollout's first observation) is not counted twice."""
    model = _model()
    x = torch.from_numpy(_data(9 * 3, seed=2)).reshape(9, 3, 5)  # two rollouts of T=4, B=3 sharing obs[4]
    seen = []
    for i in range(2):
        r = empty_rollout(model.spec, 4, 3)
        r.obs.copy_(x[i * 4 : i * 4 + 5])
        assert r.returns is not None
        r.returns.copy_(torch.arange(12.0).reshape(4, 3) * (i + 1))
        observe_rollout(model, r)
        seen.append(x[i * 4 : i * 4 + 4].reshape(-1, 5))
    want = torch.cat(seen).double()
    assert model.obs_norm is not None and model.return_norm is not None
    torch.testing.assert_close(model.obs_norm.mean.double(), want.mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.obs_norm.var.double(), want.var(0, unbiased=False), rtol=1e-5, atol=1e-4)
    rets = torch.cat([torch.arange(12.0), torch.arange(12.0) * 2]).double()
    assert float(model.return_norm.var) == pytest.approx(float(rets.var(unbiased=False)), rel=1e-5)


def _trained_stats(model: ActorCritic) -> ActorCritic:
    assert model.obs_norm is not None
    model.obs_norm.update(torch.from_numpy(_data(500, seed=3)))
    if model.return_norm is not None:
        model.return_norm.update(torch.linspace(-50, 50, 100))
    return model


def _normalised_twin(model: ActorCritic) -> ActorCritic:
    """The same weights in a model without normalisers (fed standardised observations by hand)."""
    twin = ActorCritic(spec_from_spaces(OBS, ACT, hidden=[16, 16]))
    twin.load_state_dict({k: v for k, v in model.state_dict().items() if "norm" not in k})
    return twin


def test_predict_on_raw_observations_equals_the_forward_on_normalised_ones():
    model = _trained_stats(_model())
    raw = _data(32, seed=4)
    assert model.obs_norm is not None
    by_hand = np.clip((raw - model.obs_norm.mean.numpy()) / np.sqrt(model.obs_norm.var.numpy() + EPS), -10, 10)
    twin = _normalised_twin(model)
    want, _, _ = twin.act(torch.from_numpy(by_hand), None, torch.zeros(32, dtype=torch.bool), deterministic=True)
    got, _ = Policy(model, "x").predict(raw, deterministic=True)
    np.testing.assert_allclose(got, np.clip(want.numpy(), -1, 1), rtol=1e-5, atol=1e-5)
    unnormalised, _, _ = twin.act(torch.from_numpy(raw), None, torch.zeros(32, dtype=torch.bool), deterministic=True)
    assert not np.allclose(got, np.clip(unnormalised.numpy(), -1, 1), atol=1e-3)  # the normaliser matters here


def test_numpy_acting_path_normalises_and_sees_updates_in_place():
    model = _trained_stats(_model())
    policy = NumpyPolicy(model, seed=0)
    obs = _data(16, seed=5)
    with torch.no_grad():
        want = model(torch.from_numpy(obs).unsqueeze(0), None, torch.zeros(1, 16, dtype=torch.bool)).params[0]
    np.testing.assert_allclose(policy.params(obs), want.numpy(), rtol=1e-4, atol=1e-5)
    assert model.obs_norm is not None
    model.obs_norm.update(torch.from_numpy(_data(100, seed=6) * 3))  # training moves the statistics
    with torch.no_grad():
        want2 = model(torch.from_numpy(obs).unsqueeze(0), None, torch.zeros(1, 16, dtype=torch.bool)).params[0]
    assert not torch.allclose(want, want2, atol=1e-3)
    np.testing.assert_allclose(policy.params(obs), want2.numpy(), rtol=1e-4, atol=1e-5)


def test_checkpoint_round_trip_keeps_the_statistics(tmp_path):
    model = _trained_stats(_model())
    path = os.path.join(tmp_path, "m.pt")
    save_checkpoint(path, {"model": model.state_dict(), "model_spec": spec_json(model.spec), "env": "x"})
    loaded = model_from_checkpoint(load_checkpoint(path))
    assert isinstance(loaded, ActorCritic) and loaded.obs_norm is not None and loaded.return_norm is not None
    assert model.obs_norm is not None and model.return_norm is not None
    for a, b in [(loaded.obs_norm, model.obs_norm), (loaded.return_norm, model.return_norm)]:
        assert torch.equal(a.mean, b.mean) and torch.equal(a.var, b.var) and torch.equal(a.count, b.count)
    obs = torch.from_numpy(_data(8, seed=7))
    first = torch.zeros(8, dtype=torch.bool)
    torch.testing.assert_close(loaded.act(obs, None, first, True)[0], model.act(obs, None, first, True)[0])


def test_published_weights_carry_the_statistics():
    """An actor's copy (``WeightStore.read_into`` of ``synced_tensors``) gets the learner's statistics."""
    learner, actor = _trained_stats(_model(seed=0)), _model(seed=1)
    store = WeightStore(synced_tensors(learner), shared=False)
    store.publish(synced_tensors(learner), 5)
    assert store.read_into(synced_tensors(actor), -1) == 5
    for (name, a), b in zip(actor.state_dict().items(), learner.state_dict().values()):
        assert torch.equal(a, b), name


class _Pendulum4(PendulumVec):
    """Pendulum with a 4-step time limit (truncations inside a rollout), 5-element observations."""

    max_episode_steps = 4

    def __init__(self, num_envs, seed=None):
        super().__init__(num_envs, seed)
        self.single_observation_space = OBS

    def _advance(self, actions):
        return super()._advance(np.asarray(actions)[:, :1])  # (the test model has two action dimensions)

    def _observe(self, state):
        th = state[:, 0]
        return np.stack([np.cos(th), np.sin(th), state[:, 1], th, th * 2], axis=1).astype(np.float32)


def test_collector_scales_rewards_by_the_return_std_and_records_returns():
    """Against a reference loop: ``returns`` is ``R_t = gamma R_{t-1} + r_t`` reset after every episode end,
    and the rewards in ``r_t`` are ``clip(r / sqrt(var + eps), +-reward_clip)`` (plus the truncation bootstrap,
    which this test adds back by hand): the collector's ``reward_scale`` (2 here) is not applied on top of the
    normaliser, as Stable-Baselines3's ``VecNormalize`` has no scale of its own."""
    gamma, T, B = 0.9, 11, 3
    model = _model()
    assert model.return_norm is not None
    model.return_norm.update(torch.tensor([-30.0, 10.0, 50.0]))  # var ~ 1067: scale ~ 0.031
    venv = _Pendulum4(B, seed=0)
    collector = RolloutCollector(venv, model, T, gamma, reward_scale=2.0, seed=0, reward_clip=0.2)
    rewards, dones = [], []
    step = venv.step

    def spy(actions):
        res = step(actions)
        rewards.append(res.reward.copy())
        dones.append(res.terminated | res.truncated)
        return res

    venv.step = spy  # type: ignore[method-assign]
    for _ in range(2):  # the running return carries over from one rollout to the next
        rewards.clear()
        dones.clear()
        start = collector.ret.copy()
        r = collector.collect()
        ret, want = start, []
        for t in range(T):
            ret = ret * gamma + rewards[t]
            want.append(ret.copy())
            ret[dones[t]] = 0.0
        assert r.returns is not None
        np.testing.assert_allclose(r.returns.numpy(), np.stack(want), rtol=1e-5)
        scale = 1.0 / np.sqrt(float(model.return_norm.var) + EPS)
        scaled = np.clip(np.stack(rewards) * scale, -0.2, 0.2)
        trunc = np.stack(dones)  # Pendulum never terminates: every end is a truncation
        assert trunc.any() and (np.abs(np.stack(rewards) * scale) > 0.2).any()  # both paths exercised
        np.testing.assert_allclose(r.r_t.numpy()[~trunc], scaled[~trunc], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("normalize_reward", [False, True])
def test_reward_scale_applies_only_without_the_return_normaliser(normalize_reward):
    """A row's ``reward_scale`` (0.1 on Pendulum) multiplies the raw rewards; with ``normalize_reward`` the
    normaliser alone sets the scale, so the learner sees the same rewards whatever ``reward_scale`` says."""

    def rewards(reward_scale: float) -> np.ndarray:
        model = _model(normalize_reward=normalize_reward)
        if model.return_norm is not None:
            model.return_norm.update(torch.tensor([-30.0, 10.0, 50.0]))
        r = RolloutCollector(_Pendulum4(2, seed=0), model, 3, 0.9, reward_scale=reward_scale, seed=0).collect()
        return r.r_t.numpy()  # (3 steps: before the 4-step time limit, so no bootstrap is folded in)

    scaled, unscaled = rewards(0.1), rewards(1.0)
    assert np.abs(unscaled).max() > 1e-3
    np.testing.assert_allclose(scaled, unscaled if normalize_reward else 0.1 * unscaled, rtol=1e-5, atol=1e-7)


def test_truncated_steps_bootstrap_the_unscaled_value_after_the_clipped_normalised_reward():
    """With both normalisers on, a truncated step's ``r_t`` is ``clip(r * scale, +-reward_clip) + gamma *
    V(final_obs)``, exactly: the bootstrap stays in value units (not multiplied by the reward scale) and is added
    after the clip (not clipped with the reward); its discount is 0. ``V`` is the model's own value of the final
    observation, so through the observation normaliser. The value head's bias makes ``gamma * V`` far larger
    than the clip and than ``V * scale``, so either slip shows."""
    gamma, T, B = 0.9, 11, 3
    model = _model()
    assert model.obs_norm is not None and model.return_norm is not None
    model.obs_norm.update(torch.from_numpy(_data(200, seed=8)) * 0.05)
    model.return_norm.update(torch.tensor([-10.0, 0.0, 10.0]))  # var ~ 67: scale ~ 0.12
    with torch.no_grad():
        model.value_head.bias.fill_(5.0)
    venv = _Pendulum4(B, seed=1)
    collector = RolloutCollector(venv, model, T, gamma, seed=1, reward_clip=0.2)
    seen = []
    step = venv.step

    def spy(actions):
        res = step(actions)
        seen.append((res.reward.copy(), res.terminated.copy(), res.truncated.copy(), res.final_obs.copy()))
        return res

    venv.step = spy  # type: ignore[method-assign]
    for i in range(2):
        seen.clear()
        r = collector.collect()
        rewards, term, trunc, final = (np.stack(x) for x in zip(*seen))
        assert not term.any() and trunc.sum() >= 2 * B  # every env is cut by its 4-step limit in each rollout
        scale = 1.0 / np.sqrt(float(model.return_norm.var) + EPS)
        with torch.no_grad():  # V of each step's final observation (the truncated rows are the ones used)
            v = model(torch.from_numpy(final), None, torch.zeros((T, B), dtype=torch.bool)).value.numpy()
        assert (gamma * np.abs(v[trunc]) > 1.0).all()  # the bootstrap dwarfs the clip and V * scale
        assert (np.abs(rewards * scale) > 0.2).any() and (np.abs(rewards * scale) < 0.2).any()  # some clipped
        want = np.clip(rewards * scale, -0.2, 0.2) + np.where(trunc, gamma * v, 0.0)
        np.testing.assert_allclose(r.r_t.numpy(), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(r.discount_t.numpy(), np.where(trunc, 0.0, np.float32(gamma)))
        # the learner moves the statistics between rollouts: the next rollout scales and bootstraps with the new ones
        model.return_norm.update(torch.linspace(-20.0, 10.0, 7 + i))
        model.obs_norm.update(torch.from_numpy(_data(50, seed=9 + i)) * 0.05)


# ---- workers and actors act with the shared statistics ------------------------------------------------------


def _pendulum_cfg(algo: str):
    # (reward_scale 1: the normaliser alone scales the rewards, whether or not a row's reward_scale composes with it)
    return resolve(
        TrainConfig(
            algo=algo,
            env="Pendulum-v1",
            num_envs=2,
            n_steps=8,
            hidden=[16, 16],
            seed=0,
            normalize_obs=True,
            normalize_reward=True,
            reward_scale=1.0,
            run_dir="unused",
        ),
        "continuous",
    )


def _pendulum_model(seed: int) -> ActorCritic:
    """A Pendulum model whose outputs depend strongly on its statistics: weights well away from their small
    initial policy head, observation statistics far from Pendulum's (cos, sin, velocity), return variance ~ 40."""
    torch.manual_seed(seed)
    model = ActorCritic(
        spec_from_spaces(*env_spaces("Pendulum-v1"), hidden=[16, 16], normalize_obs=True, normalize_reward=True)
    )
    _move(model, seed)
    return model


def _move(model: ActorCritic, seed: int) -> None:
    """What a learner does between two publications: new weights and new statistics."""
    g = torch.Generator().manual_seed(seed)
    assert model.obs_norm is not None and model.return_norm is not None
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.5)
    far = torch.randn(64, 3, generator=g) * torch.tensor([0.1, 0.2, 0.5]) + torch.tensor([0.7, -0.6, 2.0])
    model.obs_norm.update(far)
    model.return_norm.update(torch.randn(64, generator=g) * 6.0 - 10.0)


def _initial_statistics(model: ActorCritic) -> ActorCritic:
    twin = copy.deepcopy(model)
    for norm in (twin.obs_norm, twin.return_norm):
        assert norm is not None
        norm.mean.zero_()
        norm.var.fill_(1.0)
        norm.count.zero_()
    return twin


def _logp(model: ActorCritic, rollout) -> torch.Tensor:
    T = rollout.actions.shape[0]
    with torch.no_grad():
        out = model(rollout.obs[:T], None, rollout.first[:T])
        return model.log_prob_entropy(out.params, rollout.actions)[0]


def _assert_acted_with(ref: ActorCritic, rollout, cfg, gamma: float) -> None:
    """``rollout`` was collected with ``ref``'s parameters *and* statistics: its behaviour log-probabilities are
    ``ref``'s on its observations, and its rewards are scaled by ``ref``'s return statistics."""
    assert rollout.behaviour_logp is not None and rollout.returns is not None and ref.return_norm is not None
    torch.testing.assert_close(rollout.behaviour_logp, _logp(ref, rollout), rtol=1e-5, atol=1e-4)
    # (the check can fail: with the initial statistics the same weights give other log-probabilities)
    assert (rollout.behaviour_logp - _logp(_initial_statistics(ref), rollout)).abs().max() > 0.05
    # Pendulum does not end within these rollouts: raw rewards from the running returns R_t = gamma R_{t-1} + r_t
    assert bool((rollout.discount_t == np.float32(gamma)).all())
    ret = rollout.returns.double().numpy()
    raw = ret[1:] - gamma * ret[:-1]
    assert cfg.loss.reward_scale == 1.0
    scale = ref.return_norm.scale()
    assert abs(scale - 1.0) > 0.5  # (the return statistics matter)
    np.testing.assert_allclose(
        rollout.r_t.numpy()[1:], np.clip(raw * scale, -cfg.loss.reward_clip, cfg.loss.reward_clip), rtol=1e-4, atol=1e-5
    )


class _Spy:
    """An algorithm that delegates to ``inner`` and keeps each update's rollout and the state of the model it
    computed the loss with; it asks for behaviour log-probabilities, so each rollout shows the policy that acted."""

    record_logp = True

    def __init__(self, inner):
        self.inner, self.updates = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def update(self, model, rollout, cfg, step, generator):
        self.updates.append((copy.deepcopy(rollout), {k: v.clone() for k, v in model.state_dict().items()}))
        return self.inner.update(model, rollout, cfg, step, generator)


def test_hogwild_workers_act_and_compute_their_loss_with_the_shared_statistics():
    """Each :class:`HogwildWorker` step syncs the shared statistics with the weights: the rollout is collected
    with them and the loss computed with them, including the statistics the previous step merged in."""
    cfg = _pendulum_cfg("a3c")
    shared = _pendulum_model(seed=1)
    spy = _Spy(get_algorithm("a3c"))
    optimizer = make_optimizer("rmsprop", list(shared.parameters()), 1e-3, shared=False, eps=1e-5, alpha=0.99)
    worker = HogwildWorker(cfg, spy, shared, optimizer, seed=0)
    try:
        for _ in range(3):
            ref = copy.deepcopy(shared)  # the shared model as this step finds it
            worker.step(1e-3)
            rollout, local = spy.updates[-1]
            _assert_acted_with(ref, rollout, cfg, float(spy.discounts(cfg)))
            for k, v in ref.state_dict().items():
                assert torch.equal(local[k], v), k  # the loss's model: the shared weights and statistics
            assert shared.obs_norm is not None and ref.obs_norm is not None
            # the step merged its rollout into the shared statistics: the next step must act with the new ones
            assert float(shared.obs_norm.count) == float(ref.obs_norm.count) + rollout.num_steps
    finally:
        worker.close()


def test_actors_act_with_the_published_statistics():
    """An :class:`Actor` acts with every published version's statistics, not only its parameters: behaviour
    log-probabilities and reward scale are those of the learner's model at that version."""
    cfg = _pendulum_cfg("impala")
    learner = _pendulum_model(seed=2)
    algo = get_algorithm("impala")
    slots = TrajectorySlots(learner.spec, 1, cfg.rollout.n_steps, cfg.rollout.num_envs, shared=False)
    store = WeightStore(synced_tensors(learner), shared=False)
    store.publish(synced_tensors(learner), 0)
    actor = Actor(cfg, algo, learner.spec, slots, store, seed=0)
    try:
        for version in range(3):
            if version:
                _move(learner, seed=10 + version)
                store.publish(synced_tensors(learner), version)
            actor.step(0)
            assert int(slots.version[0]) == version
            _assert_acted_with(learner, slots.rollout(0), cfg, float(algo.discounts(cfg)))
    finally:
        actor.close()


def test_evaluation_leaves_the_statistics_frozen():
    """Evaluation and tests play with the saved statistics and never update them."""
    env = gym.make("Pendulum-v1")
    model = ActorCritic(spec_from_spaces(env.observation_space, env.action_space, normalize_obs=True))
    assert model.obs_norm is not None
    model.obs_norm.update(torch.randn(100, 3) * 4 + 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    returns = run_episodes(model, "Pendulum-v1", 2, seed=0)
    assert len(returns) == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_normalisers_are_not_built_unless_asked():
    model = _model(normalize_obs=False, normalize_reward=False)
    assert model.obs_norm is None and model.return_norm is None
    assert not list(model.buffers())
    assert empty_rollout(model.spec, 2, 2).returns is None


def test_a_dict_observation_normalises_its_box_entries_only_each_element_with_its_own_statistics():
    """Of ``{"goal": Discrete(3), "image": uint8 [1, 36, 36], "v": Box(2)}`` only ``v``'s two elements are
    standardised (by hand here); the goal index and the pixels reach the torso unchanged."""
    from asyncrl.envs.multi_input import FlatObs, flatten, obs_parts
    from asyncrl.nn.normalize import EntryNorm

    space = gym.spaces.Dict(
        {
            "goal": gym.spaces.Discrete(3),
            "image": gym.spaces.Box(0, 255, (1, 36, 36), np.uint8),
            "v": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
        }
    )
    parts = obs_parts(space)
    model = ActorCritic(spec_from_spaces(FlatObs(parts), gym.spaces.Discrete(2), normalize_obs=True))
    norm = model.obs_norm
    assert isinstance(norm, EntryNorm) and norm.mean.shape == (2,)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(64, 2)).astype(np.float32) * [3.0, 0.5] + [10.0, -2.0]
    batch = {"goal": rng.integers(0, 3, 64), "image": rng.integers(0, 256, (64, 1, 36, 36), np.uint8), "v": v}
    flat = torch.from_numpy(flatten(parts, batch, batched=True))
    norm.update(flat)
    np.testing.assert_allclose(norm.mean.numpy(), v.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.var.numpy(), v.var(0), rtol=1e-4)
    out = norm(flat)
    torch.testing.assert_close(out[:, :-2], flat[:, :-2])  # (the goal, then the pixels, as they were)
    by_hand = np.clip((v - v.mean(0)) / np.sqrt(v.var(0) + EPS), -10, 10)
    np.testing.assert_allclose(out[:, -2:].numpy(), by_hand, rtol=1e-4, atol=1e-5)
    assert synced_tensors(model)[-3:] == [norm.mean, norm.var, norm.count]  # (the positions are not published)
