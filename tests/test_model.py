"""ActorCritic and its action heads: shapes, LSTM resets, distributions against torch.distributions,
sampling, action clipping, and the spaces ``spec_from_spaces`` accepts."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal

from asyncrl.nn import heads
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.spec import spec_from_spaces

T, B = 6, 3
BOX_OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
DISCRETE_ACT = gym.spaces.Discrete(5)
BOX_ACT = gym.spaces.Box(np.array([-2.0, -0.5], np.float32), np.array([2.0, 1.5], np.float32))


def _model(action_space, lstm, obs_space=BOX_OBS, seed=0):
    torch.manual_seed(seed)
    spec = spec_from_spaces(obs_space, action_space, hidden=[16, 16], lstm=lstm, lstm_size=8)
    return ActorCritic(spec)


def _obs(T, B, seed=1):
    return torch.randn(T, B, 4, generator=torch.Generator().manual_seed(seed))


def _random_state(model, batch, seed=2):
    g = torch.Generator().manual_seed(seed)
    H = model.spec.lstm_size
    return (torch.randn(batch, H, generator=g), torch.randn(batch, H, generator=g))


@pytest.mark.parametrize("lstm", [False, True])
@pytest.mark.parametrize("action_space,A", [(DISCRETE_ACT, 5), (BOX_ACT, 2)])
def test_output_shapes(action_space, A, lstm):
    model = _model(action_space, lstm)
    first = torch.zeros(T, B, dtype=torch.bool)
    out = model(_obs(T, B), model.initial_state(B), first)
    assert out.params.shape == (T, B, A)
    assert out.value.shape == (T, B)
    if lstm:
        h, c = out.core_state
        assert h.shape == c.shape == (B, 8)
    else:
        assert out.core_state is None
        assert model.initial_state(B) is None
    actions, value, _ = model.act(_obs(1, B)[0], model.initial_state(B), torch.ones(B, dtype=torch.bool))
    assert value.shape == (B,)
    assert actions.shape == ((B,) if action_space is DISCRETE_ACT else (B, A))
    log_prob, entropy = model.log_prob_entropy(out.params, model.sample(out.params))
    assert log_prob.shape == entropy.shape == (T, B)


def test_discrete_observations_are_one_hot():
    model = _model(DISCRETE_ACT, False, obs_space=gym.spaces.Discrete(7))
    obs = torch.randint(0, 7, (T, B), generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        out = model(obs, None, torch.zeros(T, B, dtype=torch.bool))
        # The same network applied by hand to one-hot vectors.
        x = torch.nn.functional.one_hot(obs, 7).float().reshape(T * B, 7)
        want_params = model.policy_head(model.torso(x)).reshape(T, B, 5)
        want_value = model.value_head(model.critic_torso(x)).reshape(T, B)
    torch.testing.assert_close(out.params, want_params)
    torch.testing.assert_close(out.value, want_value)


@pytest.mark.parametrize("action_space", [DISCRETE_ACT, BOX_ACT])
def test_lstm_state_is_zeroed_where_first(action_space):
    model = _model(action_space, lstm=True)
    obs = _obs(T, B)
    start = _random_state(model, B)
    cut = 3
    first = torch.zeros(T, B, dtype=torch.bool)
    first[cut, 0] = True  # env 0 starts a new episode at step `cut`; envs 1, 2 do not
    with torch.no_grad():
        full = model(obs, start, first)
        fresh = model(obs[cut:], model.initial_state(B), torch.zeros(T - cut, B, dtype=torch.bool))
        no_reset = model(obs, start, torch.zeros(T, B, dtype=torch.bool))
    # Env 0 from `cut` on equals a run from a fresh zero state.
    torch.testing.assert_close(full.params[cut:, 0], fresh.params[:, 0])
    torch.testing.assert_close(full.value[cut:, 0], fresh.value[:, 0])
    torch.testing.assert_close(full.core_state[0][0], fresh.core_state[0][0])
    # Before `cut`, and in the other envs, the reset changes nothing.
    torch.testing.assert_close(full.params[:cut], no_reset.params[:cut])
    torch.testing.assert_close(full.params[:, 1:], no_reset.params[:, 1:])
    # And the reset mattered: carrying the state on gives different outputs in env 0.
    assert (full.params[cut:, 0] - no_reset.params[cut:, 0]).abs().max() > 1e-6
    assert (full.params[cut:, 1] - fresh.params[:, 1]).abs().max() > 1e-6


def test_lstm_first_at_step_zero_ignores_the_given_state():
    model = _model(DISCRETE_ACT, lstm=True)
    obs = _obs(T, B)
    first = torch.zeros(T, B, dtype=torch.bool)
    first[0] = True
    with torch.no_grad():
        a = model(obs, _random_state(model, B), first)
        b = model(obs, model.initial_state(B), torch.zeros(T, B, dtype=torch.bool))
    torch.testing.assert_close(a.params, b.params)
    torch.testing.assert_close(a.value, b.value)


def test_lstm_sequence_equals_step_by_step_acting():
    """One batched forward over T steps equals T single steps carrying the state (as the learner assumes)."""
    model = _model(DISCRETE_ACT, lstm=True)
    obs = _obs(T, B)
    first = torch.rand(T, B, generator=torch.Generator().manual_seed(3)) < 0.3
    state = _random_state(model, B)
    with torch.no_grad():
        full = model(obs, state, first)
        outs = []
        for t in range(T):
            o = model(obs[t : t + 1], state, first[t : t + 1])
            state = o.core_state
            outs.append(o.params[0])
    torch.testing.assert_close(full.params, torch.stack(outs))


def test_categorical_log_prob_entropy_match_torch():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(T, B, 5, generator=g) * 3
    actions = torch.randint(0, 5, (T, B), generator=g)
    log_prob, entropy = heads.categorical_log_prob_entropy(logits, actions)
    dist = Categorical(logits=logits)
    torch.testing.assert_close(log_prob, dist.log_prob(actions))
    torch.testing.assert_close(entropy, dist.entropy())


def test_gaussian_log_prob_entropy_match_torch():
    g = torch.Generator().manual_seed(5)
    mean = torch.randn(T, B, 2, generator=g)
    log_std = torch.tensor([-0.7, 0.4])
    actions = mean + torch.randn(T, B, 2, generator=g) * 2
    log_prob, entropy = heads.gaussian_log_prob_entropy(mean, log_std, actions)
    dist = Normal(mean, log_std.exp())
    torch.testing.assert_close(log_prob, dist.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, dist.entropy().sum(-1))
    assert entropy.shape == (T, B)


def test_model_log_prob_uses_its_log_std_and_gradients_flow():
    model = _model(BOX_ACT, lstm=False)
    with torch.no_grad():
        model.log_std.copy_(torch.tensor([0.3, -1.2]))
    out = model(_obs(T, B), None, torch.zeros(T, B, dtype=torch.bool))
    actions = torch.randn(T, B, 2)
    log_prob, entropy = model.log_prob_entropy(out.params, actions)
    dist = Normal(out.params, model.log_std.exp())
    torch.testing.assert_close(log_prob, dist.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, dist.entropy().sum(-1))
    (log_prob.mean() + entropy.mean()).backward()
    assert model.log_std.grad is not None and model.log_std.grad.abs().max() > 0


def _sde_model(lstm=False, log_std_init=-0.5):
    torch.manual_seed(0)
    spec = spec_from_spaces(BOX_OBS, BOX_ACT, hidden=[16, 16], lstm=lstm, lstm_size=8, sde=True)
    spec.log_std_init = log_std_init
    return ActorCritic(spec)


def test_gsde_std_is_the_spread_of_the_features_times_the_noise_matrix():
    """``exp(sde_log_std(z, log_std))`` is the standard deviation of ``z @ W`` over ``W ~ N(0, exp(log_std)^2)``:
    measured over 200,000 draws of ``W``, within 1.5%."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 16, generator=g)
    log_std = torch.randn(16, 2, generator=g) * 0.5 - 1.0
    torch.manual_seed(1)
    w = heads.sde_weights(log_std, 200_000)  # [N, K, A]
    noise = torch.einsum("bk,nka->nba", z, w)  # [N, 3, A]
    want = heads.sde_log_std(z, log_std).exp()
    torch.testing.assert_close(noise.std(0), want, rtol=0.015, atol=0.0)
    torch.testing.assert_close(noise.mean(0), torch.zeros(3, 2), rtol=0.0, atol=0.02 * float(want.max()))


@pytest.mark.parametrize("lstm", [False, True])
def test_gsde_log_prob_is_the_gaussian_of_its_std_and_only_the_mean_trains_the_features(lstm):
    model = _sde_model(lstm)
    assert model.log_std.shape == (8 if lstm else 16, 2)
    state = model.initial_state(B)
    out = model(_obs(T, B), state, torch.zeros(T, B, dtype=torch.bool))
    assert out.params.shape == (T, B, 2 + model.sde_features)
    mean, latent = out.params[..., :2], out.params[..., 2:]
    std = (latent.pow(2) @ model.log_std.exp().pow(2) + heads.SDE_EPS).sqrt()
    actions = torch.randn(T, B, 2)
    log_prob, entropy = model.log_prob_entropy(out.params, actions)
    dist = Normal(mean, std)
    torch.testing.assert_close(log_prob, dist.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, dist.entropy().sum(-1))
    # The entropy depends on the log-std and the features; the features are detached (gSDE's default), so only
    # the log-std gets a gradient from it: the torso learns from the mean alone.
    entropy.sum().backward()
    assert model.log_std.grad is not None and model.log_std.grad.abs().max() > 0
    torso = [p for n, p in model.named_parameters() if n.startswith(("torso", "core", "policy_head"))]
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in torso)


def test_gsde_samples_with_held_matrices_are_the_mean_plus_features_times_each_envs_matrix():
    model = _sde_model()
    out = model(_obs(1, B), None, torch.zeros(1, B, dtype=torch.bool))
    params = out.params[0].detach()
    torch.manual_seed(3)
    w = model.sde_weights(B)
    assert w.shape == (B, 16, 2)
    got = model.sample(params, sde_weights=w)
    want = params[:, :2] + torch.stack([params[b, 2:] @ w[b] for b in range(B)])
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(model.sample(params, deterministic=True, sde_weights=w), params[:, :2])
    # The same matrices and the same features give the same noise: smooth in time, unlike a fresh draw per step.
    torch.testing.assert_close(model.sample(params, sde_weights=w), got)
    assert not torch.equal(model.sample(params), model.sample(params))


def test_categorical_sample_deterministic_is_argmax():
    logits = torch.randn(50, 4, 6, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(heads.categorical_sample(logits, deterministic=True), logits.argmax(-1))
    model = _model(DISCRETE_ACT, lstm=False)
    torch.testing.assert_close(model.sample(logits[..., :5], deterministic=True), logits[..., :5].argmax(-1))


def test_categorical_sample_frequencies():
    probs = torch.tensor([0.2, 0.5, 0.3])
    n = 20000
    logits = probs.log().expand(n, 3)
    torch.manual_seed(7)
    samples = heads.categorical_sample(logits)
    assert samples.shape == (n,) and samples.dtype == torch.int64
    assert samples.min() >= 0 and samples.max() <= 2
    freq = torch.bincount(samples, minlength=3).float() / n
    # The standard error is about 0.0035 per class; 0.015 is about 4 of them.
    torch.testing.assert_close(freq, probs, rtol=0, atol=0.015)


def test_categorical_sample_never_picks_zero_probability_actions():
    logits = torch.tensor([0.0, -float("inf"), 1.0, -float("inf")]).expand(5000, 4)
    torch.manual_seed(8)
    samples = heads.categorical_sample(logits)
    assert set(samples.tolist()) == {0, 2}


def test_categorical_sample_zero_draw_skips_leading_zero_probability_action(monkeypatch):
    # torch.rand draws from [0, 1), so u == 0 is a possible (if rare, ~2**-24) draw.
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.zeros(*shape, **kw))
    logits = torch.tensor([[-float("inf"), 0.0, 1.0]])
    assert heads.categorical_sample(logits).item() != 0


def test_gaussian_sample():
    mean = torch.tensor([1.0, -2.0])
    log_std = torch.tensor([0.0, -1.0])
    torch.testing.assert_close(heads.gaussian_sample(mean, log_std, deterministic=True), mean)
    torch.manual_seed(9)
    s = heads.gaussian_sample(mean.expand(20000, 2), log_std)
    torch.testing.assert_close(s.mean(0), mean, rtol=0, atol=0.04)
    torch.testing.assert_close(s.std(0), log_std.exp(), rtol=0, atol=0.03)


def test_env_actions_clip_continuous_actions():
    model = _model(BOX_ACT, lstm=False)
    actions = torch.tensor([[-5.0, 0.0], [1.0, 3.0], [0.5, -0.6], [2.0, 1.5]])
    got = model.env_actions(actions)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([[-2.0, 0.0], [1.0, 1.5], [0.5, -0.5], [2.0, 1.5]], np.float32))
    # The sampled tensor itself is left unclipped (the loss needs the action actually sampled).
    assert actions[0, 0] == -5.0


def test_env_actions_discrete_pass_through():
    model = _model(DISCRETE_ACT, lstm=False)
    got = model.env_actions(torch.tensor([0, 4, 2]))
    np.testing.assert_array_equal(got, np.array([0, 4, 2]))
    assert np.issubdtype(got.dtype, np.integer)


def test_spec_from_spaces_accepts_supported_spaces():
    spec = spec_from_spaces(BOX_OBS, BOX_ACT)
    assert spec.action_kind == "continuous" and spec.action_dim == 2
    assert spec.action_low == [-2.0, -0.5] and spec.action_high == [2.0, 1.5]
    assert spec.obs_size == 4
    spec = spec_from_spaces(gym.spaces.Discrete(9), DISCRETE_ACT)
    assert spec.action_kind == "discrete" and spec.action_dim == 5 and spec.obs_size == 9
    spec = spec_from_spaces(gym.spaces.Box(0, 1, (2, 3)), DISCRETE_ACT)
    assert spec.obs_size == 6


@pytest.mark.parametrize(
    "obs_space,action_space",
    [
        (BOX_OBS, gym.spaces.Tuple((DISCRETE_ACT, DISCRETE_ACT))),
        (BOX_OBS, gym.spaces.Text(5)),
        (gym.spaces.Dict({"a": BOX_OBS}), DISCRETE_ACT),
        (gym.spaces.Tuple((BOX_OBS, BOX_OBS)), DISCRETE_ACT),
    ],
)
def test_spec_from_spaces_rejects_unsupported(obs_space, action_space):
    with pytest.raises(ValueError):
        spec_from_spaces(obs_space, action_space)


def test_unknown_activation_rejected():
    spec = spec_from_spaces(BOX_OBS, DISCRETE_ACT, activation="sigmoid")
    with pytest.raises(ValueError):
        ActorCritic(spec)


# ---- factorised action heads: MultiDiscrete (categorical per factor), MultiBinary (Bernoulli per bit) --------


def test_multi_categorical_log_prob_and_entropy_are_the_factors_sums_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0), 2.0, 2.0, 2.0]])  # factor 0: p = (1/4, 3/4); factor 1: uniform of 3
    actions = torch.tensor([[1, 2]])
    logp, ent = heads.multi_categorical_log_prob_entropy(logits, [2, 3], actions)
    assert logp.item() == pytest.approx(math.log(3 / 4) + math.log(1 / 3), abs=1e-6)
    h0 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert ent.item() == pytest.approx(h0 + math.log(3), abs=1e-6)
    torch.manual_seed(0)
    a = heads.multi_categorical_sample(logits.expand(20_000, -1), [2, 3])
    assert a.shape == (20_000, 2) and a[:, 0].max() <= 1 and a[:, 1].max() <= 2
    assert (a[:, 0] == 1).float().mean().item() == pytest.approx(0.75, abs=0.02)
    assert torch.equal(heads.multi_categorical_sample(logits, [2, 3], deterministic=True), torch.tensor([[1, 0]]))


def test_bernoulli_log_prob_and_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(4.0)]])  # p(1) = 1/2 and 4/5
    logp, ent = heads.bernoulli_log_prob_entropy(logits, torch.tensor([[1, 0]]))
    assert logp.item() == pytest.approx(math.log(0.5) + math.log(0.2), abs=1e-6)
    assert ent.item() == pytest.approx(math.log(2) - (0.8 * math.log(0.8) + 0.2 * math.log(0.2)), abs=1e-6)
    torch.manual_seed(0)
    bits = heads.bernoulli_sample(logits.expand(20_000, -1))
    assert bits[:, 1].float().mean().item() == pytest.approx(0.8, abs=0.02)
    assert torch.equal(heads.bernoulli_sample(logits, deterministic=True), torch.tensor([[0, 1]]))


@pytest.mark.parametrize(
    "space, head, stored, env_shape",
    [
        (gym.spaces.MultiDiscrete([2, 3]), 5, (2,), (2,)),
        (gym.spaces.MultiDiscrete([[2, 3], [4, 5]], start=[[1, 1], [0, 0]]), 14, (4,), (2, 2)),
        (gym.spaces.MultiBinary((2, 3)), 6, (6,), (2, 3)),
        (gym.spaces.Box(-1, 1, (2, 2)), 4, (4,), (2, 2)),
    ],
)
def test_an_action_space_of_any_shape_round_trips_through_the_model(space, head, stored, env_shape):
    model = ActorCritic(spec_from_spaces(BOX_OBS, space))
    assert model.spec.head_size == head and model.spec.step_action_shape == stored
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *BOX_OBS.shape), None, torch.zeros(1, 3, dtype=torch.bool))
        a = model.sample(out.params[0])
    assert a.shape == (3, *stored)
    logp, ent = model.log_prob_entropy(out.params[0], a)
    assert logp.shape == ent.shape == (3,) and torch.isfinite(logp).all()
    env_a = model.env_actions(a)
    assert env_a.shape == (3, *env_shape) and all(space.contains(x.astype(space.dtype)) for x in env_a)


def test_a_masked_head_gives_forbidden_actions_no_probability_and_no_entropy():
    logits = torch.tensor([[2.0, 0.0, 0.0, 5.0]])
    mask = torch.tensor([[True, True, True, False]])  # the best action is forbidden
    logp, ent = heads.categorical_log_prob_entropy(heads.masked_logits(logits, mask), torch.tensor([0]))
    z = math.exp(2.0) + 2.0
    assert logp.item() == pytest.approx(2.0 - math.log(z), abs=1e-6)
    p = [math.exp(2.0) / z, 1 / z, 1 / z]
    assert ent.item() == pytest.approx(-sum(q * math.log(q) for q in p), abs=1e-6)
    torch.manual_seed(0)
    a = heads.categorical_sample(heads.masked_logits(logits.expand(5000, -1), mask.expand(5000, -1)))
    assert (a != 3).all() and heads.masked_logits(logits, mask).argmax().item() == 0
    # A MultiDiscrete head's mask: its factors' masks side by side.
    model = ActorCritic(spec_from_spaces(BOX_OBS, gym.spaces.MultiDiscrete([2, 3]), action_masks=True))
    params = torch.zeros(1, 5)
    m = torch.tensor([[False, True, True, False, True]])
    logp, ent = model.log_prob_entropy(params, torch.tensor([[1, 2]]), m)
    assert logp.item() == pytest.approx(math.log(1 / 2), abs=1e-6) and ent.item() == pytest.approx(math.log(2))


def test_flat_masks_take_one_vector_or_one_mask_per_factor():
    from asyncrl.envs.check import flat_mask

    space = gym.spaces.MultiDiscrete([2, 3])
    assert flat_mask({"action_mask": (np.array([1, 0]), np.array([0, 1, 1]))}, space).tolist() == [
        True, False, False, True, True
    ]  # fmt: skip
    assert flat_mask({}, gym.spaces.Discrete(3)).all()
    with pytest.raises(ValueError, match="has 2 entries"):
        flat_mask({"action_mask": [1, 0]}, gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match="action masks apply to Discrete and MultiDiscrete"):
        spec_from_spaces(BOX_OBS, gym.spaces.Box(-1, 1, (2,)), action_masks=True)


# ---- Dict and Tuple observations: flattened entry by entry, split again by the multi-input torso --------------


def test_dict_observations_flatten_and_the_multi_input_torso_splits_them():
    from asyncrl.envs.multi_input import FlatObs, flatten, obs_parts
    from asyncrl.nn.torsos import MultiInputTorso

    space = gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, (1, 36, 36), np.uint8),
            "goal": gym.spaces.Discrete(3, start=1),
            "v": gym.spaces.Box(-1, 1, (2, 2), np.float32),
        }
    )
    parts = obs_parts(space)
    assert [(p["key"], p["kind"], p["size"]) for p in parts] == [
        ("goal", "discrete", 1), ("image", "image", 1296), ("v", "box", 4)
    ]  # fmt: skip
    obs = {"image": np.full((1, 36, 36), 255, np.uint8), "goal": 3, "v": np.arange(4, dtype=np.float32).reshape(2, 2)}
    flat = flatten(parts, obs)
    assert flat.shape == (1301,) and flat[0] == 2 and flat[-4:].tolist() == [0, 1, 2, 3]  # (goal from its start)
    batch = flatten(parts, {k: np.stack([v, v]) for k, v in obs.items()}, batched=True)
    assert batch.shape == (2, 1301) and np.array_equal(batch[1], flat)
    spec = spec_from_spaces(FlatObs(parts), DISCRETE_ACT, hidden=[8])
    assert spec.torso == "multi-input" and spec.obs_parts == parts
    torso = MultiInputTorso(spec)
    assert torso.out_dim == 256 + 8 and len(torso.cnns) == 1
    out = torso(torch.as_tensor(batch))
    assert out.shape == (2, 264) and torch.isfinite(out).all()
    # The one-hot goal reaches the MLP: another goal, other features.
    other = batch.copy()
    other[:, 0] = 0
    assert not torch.allclose(torso(torch.as_tensor(other))[:, 256:], out[:, 256:])
    with pytest.raises(ValueError, match="allowed in a Dict or Tuple observation: Box and Discrete"):
        obs_parts(gym.spaces.Dict({"a": gym.spaces.Dict({"b": DISCRETE_ACT})}))


@pytest.mark.parametrize("T, starts", [(1, []), (1, [0]), (9, []), (9, [0, 4]), (9, [3, 4, 8])])
def test_lstm_over_time_equals_the_cell_step_by_step(T, starts):
    """The fused runs between episode starts give the cell loop's outputs, final state and gradients."""
    from asyncrl.nn.layers import lstm_over_time

    torch.manual_seed(T + len(starts))
    cell = torch.nn.LSTMCell(5, 3)
    x = torch.randn(T, 4, 5, requires_grad=True)
    state = (torch.randn(4, 3), torch.randn(4, 3))
    first = torch.zeros(T, 4, dtype=torch.bool)
    for t in starts:
        first[t, t % 4] = True  # (one env starts an episode at t)
    h, c, outs = *state, []
    for t in range(T):
        keep = (~first[t]).float().unsqueeze(-1)
        h, c = cell(x[t], (h * keep, c * keep))
        outs.append(h)
    want = torch.stack(outs)
    (want_grad,) = torch.autograd.grad(want.sum() + c.sum(), x)
    got, (gh, gc) = lstm_over_time(cell, x, state, first)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gh, h)
    torch.testing.assert_close(gc, c)
    (got_grad,) = torch.autograd.grad(got.sum() + gc.sum(), x)
    torch.testing.assert_close(got_grad, want_grad)
