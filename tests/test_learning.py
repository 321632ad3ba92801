"""Learning tests with a step budget (not a time budget): the defaults must learn.

Each run stops as soon as the mean return of the last 100 training episodes reaches the
target; the assertion is that this happened before the env-step budget ran out.
"""

from __future__ import annotations

import pytest

from asyncrl import TrainConfig, train

pytestmark = pytest.mark.learning


def _learn(algo: str, env: str, target: float, budget: int, seed: int = 0, **kw):
    cfg = TrainConfig(algo=algo, env=env, seed=seed, total_steps=budget, target_return=target, eval_every=0,
                      tensorboard=False, progress=False, **kw)
    return train(cfg)


@pytest.mark.parametrize("algo, budget", [("a2c", 300_000), ("a3c", 500_000)])
def test_cartpole_reaches_195(algo, budget, tmp_path):
    r = _learn(algo, "CartPole-v1", 195.0, budget, workers=2, run_dir=str(tmp_path / algo))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= 195.0 and r.env_steps <= budget + 10_000


def test_pendulum_reaches_minus_400(tmp_path):
    # The default budget: Pendulum's learning rate decays linearly to 0 at total_steps.
    budget = 2_000_000
    r = _learn("a2c", "Pendulum-v1", -400.0, budget, run_dir=str(tmp_path / "pendulum"))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= -400.0
