"""Runtimes only move data: the serial Hogwild runtime against the process one; an algorithm, a runtime and an
env family each added as one registered object that every part of asyncrl picks up without being edited."""

import csv
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch

from asyncrl.algos import ALGORITHMS, register
from asyncrl.algos.base import actor_critic_options
from asyncrl.checkpoint import load_checkpoint
from asyncrl.config import TrainConfig, flag_table
from asyncrl.envs.base import FAMILIES, family_of, register_family
from asyncrl.errors import UsageError
from asyncrl.losses.actor_critic import actor_critic_loss
from asyncrl.losses.returns import n_step_returns
from asyncrl.optim.grads import TrainStep
from asyncrl.runtime.base import RUNTIMES, Runtime, Workers, register_runtime
from asyncrl.runtime.loop import lag_free, learn
from asyncrl.runtime.setup import RunSetup, optimizer_for, train_collector, train_envs
from asyncrl.train import train

FEUDAL_SMALL = dict(feudal_dim=16, goal_dim=4, dilation=2, horizon=2, n_steps=4)


def _final_weights(tmp_path, name: str, **kw) -> dict[str, torch.Tensor]:
    kw = {**dict(env="CartPole-v1", num_envs=2, n_steps=5, total_steps=1_000, eval_every=0, seed=3, hidden=[16]), **kw}
    cfg = TrainConfig(tensorboard=False, progress=False, run_dir=str(tmp_path / name), **kw)
    train(cfg)
    return load_checkpoint(str(tmp_path / name / "checkpoints" / "latest.pt"))["model"]


@pytest.mark.parametrize("algo, extra", [("a3c", {}), ("a3c", dict(lstm=True, lstm_size=8)), ("feudal", FEUDAL_SMALL)])
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
    with pytest.raises(UsageError, match="--serial does not apply to --algo a2c on --runtime sync"):
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
    defaults: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"discrete": dict(num_envs=4, n_steps=8, lr=3e-3, total_steps=100_000, eval_every=0)}
    )

    def model_options(self, cfg):
        return actor_critic_options(cfg)

    def discounts(self, cfg):
        return cfg.loss.gamma

    def update(self, model, batch, cfg, step, generator):
        out = model(batch.obs, batch.core_state, batch.first)
        returns = n_step_returns(batch.r_t, batch.discount_t, out.value[-1].detach())
        adv = returns - out.value[:-1].detach()
        log_prob, entropy = model.log_prob_entropy(out.params[:-1], batch.actions)
        res = actor_critic_loss(
            log_prob, entropy, out.value[:-1], adv, returns, cfg.loss.value_coef, cfg.loss.entropy_coef
        )
        return {**res.stats, "tiny/adv_mean": float(adv.mean()), **step(res.loss)}


@pytest.fixture
def tiny_pg():
    algo = register(TinyPG())
    yield algo
    del ALGORITHMS[algo.name]


def test_a_registered_algorithm_trains_logs_and_checks_without_other_edits(tiny_pg, tmp_path):
    run_dir = tmp_path / "tiny"
    result = train(
        TrainConfig(
            algo="tiny-pg",
            env="CartPole-v1",
            total_steps=3_000,
            tensorboard=False,
            progress=False,
            run_dir=str(run_dir),
        )
    )
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


# ---- a new runtime is one file: this one, in full ----------------------------------------------------


@dataclass(kw_only=True)
class RoundRobinConfig(Workers):
    """``workers`` sets of envs in one process taking turns, one model and one optimizer."""


def run_round_robin(setup: RunSetup) -> None:
    cfg, model, control = setup.cfg, setup.model, setup.control
    c = control.counters
    params = list(model.parameters())
    step = TrainStep(params, optimizer_for(cfg.optim, params, shared=False), cfg.optim.max_grad_norm)
    envs = [train_envs(cfg, cfg.run.seed + r) for r in range(cfg.runtime.workers)]
    collectors = [train_collector(cfg, setup.algo, e, model, cfg.run.seed + r) for r, e in enumerate(envs)]
    generator = torch.Generator().manual_seed(cfg.run.seed)
    try:
        while True:
            rank = c.updates % len(collectors)
            rollout = collectors[rank].collect()
            stats = learn(setup.algo, model, rollout, cfg, step, control.schedule(c.env_steps), generator)
            c.env_steps, c.updates = c.env_steps + rollout.num_steps, c.updates + 1
            control.episodes(c.env_steps, collectors[rank].finished, rank)
            collectors[rank].finished = []
            control.update_done(lag_free(stats))
            if control.tick(model.state_dict, step.optimizer.state_dict):
                break
    finally:
        for e in envs:
            e.close()
    control.finish(model.state_dict, step.optimizer.state_dict)


@pytest.fixture
def round_robin():
    runtime = register_runtime(
        Runtime(
            "round-robin", RoundRobinConfig, run_round_robin, about="envs taking turns", default_workers=lambda algo: 3
        )
    )
    algo = register(replace(TinyPG(), name="tiny-rr", runtimes=("round-robin",)))
    yield runtime
    del RUNTIMES[runtime.name], ALGORITHMS[algo.name]


def test_a_registered_runtime_trains_checks_and_documents_itself_without_other_edits(round_robin, tmp_path):
    run_dir = tmp_path / "rr"
    result = train(
        TrainConfig(
            algo="tiny-rr",
            env="CartPole-v1",
            total_steps=2_000,
            tensorboard=False,
            progress=False,
            run_dir=str(run_dir),
        )
    )
    assert result.env_steps >= 2_000
    with open(run_dir / "episodes.csv") as f:
        workers = {r["worker"] for r in csv.DictReader(f)}
    assert workers == {"0", "1", "2"}  # its default worker count, each a set of envs of its own
    saved = load_checkpoint(str(run_dir / "checkpoints" / "latest.pt"))
    assert saved["counters"]["updates"] == -(-2_000 // 32) and '"runtime": "round-robin"' in saved["config"]
    # Its settings and refusals come from its section: --workers applies, the learner's settings do not.
    train(
        TrainConfig(
            algo="tiny-rr", workers=1, total_steps=64, tensorboard=False, progress=False, run_dir=str(tmp_path / "one")
        )
    )
    with pytest.raises(UsageError, match="--slots-per-actor does not apply to --algo tiny-rr on --runtime round-robin"):
        train(TrainConfig(algo="tiny-rr", slots_per_actor=2, run_dir=str(tmp_path / "x")))
    with pytest.raises(
        UsageError,
        match=r"--runtime 'round-robin' is not supported by --algo a2c .*"
        r"--runtime round-robin runs --algo tiny-rr",
    ):
        train(TrainConfig(algo="a2c", runtime="round-robin", run_dir=str(tmp_path / "y")))
    assert "round-robin" in flag_table().split("--runtime {")[1].split("}")[0]  # the flag table's choices
    assert "--runtime hogwild, actor-learner, ray, round-robin" in flag_table()  # who has --workers


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
    train(
        TrainConfig(
            algo="a2c",
            env="slowcart:1",
            total_steps=2_000,
            eval_every=0,
            tensorboard=False,
            progress=False,
            run_dir=str(run_dir),
        )
    )
    with open(run_dir / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(int(r["frames"]) == 3 * int(r["env_steps"]) for r in rows)
    # Another family's options are refused for it, naming whose they are.
    with pytest.raises(UsageError, match="--noop-max applies to Atari games only, not --env slowcart:1"):
        train(TrainConfig(algo="a2c", env="slowcart:1", noop_max=5, run_dir=str(tmp_path / "x")))


# ---- factorised action spaces on every runtime, through eval, predict and resume ------------------------------


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a2c", {}),
        ("a3c", {"workers": 2}),
        ("a3c", {"workers": 2, "serial": True}),
        ("impala", {"workers": 1}),
        ("appo", {"workers": 1, "serial": True}),
        ("a3c-ps", {"workers": 1}),
    ],
)
def test_multidiscrete_actions_run_on_every_runtime_and_resume(algo, extra, tmp_path):
    from asyncrl import load
    from asyncrl.evaluate import run_episodes, summarize

    env = "support_envs:OffsetKnobs"  # (MultiDiscrete([4, 4, 4], start 1): the env asserts every action's range)
    run_dir = str(tmp_path / "run")
    kw = dict(env=env, algo=algo, num_envs=4, n_steps=5, eval_every=0, seed=1, progress=False, tensorboard=False)
    r = train(TrainConfig(**kw, **extra, total_steps=2_000, run_dir=run_dir))
    assert r.env_steps >= 2_000 and r.episodes >= 2_000  # (one-step episodes)
    r = train(TrainConfig(total_steps=3_000), resume=run_dir, given={"total_steps"})
    assert r.env_steps >= 3_000
    policy = load(run_dir)
    obs = np.eye(4, dtype=np.float32)[[0, 1, 2]].reshape(-1)
    action, _ = policy.predict(obs, deterministic=True)
    assert action.shape == (3,) and action.min() >= 1 and action.max() <= 4
    batch, _ = policy.predict(np.stack([obs, obs]))
    assert batch.shape == (2, 3)
    s = summarize(run_episodes(policy.model, env, 5, seed=0))
    assert 0.0 <= s["mean"] <= 1.0


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a2c", {}),
        ("a3c", {"workers": 2}),
        ("impala", {"workers": 1}),
        ("appo", {"workers": 1}),
        ("appo", {"workers": 1, "serial": True}),
        ("a3c-ps", {"workers": 1}),
    ],
)
def test_action_masks_hold_on_every_runtime_in_eval_and_predict(algo, extra, tmp_path):
    # MaskedChoice costs -1 for a forbidden action: no training episode, evaluation or prediction may score it.
    from asyncrl import load
    from asyncrl.evaluate import run_episodes

    run_dir = str(tmp_path / "run")
    kw = dict(env="support_envs:MaskedChoice", algo=algo, num_envs=4, n_steps=5, eval_every=0, seed=2)
    train(TrainConfig(**kw, **extra, total_steps=3_000, run_dir=run_dir, progress=False, tensorboard=False))
    with open(f"{run_dir}/episodes.csv") as f:
        returns = [float(r["episode_return"]) for r in csv.DictReader(f)]
    assert len(returns) >= 3_000 and min(returns) >= 0.0
    policy = load(run_dir)
    assert min(run_episodes(policy.model, "support_envs:MaskedChoice", 50, seed=0, deterministic=False)) >= 0.0
    obs = np.eye(4, dtype=np.float32)[[0, 1]]
    actions, _ = policy.predict(obs, action_masks=[[False, True, True, True, True], [False, False, False, True, False]])
    assert actions[0] != 0 and actions[1] == 3


# ---- the synchronous runtime on a GPU --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]
)
@pytest.mark.parametrize(
    "algo, extra", [("a2c", {}), ("a2c", {"lstm": True}), ("feudal", {"runtime": "sync", **FEUDAL_SMALL})]
)
def test_the_synchronous_runtime_acts_and_learns_on_its_device(device, algo, extra, tmp_path):
    # --device on the synchronous runtime: the model acts and learns there, checkpoints hold CPU tensors that load
    # anywhere, and a resume goes on (on the CPU too). CI has no GPU: the cuda case runs on a GPU machine.
    from asyncrl.checkpoint import load_checkpoint

    run_dir = str(tmp_path / "run")
    kw = dict(env="CartPole-v1", algo=algo, num_envs=4, eval_every=0, seed=0, progress=False, tensorboard=False)
    r = train(TrainConfig(**{"n_steps": 5, **kw, **extra}, device=device, total_steps=2_000, run_dir=run_dir))
    assert r.env_steps >= 2_000
    ckpt = load_checkpoint(f"{run_dir}/checkpoints/latest.pt")
    assert all(t.device.type == "cpu" for t in ckpt["model"].values())
    r = train(TrainConfig(total_steps=3_000, device="cpu"), resume=run_dir, given={"total_steps", "device"})
    assert r.env_steps >= 3_000


@pytest.mark.parametrize(
    "algo, extra",
    [("a2c", {}), ("a3c", {"workers": 2}), ("impala", {"workers": 1}), ("appo", {"workers": 1, "serial": True})],
)
def test_dict_observations_run_on_every_runtime_normalised_through_eval_predict_and_resume(algo, extra, tmp_path):
    from asyncrl import load
    from asyncrl.evaluate import run_episodes

    env = "support_envs:ImageAndVector"  # (an image and a vector)
    run_dir = str(tmp_path / "run")
    kw = dict(env=env, algo=algo, num_envs=4, n_steps=5, eval_every=0, seed=1, progress=False, tensorboard=False)
    train(TrainConfig(**kw, **extra, normalize_obs=True, total_steps=1_000, run_dir=run_dir))
    r = train(TrainConfig(total_steps=1_500), resume=run_dir, given={"total_steps"})
    assert r.env_steps >= 1_500
    stats = load_checkpoint(f"{run_dir}/checkpoints/latest.pt")["model"]
    assert stats["obs_norm.mean"].shape == (2,) and float(stats["obs_norm.count"]) >= 1_000  # (v's entries only)
    assert float(stats["obs_norm.mean"].abs().max()) < 0.2  # (v = +-U(0.2, 1): mean 0, mean square 0.41)
    assert float(stats["obs_norm.var"].min()) > 0.3 and float(stats["obs_norm.var"].max()) < 0.55
    policy = load(run_dir)
    obs = {"image": np.zeros((1, 36, 36), np.uint8), "v": np.array([0.5, -0.5], np.float32)}
    action, _ = policy.predict(obs, deterministic=True)
    assert 0 <= int(action) < 4
    batch, _ = policy.predict({k: np.stack([v, v, v]) for k, v in obs.items()})
    assert batch.shape == (3,)
    assert len(run_episodes(policy.model, env, 3, seed=0, num_envs=2)) == 3


def test_a_dict_observations_action_mask_entry_masks_training_eval_and_predict(tmp_path):
    from asyncrl import load
    from asyncrl.evaluate import run_episodes

    run_dir, env = str(tmp_path / "run"), "support_envs:MaskedChoiceDict"  # (-1 for a forbidden action)
    kw = dict(env=env, algo="impala", workers=1, num_envs=4, n_steps=5, eval_every=0, progress=False, tensorboard=False)
    train(TrainConfig(**kw, total_steps=2_000, run_dir=run_dir))
    with open(f"{run_dir}/episodes.csv") as f:
        assert min(float(r["episode_return"]) for r in csv.DictReader(f)) >= 0.0
    policy = load(run_dir)
    assert policy.model.spec.action_masks and min(run_episodes(policy.model, env, 30, deterministic=False)) >= 0.0
    obs = {"observation": np.eye(4, dtype=np.float32)[1], "action_mask": np.array([0, 0, 1, 0, 0], np.int8)}
    assert int(policy.predict(obs)[0]) == 2
