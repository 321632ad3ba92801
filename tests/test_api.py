"""The Python API: A2C/A3C learn, save, load, predict; a second learn() continues the run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from asyncrl import A2C, A3C, load
from asyncrl.errors import UsageError

QUIET = dict(tensorboard=False, progress=False, eval_every=0)


def test_a2c_learn_save_load_predict(tmp_path):
    agent = A2C("CartPole-v1", seed=0, run_dir=str(tmp_path / "run"), **QUIET).learn(total_steps=2000)
    assert agent.result.env_steps >= 2000
    path = str(tmp_path / "model.pt")
    agent.save(path)
    policy = load(path)
    obs, _ = gym.make("CartPole-v1").reset(seed=0)
    action, state = policy.predict(obs, deterministic=True)
    assert state is None and int(action) in (0, 1)
    # Deterministic prediction is the argmax of the model's logits.
    with torch.no_grad():
        logits = policy.model(torch.as_tensor(obs)[None, None], None, torch.zeros(1, 1, dtype=torch.bool)).params
    assert int(action) == int(logits.argmax())
    batch, _ = policy.predict(np.stack([obs, obs, obs]), deterministic=True)
    assert batch.shape == (3,) and (batch == action).all()
    # A second learn() continues the same run and step counter.
    agent.learn(total_steps=1000)
    assert agent.result.env_steps >= 3000


def test_second_learn_is_not_stopped_by_the_first_target(tmp_path):
    agent = A2C("CartPole-v1", seed=0, run_dir=str(tmp_path / "run"), **QUIET)
    agent.learn(total_timesteps=200_000, target_return=30.0)  # SB3's keyword works too
    first = agent.result
    assert first.stop_reason.startswith("target return") and first.env_steps < 200_000
    agent.learn(total_steps=3000)
    assert agent.result.stop_reason == "step budget reached"
    assert agent.result.env_steps >= first.env_steps + 3000


def test_a3c_continuous_lstm_policy_predicts_within_bounds(tmp_path):
    agent = A3C("Pendulum-v1", workers=2, lstm=True, seed=1, run_dir=str(tmp_path / "p"), **QUIET)
    agent.learn(total_steps=1000)
    obs = np.zeros((4, 3), np.float32)
    action, state = agent.predict(obs, deterministic=False, episode_start=np.ones(4, bool))
    assert action.shape == (4, 1) and (np.abs(action) <= 2.0).all()
    assert state is not None and state[0].shape == (4, agent.config.lstm_size or 64)
    action2, state2 = agent.predict(obs, state=state)
    assert not torch.equal(state2[0], state[0])  # the LSTM state moves on


def test_unknown_setting_is_refused():
    with pytest.raises(UsageError, match="bogus"):
        A2C("CartPole-v1", bogus=1)


def test_load_of_a_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load(str(tmp_path / "nope.pt"))


def test_a2c_is_deterministic_for_a_seed(tmp_path):
    """Same seed, same results: the synchronous runtime has no hidden randomness."""
    runs = []
    for i in range(2):
        A2C("CartPole-v1", seed=3, run_dir=str(tmp_path / f"r{i}"), **QUIET).learn(total_steps=6000)
        with open(tmp_path / f"r{i}" / "episodes.csv") as f:
            runs.append([line.split(",")[1:4] for line in f])  # env_steps, return, length (not wall time)
        ckpt = torch.load(tmp_path / f"r{i}" / "checkpoints" / "latest.pt", weights_only=True)
        runs[-1].append([ckpt["model"][k] for k in sorted(ckpt["model"])])
    assert runs[0][:-1] == runs[1][:-1] and len(runs[0]) > 40
    for a, b in zip(runs[0][-1], runs[1][-1]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls", ["IMPALA", "APPO", "A3CPS"])
def test_actor_learner_agents_learn_and_predict(cls, tmp_path):
    import asyncrl

    agent = getattr(asyncrl, cls)(
        "CartPole-v1", seed=0, workers=1, num_envs=4, run_dir=str(tmp_path / "run"), **QUIET
    ).learn(total_steps=3000)
    assert agent.config.algo == {"IMPALA": "impala", "APPO": "appo", "A3CPS": "a3c-ps"}[cls]
    assert agent.result.env_steps >= 3000
    obs, _ = gym.make("CartPole-v1").reset(seed=0)
    action, _ = agent.predict(obs, deterministic=True)
    assert int(action) in (0, 1)
    agent.learn(total_steps=1000)  # continues the run
    assert agent.result.env_steps >= 4000


def test_the_shipped_cartpole_model_plays_well(tmp_path):
    from conftest import run_cli

    p = run_cli("eval", "pretrained:cartpole", "--episodes", "10", "--json", check=True)
    import json

    assert json.loads(p.stdout)["mean"] >= 475
    policy = load("pretrained:cartpole")
    assert policy.env_id == "CartPole-v1"
    with pytest.raises(UsageError, match="no pretrained model 'nope'"):
        load("pretrained:nope")
