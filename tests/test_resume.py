"""What ``--resume`` restores, item by item (see ``asyncrl/checkpoint.py``): model, optimizer statistics
(also every worker's own with ``--no-shared-optimizer``), counters, the lr schedule's position, and
reproducible random streams that do not replay the session before (the envs' seeds, recorded by a test env)."""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import replace

import pytest
import torch

from asyncrl.config import TrainConfig, resolve
from asyncrl.errors import UsageError
from asyncrl.runtime.hogwild import optimizers_state, worker_optimizers
from asyncrl.runtime.schedule import LrSchedule, resumed_schedule
from asyncrl.train import train

from conftest import FAST, run_cli
from support_envs import SEED_LOG


def _latest(run_dir: str) -> dict:
    return torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)


@pytest.mark.parametrize("algo", ["a3c", "feudal"])
def test_no_shared_optimizer_resume_restores_every_workers_statistics(algo, run_dir):
    extra = ["--feudal-dim", "16", "--goal-dim", "4", "--n-steps", "10", "--horizon", "5"] if algo == "feudal" else []
    run_cli(
        "train",
        "--algo",
        algo,
        "--no-shared-optimizer",
        "--workers",
        "2",
        "--num-envs",
        "2",
        "--total-steps",
        "3000",
        "--eval-every",
        "0",
        *extra,
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
    )
    first = _latest(run_dir)
    states = first["optimizer"]["workers"]
    assert len(states) == 2 and all(float(s["step"]) > 0 for s in states)
    # Each update advances exactly one worker's own step count, so the counts add up to the updates.
    assert sum(float(s["step"]) for s in states) == first["counters"]["updates"]
    run_cli("train", "--resume", run_dir, "--total-steps", "6000", *FAST, check=True)
    second = _latest(run_dir)
    steps = [float(s["step"]) for s in second["optimizer"]["workers"]]
    # Restarted statistics would count only the updates after the resume.
    assert sum(steps) == second["counters"]["updates"] > first["counters"]["updates"]
    assert all(s2 >= float(s1["step"]) for s2, s1 in zip(steps, states))


def test_worker_optimizers_load_each_saved_state(tmp_path):
    params = [torch.zeros(3, requires_grad=True)]
    user = TrainConfig(
        algo="a3c",
        workers=3,
        shared_optimizer=False,
        optimizer="rmsprop",
        lr=1e-3,
        optimizer_eps=1e-5,
        rms_alpha=0.99,
        run_dir="unused",
    )
    cfg = resolve(user, "discrete")
    opts = worker_optimizers(cfg, params, None)
    for r, opt in enumerate(opts[:2]):
        for _ in range(r + 1):
            opt.step(params, [torch.full((3,), float(r + 1))], 1e-3)
    saved = optimizers_state(cfg, opts[:2])  # a run with 2 workers, resumed with 3
    loaded = worker_optimizers(cfg, params, saved)
    assert len({id(o) for o in loaded}) == 3  # each worker its own statistics
    for r, opt in enumerate(loaded):
        want = saved["workers"][r % 2]
        assert float(opt.state_dict()["step"]) == float(want["step"])
        for a, b in zip(opt.state_dict()["square_avg"], want["square_avg"]):
            assert torch.equal(a, b)
    shared = worker_optimizers(resolve(replace(user, shared_optimizer=True), "discrete"), params, None)
    assert all(o is shared[0] for o in shared)


def test_resume_at_the_budget_restores_the_model_exactly(run_dir):
    run_cli(
        "train",
        "--algo",
        "a3c",
        "--workers",
        "2",
        "--total-steps",
        "3000",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
    )
    first = _latest(run_dir)
    p = run_cli("train", "--resume", run_dir, *FAST, check=True)  # same budget: no worker takes a step
    second = _latest(run_dir)
    assert "step budget reached" in p.stdout
    assert second["counters"]["env_steps"] == first["counters"]["env_steps"]
    for k, v in first["model"].items():
        assert torch.equal(v, second["model"][k]), k
    assert second["counters"]["recent_returns"] == first["counters"]["recent_returns"]
    assert second["counters"]["best_eval"] == first["counters"]["best_eval"]


def test_resumed_runs_are_reproducible_for_a_seed(tmp_path):
    """The random streams of a resumed run come from (seed, resume point): two resumes of the same
    checkpoint are the same run, bit for bit (the synchronous runtime is deterministic)."""
    import shutil

    base = str(tmp_path / "base")
    run_cli(
        "train",
        "--algo",
        "a2c",
        "--num-envs",
        "4",
        "--total-steps",
        "2000",
        "--eval-every",
        "0",
        "--run-dir",
        base,
        *FAST,
        check=True,
    )
    finals = []
    for name in ("a", "b"):
        d = str(tmp_path / name)
        shutil.copytree(base, d)
        run_cli("train", "--resume", d, "--total-steps", "4000", *FAST, check=True)
        finals.append(_latest(d)["model"])
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])
    assert not all(torch.equal(finals[0][k], _latest(base)["model"][k]) for k in finals[0])


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a2c", {}),  # the synchronous runtime
        ("a3c", dict(workers=2, serial=True)),  # Hogwild workers, taking turns in this process
        ("impala", dict(workers=2, serial=True)),  # actor-learner actors, taking turns in this process
    ],
)
def test_a_resumed_session_seeds_its_envs_afresh_and_reproducibly(algo, extra, tmp_path, monkeypatch):
    """Each session seeds every training env once. A resumed session's seeds come from (seed, resume point): none
    is a seed of the session before (which would replay its episodes and action samples), and resuming the same
    checkpoint twice gives the same seeds."""
    workers = extra.get("workers", 1)
    run = str(tmp_path / "run")

    def session(log: str, cfg: TrainConfig, resume: str | None = None) -> list[int]:
        path = tmp_path / f"{log}.seeds"
        monkeypatch.setenv(SEED_LOG, str(path))
        train(cfg, resume=resume, given={"total_steps", "progress", "tensorboard"} if resume else None)
        seeds = [int(x) for x in path.read_text().split()]
        assert len(seeds) == len(set(seeds)) == 2 * workers  # every env of every worker, once
        return seeds

    first = session(
        "first",
        TrainConfig(
            algo=algo,
            env="support_envs:SeedLoggingCartPole",
            num_envs=2,
            n_steps=5,
            hidden=[16],
            total_steps=100,
            eval_every=0,
            seed=0,
            tensorboard=False,
            progress=False,
            run_dir=run,
            **extra,
        ),
    )
    shutil.copytree(run, str(tmp_path / "again"))
    more = TrainConfig(total_steps=200, progress=False, tensorboard=False)
    second = session("second", more, resume=run)
    assert not set(first) & set(second)
    assert session("again", more, resume=str(tmp_path / "again")) == second


def test_linear_schedule_continues_down_after_a_new_budget():
    fresh = resumed_schedule(1e-3, "linear", 1000, 0, None)
    assert fresh == LrSchedule(1e-3, "linear", 1000, 0)
    saved = fresh.to_dict()
    assert resumed_schedule(1e-3, "linear", 1000, 400, saved) == fresh  # same budget: unchanged
    longer = resumed_schedule(1e-3, "linear", 3000, 400, saved)
    assert longer(400) == pytest.approx(fresh(400))  # continuous at the resume point
    assert longer(3000) == 0.0 and longer(1000) > 0.0
    assert all(longer(s) <= fresh(400) + 1e-15 for s in range(400, 3001, 100))  # never back up
    # a second resume with yet another budget continues from where the first one was
    again = resumed_schedule(1e-3, "linear", 5000, 2000, longer.to_dict())
    assert again(2000) == pytest.approx(longer(2000))
    with pytest.raises(UsageError, match="already reached 0"):
        resumed_schedule(1e-3, "linear", 2000, 1000, saved)
    assert resumed_schedule(1e-3, "constant", 2000, 1000, saved)(1500) == 1e-3


def test_a_resumed_linear_schedule_never_jumps_back_up(run_dir):
    run_cli(
        "train",
        "--algo",
        "a2c",
        "--num-envs",
        "4",
        "--lr-schedule",
        "linear",
        "--total-steps",
        "40000",
        "--target-return",
        "25",
        "--eval-every",
        "0",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
    )
    stopped = _latest(run_dir)["counters"]["env_steps"]
    assert stopped < 40000  # stopped by the target, the lr partly decayed
    run_cli(
        "train",
        "--resume",
        run_dir,
        "--total-steps",
        "80000",
        "--target-return",
        "1000",
        "--max-seconds",
        "4",
        *FAST,
        check=True,
    )
    rows = list(csv.DictReader(open(os.path.join(run_dir, "metrics.csv"))))
    lrs = [float(r["lr"]) for r in rows if r["lr"]]
    assert len(lrs) >= 2 and all(b <= a + 1e-12 for a, b in zip(lrs, lrs[1:]))


def test_best_checkpoint_pairs_the_tested_model_with_the_optimizer_of_its_moment(tmp_path):
    """A test result arrives after training went on; ``best.pt`` must hold the optimizer state of the
    moment the tested weights were taken, not the optimizer's state when the result came back."""
    from asyncrl.logger import RunLogger
    from asyncrl.runtime.control import Counters, TrainingControl
    from asyncrl.runtime.procs import StopSignal

    class Evaluator:  # answers each submitted evaluation at the next poll
        def __init__(self):
            self.queue = []

        def submit(self, steps, state, record=False):
            self.queue.append((steps, [100.0], state, None))
            return True

        def poll(self):
            done, self.queue = self.queue, []
            return done

    cfg = resolve(
        TrainConfig(
            algo="a2c", run_dir=str(tmp_path), eval_every=10, lr=1e-3, lr_schedule="constant", total_steps=1000
        ),
        "discrete",
    )
    logger = RunLogger(str(tmp_path), [], tensorboard=False, progress=False)
    schedule = LrSchedule(cfg.optim.lr, cfg.optim.lr_schedule, cfg.run.total_steps)
    control = TrainingControl(cfg, "{}", logger, Counters(), StopSignal(), schedule, "{}", Evaluator())
    opt = {"kind": "rmsprop", "step": torch.tensor(1.0), "square_avg": [torch.ones(2)]}
    control.counters.env_steps = 10
    control.tick(lambda: {"w": torch.zeros(2)}, lambda: opt)  # the test of the weights at step 10 starts
    opt["step"] += 5  # training goes on: the live optimizer changes in place
    opt["square_avg"][0].mul_(3)
    control.counters.env_steps = 15
    control.tick(lambda: {"w": torch.ones(2)}, lambda: opt)  # its result arrives: best.pt is written
    logger.close()
    best = torch.load(os.path.join(str(tmp_path), "checkpoints", "best.pt"), weights_only=True)
    assert best["eval_steps"] == 10 and torch.equal(best["model"]["w"], torch.zeros(2))
    assert float(best["optimizer"]["step"]) == 1.0
    assert torch.equal(best["optimizer"]["square_avg"][0], torch.ones(2))
