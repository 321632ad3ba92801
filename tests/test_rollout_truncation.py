"""The rollout collector's truncation bootstrap, end to end on Gymnasium CartPole with short time limits.

Where an episode is cut by its time limit after step ``t``, the collector must fold the value of
the episode's *final* observation into the reward, ``r_t = r * reward_scale + gamma * V(final_obs)``,
and cut the discount to 0; a terminated step gets discount 0 and no bootstrap. The expected values
here come from an independent record of what the env returned (a wrapper around the vector env)
and, for the LSTM model, from re-running the model over the episode from its first observation
with a fresh state.
"""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from asyncrl.envs.vector import SyncVecEnv
from asyncrl.nn.model import ActorCritic
from asyncrl.nn.spec import spec_from_spaces
from asyncrl.runtime.rollout import RolloutCollector

GAMMA = 0.9
T = 14


class Recorder:
    """A vector env that keeps every ``StepResult`` it returns (``final_obs``, flags, rewards)."""

    def __init__(self, venv):
        self.venv, self.num_envs, self.steps = venv, venv.num_envs, []

    def reset(self, seed=None):
        return self.venv.reset(seed=seed)

    def step(self, actions):
        res = self.venv.step(actions)
        self.steps.append(res)
        return res

    def close(self):
        self.venv.close()


def short_cartpoles(limits: list[int], seed: int = 0) -> Recorder:
    """A :class:`SyncVecEnv` of CartPole-v1 envs with the given time limits (``max_episode_steps``)."""
    venv = SyncVecEnv("CartPole-v1", len(limits), seed=seed)
    for e in venv.envs:
        e.close()
    venv.envs = [gym.make("CartPole-v1", max_episode_steps=m) for m in limits]
    return Recorder(venv)


def episode_value(model, rollout, recorder, t: int, b: int) -> torch.Tensor:
    """``V(final_obs)`` of the episode env ``b`` ended after step ``t``: the model re-run over that
    episode's observations (from its first one, fresh state) followed by the final observation."""
    t0 = max(i for i in range(t + 1) if rollout.first[i, b])
    obs = torch.cat([rollout.obs[t0 : t + 1, b], torch.as_tensor(recorder.steps[t].final_obs[b]).unsqueeze(0)])
    first = torch.zeros(len(obs), 1, dtype=torch.bool)
    first[0] = True
    with torch.no_grad():
        return model(obs.unsqueeze(1), model.initial_state(1), first).value[-1, 0]


def _collect(lstm: bool, reward_scale: float):
    # env 0 is cut every 5 steps (CartPole cannot fail that fast); env 1 has room to fail
    rec = short_cartpoles([5, 200])
    torch.manual_seed(0)
    spec = spec_from_spaces(
        rec.venv.single_observation_space, rec.venv.single_action_space, hidden=[16], lstm=lstm, lstm_size=8
    )
    model = ActorCritic(spec)
    with torch.no_grad():  # nearly always push right, so env 1's pole falls within T steps
        model.policy_head.bias.copy_(torch.tensor([0.0, 6.0]))
    try:
        rollout = RolloutCollector(rec, model, T, GAMMA, reward_scale=reward_scale, seed=0).collect()
    finally:
        rec.close()
    return model, rollout, rec


@pytest.mark.parametrize("reward_scale", [1.0, 0.25])
@pytest.mark.parametrize("lstm", [False, True], ids=["mlp", "lstm"])
def test_truncated_steps_bootstrap_from_the_final_observation(lstm, reward_scale):
    """At a time limit ``r_t = r * reward_scale + gamma * V(final_obs)`` and ``discount_t = 0``; at a
    termination ``r_t = r * reward_scale`` and ``discount_t = 0``; elsewhere ``gamma`` and the scaled reward."""
    model, ro, rec = _collect(lstm, reward_scale)
    assert len(rec.steps) == T
    truncated = torch.tensor([s.truncated.tolist() for s in rec.steps])
    terminated = torch.tensor([s.terminated.tolist() for s in rec.steps])
    reward = torch.tensor([s.reward.tolist() for s in rec.steps])
    # the scenario the test needs: env 0 cut at t = 4 and 9, env 1 terminated at least once, never cut
    assert truncated[:, 0].nonzero().flatten().tolist() == [4, 9]
    assert not terminated[:, 0].any() and not truncated[:, 1].any() and terminated[:, 1].any()
    for t in range(T):
        for b in range(2):
            r = reward[t, b] * reward_scale
            if truncated[t, b]:
                v = episode_value(model, ro, rec, t, b)
                assert abs(v.item()) > 1e-3  # a bootstrap that is really there
                torch.testing.assert_close(ro.r_t[t, b], r + GAMMA * v, rtol=1e-5, atol=1e-5)
                assert ro.discount_t[t, b] == 0.0
            elif terminated[t, b]:
                assert ro.r_t[t, b] == r and ro.discount_t[t, b] == 0.0
            else:
                assert ro.r_t[t, b] == r and ro.discount_t[t, b] == pytest.approx(GAMMA)
    # the step after an episode's end starts the next one
    ends = truncated | terminated
    assert torch.equal(ro.first[1:], ends) and ro.first[0].all()
