"""Learning tests with a step budget (not a time budget): the defaults must learn.

Each run stops as soon as the mean return of the last 100 training episodes reaches the
target; the assertion is that this happened before the env-step budget ran out.
"""

from __future__ import annotations

import pytest

from asyncrl import TrainConfig, train

pytestmark = pytest.mark.learning


def _learn(algo: str, env: str, target: float, budget: int, seed: int = 0, **kw):
    cfg = TrainConfig(
        algo=algo,
        env=env,
        seed=seed,
        total_steps=budget,
        target_return=target,
        eval_every=0,
        tensorboard=False,
        progress=False,
        **kw,
    )
    return train(cfg)


@pytest.mark.parametrize("algo, budget", [("a2c", 300_000), ("a3c", 500_000)])
def test_cartpole_reaches_195(algo, budget, tmp_path):
    workers = {"workers": 2} if algo == "a3c" else {}  # (A2C runs in one process)
    r = _learn(algo, "CartPole-v1", 195.0, budget, **workers, run_dir=str(tmp_path / algo))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= 195.0 and r.env_steps <= budget + 10_000


def test_the_discrete_family_row_learns_acrobot_which_has_no_row_of_its_own(tmp_path):
    # Seeds 0 and 1 reached -100 at 148k and 34k env steps on the AMD EPYC box.
    budget = 400_000
    r = _learn("a2c", "Acrobot-v1", -100.0, budget, run_dir=str(tmp_path / "acrobot"))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.env_steps <= budget + 10_000


def test_a2c_s_mountain_car_row_leaves_minus_200(tmp_path):
    # Its row normalises observations and rewards; the discrete family row never leaves -200 (every episode a
    # time-out) within 1M steps. With the row, seeds 0 and 1 reached -130 at 70k and 125k env steps (and -110,
    # the benchmark's bar, at 698k and 551k: too long for the suite).
    budget = 300_000
    r = _learn("a2c", "MountainCar-v0", -130.0, budget, run_dir=str(tmp_path / "mountain-car"))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)


@pytest.mark.parametrize("sde", [False, True])
def test_a2c_s_mountain_car_continuous_row_reaches_88_with_and_without_gsde(sde, tmp_path):
    # Its row (RL Zoo's A2C row: 4 envs x 100 steps, observations and rewards normalised) passed 88 at 30k-51k env
    # steps on seeds 0-4, and with gSDE at 34k-62k; the continuous family row settles on doing nothing (about 0).
    budget = 100_000
    r = _learn("a2c", "MountainCarContinuous-v0", 88.0, budget, sde=sde, run_dir=str(tmp_path / "mcc"))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)


def test_pendulum_reaches_minus_400_on_most_seeds(tmp_path):
    # The default budget: Pendulum's learning rate decays linearly to 0 at total_steps. One run is
    # deterministic on one machine but not across CPUs (float rounding in the matmuls differs, e.g.
    # seed 0 solves on an Intel Xeon and not on an AMD EPYC), so the claim is "2 of 3 seeds".
    budget = 2_000_000
    results = [
        _learn("a2c", "Pendulum-v1", -400.0, budget, seed=s, run_dir=str(tmp_path / f"pendulum-{s}")) for s in range(3)
    ]
    solved = [r for r in results if r.stop_reason.startswith("target return") and r.mean_return_100 >= -400.0]
    assert len(solved) >= 2, [(r.stop_reason, r.mean_return_100) for r in results]


@pytest.mark.parametrize("algo", ["impala", "appo"])
def test_actor_learner_cartpole_reaches_195(algo, tmp_path):
    budget = 300_000
    r = _learn(algo, "CartPole-v1", 195.0, budget, workers=1, run_dir=str(tmp_path / algo))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= 195.0 and r.env_steps <= budget + 10_000


def test_appo_pendulum_reaches_minus_400(tmp_path):
    budget = 2_000_000
    r = _learn("appo", "Pendulum-v1", -400.0, budget, workers=1, run_dir=str(tmp_path / "appo-pendulum"))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= -400.0


def test_feudal_cartpole_learns(tmp_path):
    # FeUdal with a small latent size (d = 64) on the synchronous runtime; random play scores about 22.
    # Seeds 0-2 reached 61-93 at 100k steps on the AMD EPYC box, so 45 leaves room for float differences.
    budget = 100_000
    r = _learn(
        "feudal",
        "CartPole-v1",
        45.0,
        budget,
        runtime="sync",
        feudal_dim=64,
        hidden=[64],
        run_dir=str(tmp_path / "feudal"),
    )
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= 45.0 and r.env_steps <= budget + 1_000


def test_cartpole_default_solves_and_stays_solved(tmp_path):
    """The defaults must hold, not only be fast (issue 11): A2C's CartPole default reaches 475 within its
    500k-step budget and its 100-episode mean stays >= 427.5 (90%) for the next 500k steps. With RMSprop
    eps 1e-5 (the old default) this seed solved at 103k steps and fell to 9 within the window."""
    from asyncrl.plot import solve_and_hold

    run_dir = str(tmp_path / "a2c-hold")
    train(
        TrainConfig(
            algo="a2c",
            env="CartPole-v1",
            seed=1,
            total_steps=1_000_000,
            eval_every=0,
            tensorboard=False,
            progress=False,
            run_dir=run_dir,
        )
    )
    r = solve_and_hold(run_dir, 475.0, budget=500_000, hold=500_000)
    assert r["solved"] and r["held"], r


def test_mujoco_inverted_pendulum_reaches_900_with_normalisation(tmp_path):
    """APPO with the MuJoCo family's defaults (observation and reward normalisation on): seeds 0-2 reached 900 in
    108-111k env steps on 2 cores; the budget allows twice that."""
    pytest.importorskip("mujoco", reason="the mujoco extra is not installed (pip install 'asyncrl[mujoco]')")
    budget = 250_000
    r = _learn("appo", "InvertedPendulum-v5", 900.0, budget, workers=1, run_dir=str(tmp_path / "ip"))
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= 900.0 and r.env_steps <= budget


# ---- action spaces a policy must use to solve the task (tests/support_envs.py) -------------------------------


@pytest.mark.parametrize(
    "algo, env, target, budget",
    [
        ("a2c", "support_envs:KnobTask", 0.9, 60_000),  # MultiDiscrete([4, 4, 4]): random play 0.25
        ("appo", "support_envs:KnobTask", 0.9, 150_000),
        ("a2c", "support_envs:SwitchTask", 0.95, 60_000),  # MultiBinary((2, 3)): random play 0.5
        ("appo", "support_envs:SwitchTask", 0.95, 200_000),
        # Action masks: 0.9 is the best with them; 0.8 without (the masked optimum is forbidden half the time)
        ("a2c", "support_envs:MaskedChoice", 0.88, 60_000),
        ("appo", "support_envs:MaskedChoice", 0.88, 150_000),
        ("a2c", "support_envs:MaskedChoiceDict", 0.88, 60_000),  # the mask as a Dict observation's entry
        # Dict and Tuple observations: only a policy that reads both entries scores above 0.5
        ("a2c", "support_envs:ReachGoal", 0.9, 30_000),
        ("appo", "support_envs:ReachGoal", 0.9, 100_000),
        ("a2c", "support_envs:ReachGoalTuple", 0.9, 30_000),
        ("a2c", "support_envs:ImageAndVector", 0.9, 30_000),  # an image through the CNN, a vector through the MLP
        ("appo", "support_envs:ImageAndVector", 0.9, 100_000),
    ],
)
def test_a_space_a_policy_must_use_is_learned(algo, env, target, budget, tmp_path):
    workers = {} if algo == "a2c" else {"workers": 1}
    r = _learn(algo, env, target, budget, run_dir=str(tmp_path / algo), **workers)
    assert r.stop_reason.startswith("target return"), (r.stop_reason, r.mean_return_100)
    assert r.mean_return_100 >= target and r.env_steps <= budget + 10_000
