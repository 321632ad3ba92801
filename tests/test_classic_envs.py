"""The native batched CartPole-v1 / Pendulum-v1 against Gymnasium's own envs, step by step."""

import gymnasium as gym
import numpy as np
import pytest

from asyncrl.envs.classic import NATIVE_ENVS, CartPoleVec, PendulumVec, StepResult

TOL = dict(rtol=1e-5, atol=1e-6)


def _balance(obs):
    """A simple controller that keeps CartPole up until the time limit."""
    return (2 * obs[:, 2] + obs[:, 3] + 0.01 * obs[:, 0] > 0).astype(np.int64)


def _cartpole_actions(rng, obs):
    # Envs 0-1 are balanced (episodes reach the 500-step limit), the others act at random.
    a = rng.integers(0, 2, size=len(obs))
    a[:2] = _balance(obs[:2])
    return a


def _pendulum_actions(rng, obs):
    # Wider than [-2, 2] so the clipping is exercised too.
    return rng.uniform(-3.0, 3.0, size=(len(obs), 1)).astype(np.float32)


def _gym_obs(env):
    return env._get_obs() if hasattr(env, "_get_obs") else np.asarray(env.state, np.float32)


@pytest.mark.parametrize(
    "env_id, cls, actions_fn, steps",
    [("CartPole-v1", CartPoleVec, _cartpole_actions, 1600), ("Pendulum-v1", PendulumVec, _pendulum_actions, 1000)],
)
def test_matches_gymnasium_step_by_step(env_id, cls, actions_fn, steps):
    num_envs = 6
    vec = cls(num_envs, seed=123)
    obs = vec.reset()
    limit = cls.max_episode_steps
    envs = [gym.make(env_id).unwrapped for _ in range(num_envs)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
        env.state = vec.state[i].copy()
        np.testing.assert_allclose(_gym_obs(env), obs[i], **TOL)
    elapsed = np.zeros(num_envs, np.int64)
    rng = np.random.default_rng(0)
    n_term = n_trunc = 0
    for _ in range(steps):
        actions = actions_fn(rng, obs)
        res = vec.step(actions)
        assert isinstance(res, StepResult)
        assert res.obs.dtype == res.final_obs.dtype == res.reward.dtype == np.float32
        assert res.terminated.dtype == res.truncated.dtype == bool
        assert res.obs.shape == res.final_obs.shape == (num_envs, *vec.single_observation_space.shape)
        for i, env in enumerate(envs):
            a = int(actions[i]) if env_id == "CartPole-v1" else actions[i]
            o, r, term, _, _ = env.step(a)
            elapsed[i] += 1
            trunc = elapsed[i] >= limit and not term
            np.testing.assert_allclose(res.final_obs[i], o, **TOL)
            np.testing.assert_allclose(res.reward[i], r, **TOL)
            assert res.terminated[i] == term and res.truncated[i] == trunc
            if term or trunc:
                n_term, n_trunc = n_term + term, n_trunc + trunc
                env.state = vec.state[i].copy()  # continue from the native env's new episode
                env.steps_beyond_terminated = None  # what CartPoleEnv.reset clears (unused by Pendulum)
                elapsed[i] = 0
                np.testing.assert_allclose(res.obs[i], _gym_obs(env), **TOL)
            else:
                np.testing.assert_array_equal(res.obs[i], res.final_obs[i])
        obs = res.obs
    assert n_trunc > 0 and (n_term > 0 or env_id == "Pendulum-v1")


def test_cartpole_truncates_exactly_at_500():
    vec = CartPoleVec(4, seed=0)
    obs = vec.reset()
    for t in range(1, 501):
        res = vec.step(_balance(obs))
        assert not res.terminated.any()
        assert res.truncated.all() == (t == 500) and res.truncated.any() == (t == 500)
        obs = res.obs
    assert (vec.elapsed == 0).all()
    assert not np.array_equal(res.obs, res.final_obs)


def test_pendulum_truncates_exactly_at_200():
    vec = PendulumVec(5, seed=0)
    vec.reset()
    for t in range(1, 401):
        res = vec.step(np.zeros((5, 1), np.float32))
        assert not res.terminated.any()
        assert res.truncated.all() == (t % 200 == 0) and res.truncated.any() == (t % 200 == 0)


def test_terminated_wins_over_truncated():
    vec = CartPoleVec(1, seed=0)
    vec.reset()
    vec.elapsed[:] = 499
    vec.state[:] = [2.4, 1.0, 0.0, 0.0]  # the cart leaves the track on step 500
    res = vec.step(np.array([1]))
    assert res.terminated[0] and not res.truncated[0]


def test_reset_distributions_in_gymnasium_ranges():
    cp = CartPoleVec(4000, seed=1)
    obs = cp.reset()
    assert obs.shape == (4000, 4) and obs.dtype == np.float32
    assert np.abs(cp.state).max() < 0.05 and np.abs(cp.state).max() > 0.049
    pe = PendulumVec(4000, seed=1)
    obs = pe.reset()
    assert obs.shape == (4000, 3) and obs.dtype == np.float32
    th, thdot = pe.state[:, 0], pe.state[:, 1]
    assert np.abs(th).max() < np.pi and np.abs(th).max() > 3.1
    assert np.abs(thdot).max() < 1.0 and np.abs(thdot).max() > 0.99
    np.testing.assert_allclose(obs, np.stack([np.cos(th), np.sin(th), thdot], 1).astype(np.float32))
    # Autoreset draws from the same distribution.
    cp.state[:] = [3.0, 0, 0, 0]
    res = cp.step(np.zeros(4000, np.int64))
    assert res.terminated.all() and np.abs(res.obs).max() < 0.05


@pytest.mark.parametrize("cls", [CartPoleVec, PendulumVec])
def test_seed_gives_identical_sequences(cls):
    def rollout(seed_in_ctor):
        vec = cls(8, seed=7) if seed_in_ctor else cls(8)
        out = [vec.reset() if seed_in_ctor else vec.reset(seed=7)]
        rng = np.random.default_rng(1)
        for _ in range(300):
            a = rng.integers(0, 2, 8) if cls is CartPoleVec else rng.uniform(-2, 2, (8, 1))
            r = vec.step(a)
            out += [r.obs, r.reward, r.terminated, r.truncated, r.final_obs]
        return out

    a, b, c = rollout(True), rollout(True), rollout(False)
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(cls(8, seed=8).reset(), a[0])


def test_spaces_match_gymnasium():
    for env_id, cls in NATIVE_ENVS.items():
        vec, env = cls(3), gym.make(env_id)
        assert vec.num_envs == 3
        assert vec.single_observation_space == env.observation_space
        assert vec.single_action_space == env.action_space
        assert cls.max_episode_steps == env.spec.max_episode_steps
        vec.close()
        env.close()


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError):
        CartPoleVec(2).step(np.zeros(2, np.int64))
