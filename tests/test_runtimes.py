"""Runtimes only move data: the serial Hogwild runtime against the process one; an algorithm and an env
family each added as one registered object that every part of asyncrl picks up without being edited."""

import csv
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import pytest
import torch

from asyncrl.algos import ALGORITHMS, register
from asyncrl.algos.base import actor_critic_options
from asyncrl.checkpoint import load_checkpoint
from asyncrl.config import TrainConfig
from asyncrl.envs.base import FAMILIES, family_of, register_family
from asyncrl.errors import UsageError
from asyncrl.losses.actor_critic import actor_critic_loss
from asyncrl.losses.returns import n_step_returns
from asyncrl.train import train

FEUDAL_SMALL = dict(feudal_dim=16, goal_dim=4, dilation=2, horizon=2, n_steps=4)


def _final_weights(tmp_path, name: str, **kw) -> dict[str, torch.Tensor]:
    kw = {**dict(env="CartPole-v1", num_envs=2, n_steps=5, total_steps=1_000, eval_every=0, seed=3, hidden=[16]),
          **kw}
    cfg = TrainConfig(tensorboard=False, progress=False, run_dir=str(tmp_path / name), **kw)
    train(cfg)
    return load_checkpoint(str(tmp_path / name / "checkpoints" / "latest.pt"))["model"]


@pytest.mark.parametrize("algo, extra", [("a3c", {}), ("a3c", dict(lstm=True, lstm_size=8)),
                                         ("feudal", FEUDAL_SMALL)])
def test_serial_hogwild_with_one_worker_is_the_process_runtime_bit_for_bit(tmp_path, algo, extra):
    """One :class:`HogwildWorker` stepped in this process computes exactly what one worker process does."""
    procs = _final_weights(tmp_path, "procs", algo=algo, workers=1, **extra)
    serial = _final_weights(tmp_path, "serial", algo=algo, workers=1, serial=True, **extra)
    assert procs.keys() == serial.keys()
    for k in procs:
        assert torch.equal(procs[k], serial[k]), k
    fresh = _final_weights(tmp_path, "short", algo=algo, workers=1, serial=True, **{**extra, "total_steps": 20})
    assert any(not torch.equal(procs[k], fresh[k]) for k in procs)  # (the runs did train)


def test_serial_hogwild_with_several_workers_repeats_itself(tmp_path):
    a = _final_weights(tmp_path, "a", algo="a3c", workers=3, serial=True)
    b = _final_weights(tmp_path, "b", algo="a3c", workers=3, serial=True)
    one = _final_weights(tmp_path, "one", algo="a3c", workers=1, serial=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], one[k]) for k in a)  # three workers take turns with their own envs


def test_serial_is_refused_where_the_runtime_is_already_one_process():
    with pytest.raises(UsageError, match="--serial applies to the Hogwild and actor-learner runtimes only"):
        train(TrainConfig(algo="a2c", serial=True, run_dir="unused"))


# ---- a new algorithm is one file: this one, in full -------------------------------------------------

@dataclass(frozen=True, eq=False)
class TinyPG:
    """n-step actor-critic that also logs its mean advantage: a stand-in for a new algorithm's file."""

    name: str = "tiny-pg"
    runtimes: tuple[str, ...] = ("sync",)
    record_logp: bool = False
    metrics: tuple[str, ...] = ("tiny/adv_mean",)
    fields: tuple[str, ...] = ("lstm", "lstm_size", "log_std_init")
    config: type | None = None  # no section of its own: cfg.loss is all it reads
    defaults: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "discrete": dict(num_envs=4, n_steps=8, lr=3e-3, total_steps=100_000, eval_every=0)})

    def model_options(self, cfg):
        return actor_critic_options(cfg)

    def discounts(self, cfg):
        return cfg.loss.gamma

    def update(self, model, batch, cfg, step, generator):
        out = model(batch.obs, batch.core_state, batch.first)
        returns = n_step_returns(batch.r_t, batch.discount_t, out.value[-1].detach())
        adv = returns - out.value[:-1].detach()
        log_prob, entropy = model.log_prob_entropy(out.params[:-1], batch.actions)
        res = actor_critic_loss(log_prob, entropy, out.value[:-1], adv, returns, cfg.loss.value_coef,
                                cfg.loss.entropy_coef)
        return {**res.stats, "tiny/adv_mean": float(adv.mean()), **step(res.loss)}


@pytest.fixture
def tiny_pg():
    algo = register(TinyPG())
    yield algo
    del ALGORITHMS[algo.name]


def test_a_registered_algorithm_trains_logs_and_checks_without_other_edits(tiny_pg, tmp_path):
    run_dir = tmp_path / "tiny"
    result = train(TrainConfig(algo="tiny-pg", env="CartPole-v1", total_steps=3_000, tensorboard=False,
                               progress=False, run_dir=str(run_dir)))
    assert result.env_steps >= 3_000
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["tiny/adv_mean"] != "" for r in rows)  # its metric column, filled
    saved = load_checkpoint(str(run_dir / "checkpoints" / "latest.pt"))
    assert saved["algo"] == "tiny-pg" and saved["counters"]["updates"] == -(-3_000 // 32)
    # The other algorithms' settings are refused, naming who uses them; families without a row too.
    with pytest.raises(UsageError, match="--rho-bar does not apply to --algo tiny-pg"):
        train(TrainConfig(algo="tiny-pg", rho_bar=1.0, run_dir=str(tmp_path / "x")))
    with pytest.raises(UsageError, match="--algo tiny-pg needs a discrete action space"):
        train(TrainConfig(algo="tiny-pg", env="Pendulum-v1", run_dir=str(tmp_path / "y")))


# ---- a new env family is one file: this one, in full -------------------------------------------------

class SlowCartFamily:
    """``slowcart:N``: CartPole where each agent step stands for N emulator frames (a stand-in for a new family)."""

    name = "slowcart"
    options = None
    option_fields: tuple[str, ...] = ()
    frames_per_step = 3

    def matches(self, env_id):
        return env_id.startswith("slowcart:")

    def defaults_key(self, env_id, action_space):
        return "discrete"

    def factory(self, env_id, render_mode, training, options):
        return lambda: gymnasium.make("CartPole-v1", render_mode=render_mode)


@pytest.fixture
def slowcart():
    family = register_family(SlowCartFamily())
    yield family
    FAMILIES.remove(family)


def test_a_registered_env_family_is_picked_by_id_and_its_frames_are_counted(slowcart, tmp_path):
    assert family_of("slowcart:1") is slowcart and family_of("CartPole-v1") is not slowcart
    run_dir = tmp_path / "slow"
    train(TrainConfig(algo="a2c", env="slowcart:1", total_steps=2_000, eval_every=0, tensorboard=False,
                      progress=False, run_dir=str(run_dir)))
    with open(run_dir / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(int(r["frames"]) == 3 * int(r["env_steps"]) for r in rows)
    # Another family's options are refused for it, naming whose they are.
    with pytest.raises(UsageError, match="--noop-max applies to Atari games only, not --env slowcart:1"):
        train(TrainConfig(algo="a2c", env="slowcart:1", noop_max=5, run_dir=str(tmp_path / "x")))
