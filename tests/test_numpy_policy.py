"""``NumpyPolicy`` (the acting path of every feed-forward MLP actor) against the torch model.

Its head outputs must equal the torch forward's, its ``act_logp`` must be the log-probability
torch's head assigns to the sampled action (V-trace and the APPO ratio divide by it), its samples
must follow the policy's distribution, and it must see in-place updates of the model's weights.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from asyncrl.nn.model import ActorCritic
from asyncrl.nn.numpy_policy import NumpyPolicy
from asyncrl.nn.spec import spec_from_spaces

OBS = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
SPACES = {"categorical": gym.spaces.Discrete(4), "gaussian": gym.spaces.Box(-2.0, 2.0, (3,), np.float32)}


def _model(head: str, activation: str, seed: int = 0) -> ActorCritic:
    """A two-layer MLP actor with a head large enough that the policy is far from uniform."""
    torch.manual_seed(seed)
    model = ActorCritic(spec_from_spaces(OBS, SPACES[head], hidden=[16, 8], activation=activation))
    with torch.no_grad():
        model.policy_head.weight.normal_(0.0, 1.0)
        model.policy_head.bias.normal_(0.0, 0.5)
        if head == "gaussian":
            model.log_std.copy_(torch.tensor([-0.7, 0.0, 0.4]))
    return model


def _obs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.5, (n, 5)).astype(np.float32)


def _torch_params(model: ActorCritic, obs: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        o = torch.from_numpy(obs).unsqueeze(0)
        return model(o, None, torch.zeros(1, len(obs), dtype=torch.bool)).params[0]


@pytest.mark.parametrize("activation", ["tanh", "relu", "elu"])
@pytest.mark.parametrize("head", ["categorical", "gaussian"])
def test_params_and_act_logp_match_the_torch_model(head, activation):
    """Head outputs equal the torch forward's and ``act_logp`` equals torch's ``log_prob`` of the
    sampled actions, within 1e-5."""
    model = _model(head, activation)
    policy = NumpyPolicy(model, seed=3)
    obs = _obs(64)
    want = _torch_params(model, obs)
    got = policy.params(obs)
    assert want.abs().max() > 1.0  # a head that matters, not near-zero logits
    torch.testing.assert_close(torch.from_numpy(np.asarray(got)), want, rtol=1e-5, atol=1e-5)
    actions, logp = policy.act_logp(obs)
    assert logp.dtype == np.float32 and logp.shape == (64,)
    want_logp, _ = model.log_prob_entropy(want, torch.from_numpy(actions))
    torch.testing.assert_close(torch.from_numpy(logp), want_logp, rtol=1e-5, atol=1e-5)
    if head == "categorical":
        assert actions.dtype == np.int64 and len(set(actions.tolist())) > 1
        assert np.array_equal(policy.act(obs, deterministic=True), want.argmax(-1).numpy())
    else:
        assert actions.shape == (64, 3)
        np.testing.assert_allclose(policy.act(obs, deterministic=True), want.numpy(), rtol=1e-5, atol=1e-5)


def test_categorical_sample_frequencies_match_the_softmax():
    """Action frequencies over many seeded draws match ``softmax(logits)`` within 5 standard errors."""
    model = _model("categorical", "tanh")
    policy = NumpyPolicy(model, seed=7)
    obs = _obs(3, seed=2)
    probs = torch.softmax(_torch_params(model, obs), -1).numpy()  # [3, 4]
    assert probs.min() > 0.01 and probs.max() < 0.9
    n = 20_000
    counts = np.zeros_like(probs)
    for _ in range(n // 500):
        a = policy.act(np.repeat(obs, 500, axis=0)).reshape(3, 500)
        for i in range(3):
            counts[i] += np.bincount(a[i], minlength=4)
    freq = counts / n
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) < 5 * se), (freq, probs)


def test_gaussian_samples_have_the_head_mean_and_std():
    """Continuous samples have the head's mean and ``exp(log_std)`` as standard deviation (unclipped)."""
    model = _model("gaussian", "elu")
    policy = NumpyPolicy(model, seed=7)
    obs = _obs(1, seed=2)
    mean = _torch_params(model, obs)[0].numpy()
    std = np.exp(model.log_std.detach().numpy())
    n = 20_000
    a = policy.act(np.repeat(obs, n, axis=0))
    assert a.dtype == np.float32
    assert np.all(np.abs(a.mean(0) - mean) < 5 * std / np.sqrt(n))
    np.testing.assert_allclose(a.std(0), std, rtol=0.03)


def test_in_place_model_updates_are_seen_without_rebuilding():
    """The policy reads views of the torch parameters: an in-place update changes its outputs at once."""
    model = _model("gaussian", "tanh")
    policy = NumpyPolicy(model, seed=0)
    obs = _obs(8)
    before = policy.params(obs).copy()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    now = _torch_params(model, obs)
    assert not np.allclose(before, now.numpy(), atol=1e-3)
    torch.testing.assert_close(torch.from_numpy(policy.params(obs)), now, rtol=1e-5, atol=1e-5)
    actions, logp = policy.act_logp(obs)
    torch.testing.assert_close(
        torch.from_numpy(logp), model.log_prob_entropy(now, torch.from_numpy(actions))[0], rtol=1e-5, atol=1e-5
    )


def test_a_bounded_mean_stays_inside_the_bounds_and_numpy_acts_as_torch():
    """``bounded_mean`` squashes the Gaussian mean into the action bounds: by hand, through the torch model and
    the numpy acting path alike (deterministic actions are the mean)."""
    from asyncrl.nn.heads import bounded_mean

    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    raw = torch.tensor([[0.0, 0.0], [50.0, -50.0], [0.5, 1.0]])
    want = [[0.0, 0.5], [2.0, 0.0], [2 * np.tanh(0.5), (np.tanh(1.0) + 1) / 2]]
    np.testing.assert_allclose(bounded_mean(raw, low, high).numpy(), want, rtol=1e-6, atol=1e-6)
    torch.manual_seed(0)
    model = ActorCritic(spec_from_spaces(OBS, SPACES["gaussian"], hidden=[16, 8], bounded_mean=True))
    with torch.no_grad():
        model.policy_head.weight.normal_(0.0, 3.0)  # (raw means far outside +-2)
    obs = _obs(64)
    params = _torch_params(model, obs).numpy()
    assert np.abs(params).max() <= 2.0 and np.abs(params).max() > 1.5
    unbounded = ActorCritic(spec_from_spaces(OBS, SPACES["gaussian"], hidden=[16, 8]))
    unbounded.load_state_dict(model.state_dict())
    assert np.abs(_torch_params(unbounded, obs).numpy()).max() > 2.0  # (the squash is what keeps them inside)
    policy = NumpyPolicy(model, seed=0)
    np.testing.assert_allclose(policy.params(obs), params, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(policy.act(obs, deterministic=True), params, rtol=1e-5, atol=1e-5)


def test_gsde_acting_in_numpy_matches_the_torch_model():
    """With gSDE the numpy path gives the torch model's params (means, then features), acts as the mean plus each
    env's ``features @ W`` with the matrices it is given, and ``act_logp`` is torch's log-probability of that
    action under the state-dependent Gaussian."""
    torch.manual_seed(0)
    model = ActorCritic(spec_from_spaces(OBS, SPACES["gaussian"], hidden=[16, 8], sde=True))
    with torch.no_grad():
        model.policy_head.weight.normal_(0.0, 1.0)
        model.log_std.normal_(-0.5, 0.5)
    policy = NumpyPolicy(model, seed=3)
    obs = _obs(32)
    want = _torch_params(model, obs)
    assert want.shape == (32, 3 + 8)
    torch.testing.assert_close(torch.from_numpy(policy.params(obs)), want, rtol=1e-5, atol=1e-5)
    w = policy.sde_weights(32)
    assert w.shape == (32, 8, 3)
    actions, logp = policy.act_logp(obs, w)
    mean, feats = want[:, :3].numpy(), want[:, 3:].numpy()
    np.testing.assert_allclose(actions, mean + np.einsum("bk,bka->ba", feats, w), rtol=1e-5, atol=1e-5)
    want_logp, _ = model.log_prob_entropy(want, torch.from_numpy(actions))
    torch.testing.assert_close(torch.from_numpy(logp), want_logp, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(policy.act(obs, deterministic=True), mean, rtol=1e-5, atol=1e-5)
    # Without matrices each action is a fresh draw from the same Gaussian: its log-probability is torch's too.
    actions, logp = policy.act_logp(obs)
    want_logp, _ = model.log_prob_entropy(want, torch.from_numpy(actions))
    torch.testing.assert_close(torch.from_numpy(logp), want_logp, rtol=1e-5, atol=1e-5)
