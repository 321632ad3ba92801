"""The experiment loop end to end: ``asyncrl tune`` (a real Optuna study over real trial runs), ``asyncrl sweep``,
``train --config``, ``--wandb`` (offline) and ``--capture-video``."""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
import pytest
from optuna.trial import TrialState

from asyncrl.algos import get_algorithm
from asyncrl.cli import main
from asyncrl.experiments.tune import TuneSettings, default_space
from asyncrl.train import TrainResult

from conftest import ASYNCRL, FAST, cli_env, one_line_error, procs_mentioning, run_cli, start_cli

TINY = ["--algo", "a2c", "--env", "CartPole-v1", "--budget-steps", "4000", "--evals", "2", "--eval-episodes", "2"]


def load_study(study_dir: str) -> optuna.Study:
    return optuna.load_study(study_name="asyncrl", storage=f"sqlite:///{os.path.join(study_dir, 'study.db')}")


def saved_config(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)


def test_tune_runs_trials_as_run_dirs_writes_reports_and_resume_adds_to_the_same_study(tmp_path, capsys):
    study_dir = str(tmp_path / "study")
    p = run_cli("tune", *TINY, "--trials", "3", "--jobs", "2", "--study", study_dir, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    study = load_study(study_dir)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # nothing pruned among the pruner's first 5
    row = get_algorithm("a2c").defaults["CartPole-v1"]
    assert trials[0].user_attrs["source"] == "defaults"
    assert (trials[0].params["lr"], trials[0].params["n_steps"]) == (row["lr"], row["n_steps"])
    for t in trials:  # each trial is an ordinary run dir that trained with the trial's own settings
        run_dir = os.path.join(study_dir, t.user_attrs["run_dir"])
        cfg = saved_config(run_dir)
        assert {k: cfg[k] for k in t.params} == t.params and cfg["seed"] == t.number
        with open(os.path.join(run_dir, "result.json")) as f:
            assert json.load(f)["final_eval"] == t.value
    best = max(trials, key=lambda t: t.value)
    with open(os.path.join(study_dir, "best_config.json")) as f:
        config = json.load(f)
    saved = saved_config(os.path.join(study_dir, best.user_attrs["run_dir"]))  # (a2c's one process: no workers)
    workers = {k: v for k, v in saved.items() if k == "workers"}
    assert config == {"algo": "a2c", "env": "CartPole-v1", **best.params, "total_steps": 4000, **workers}
    assert f"| {best.number} | {best.value:,.2f} |" in p.stdout  # the table of the best trials
    assert os.path.getsize(os.path.join(study_dir, "plots", "history.png")) > 1000
    assert os.path.isfile(os.path.join(study_dir, "plots", "importances.png"))
    assert sum(1 for _ in open(os.path.join(study_dir, "trials.csv"))) == 4

    # the best config trains as it is
    run_dir = str(tmp_path / "from-best")
    run_cli(
        "train",
        "--config",
        os.path.join(study_dir, "best_config.json"),
        "--total-steps",
        "1000",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
    )
    assert {k: saved_config(run_dir)[k] for k in best.params} == best.params

    p = run_cli("tune", "--study", study_dir, "--resume", "--trials", "5", timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    trials = load_study(study_dir).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3, 4] and all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(os.listdir(os.path.join(study_dir, "trials"))) == [f"trial-000{i}" for i in range(5)]

    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    line = one_line_error(capsys, ["tune", "--study", study_dir, "--resume", "--budget-steps", "9000"])
    assert "cannot change --budget-steps" in line


def test_the_median_pruner_stops_a_trial_below_the_others(tmp_path):
    """Five finished trials that scored 1,000 at every evaluation: a new CartPole trial (at most 500) is pruned
    after its warm-up evaluations, stopped cleanly (interrupted), and recorded as pruned. (One env, so the trial is
    slow enough to be stopped in the middle.)"""
    from asyncrl.experiments.space import read_space_file
    from asyncrl.experiments.tune import TuneSettings, new_study, open_study, write_settings

    study_dir = str(tmp_path / "study")
    settings = new_study(
        study_dir,
        TuneSettings("a2c", "CartPole-v1", trials=1, budget_steps=60000, evals=6, eval_episodes=2),
        read_space_file(_space(tmp_path, {"lr": ["log", 1e-3, 1e-2], "num_envs": 1, "n_steps": 5})),
    )
    study, created = open_study(settings, study_dir, create=True)
    write_settings(study_dir, settings)
    assert created
    dist = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 5e-3},
                distributions=dist,
                value=1000.0,
                intermediate_values={k: 1000.0 for k in range(1, 7)},
            )
        )
    p = run_cli("tune", "--study", study_dir, "--resume", "--trials", "6", timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    last = load_study(study_dir).get_trials()[-1]
    assert last.state == TrialState.PRUNED, (last.state, p.stdout)
    assert max(last.intermediate_values) < 6  # stopped before its last evaluation
    with open(os.path.join(study_dir, last.user_attrs["run_dir"], "result.json")) as f:
        result = json.load(f)
    assert result["stop_reason"].startswith("interrupted") and result["env_steps"] < 60000


def _space(tmp_path, space: dict) -> str:
    """A space file that searches ``space``'s parameters only (a2c's others: null, its defaults)."""
    path = tmp_path / "space.json"
    path.write_text(json.dumps({**{k: None for k in default_space("a2c", "CartPole-v1")}, **space}))
    return str(path)


# ---- the tune loop in process, over fake trials (no training: fast and exact) ---------------------------------


class FakeJob:
    """A trial's ``asyncrl train`` child, faked: each poll of the tune loop (``new_evals`` then ``poll``) brings its
    next evaluation, with the mean return ``trials.score(trial number, evaluation)`` (other columns off the mean, so
    a wrong column is seen); one poll after its last evaluation it exits 0 with its ``result.json``. ``interrupt``
    ends it as Ctrl-C ends a run. ``trials.hooks[(trial number, poll)]`` runs at the start of that poll."""

    def __init__(self, trials: FakeTrials, args: list[str], run_dir: str, log_path: str):
        self.trials, self.run_dir, self.log_path = trials, run_dir, log_path
        every = int(args[args.index("--eval-every") + 1])
        self.evals = int(args[args.index("--total-steps") + 1]) // every
        self.every, self.number = every, int(os.path.basename(run_dir).split("-")[1])
        self.polls, self.interrupted, self.code = 0, False, None
        trials.jobs[self.number] = self

    def new_evals(self) -> list[dict[str, float]]:
        self.polls += 1
        self.trials.hooks.pop((self.number, self.polls), lambda: None)()
        if self.interrupted or self.polls > self.evals:
            return []
        m = self.trials.score(self.number, self.polls)
        return [
            {
                "wall_time_s": float(self.polls),
                "env_steps": float(self.polls * self.every),
                "mean": m,
                "median": m + 200,
                "std": 50.0,
                "min": m - 300,
                "max": m + 300,
                "episodes": 2.0,
            }
        ]

    def poll(self) -> int | None:
        if self.code is None and (self.interrupted or self.polls > self.evals):
            steps = min(self.polls, self.evals) * self.every
            final = math.nan if self.interrupted else self.trials.score(self.number, self.evals)
            result = TrainResult(
                self.run_dir,
                "interrupted (SIGINT)" if self.interrupted else "step budget reached",
                steps,
                10,
                0.0,
                0.0,
                1.0,
                final,
            )
            os.makedirs(self.run_dir, exist_ok=True)
            with open(os.path.join(self.run_dir, "result.json"), "w") as f:
                f.write(result.to_json())
            self.code = 0
        return self.code

    def interrupt(self) -> None:
        self.interrupted = self.interrupted or self.code is None

    def stop(self, timeout: float) -> None:
        self.interrupt()
        self.poll()

    def seconds(self) -> float:
        return 1.0

    def tail(self, lines: int = 1) -> str:
        return ""


@dataclass
class FakeTrials:
    score: Callable[[int, int], float] = lambda number, k: 100.0
    hooks: dict[tuple[int, int], Callable[[], None]] = field(default_factory=dict)
    jobs: dict[int, FakeJob] = field(default_factory=dict)

    def start(
        self, args: list[str], run_dir: str, log_path: str, cpus: set[int] | None = None, group: str | None = None
    ) -> FakeJob:
        return FakeJob(self, args, run_dir, log_path)


@pytest.fixture
def fake_trials(monkeypatch) -> FakeTrials:
    """``asyncrl tune``'s trials become :class:`FakeJob` s (and its plots are not drawn)."""
    from asyncrl.experiments import tune

    trials = FakeTrials()
    monkeypatch.setattr(tune, "TrainJob", trials)
    monkeypatch.setattr(tune, "write_plots", lambda study, folder: [])
    return trials


def made_study(tmp_path, **settings) -> tuple[optuna.Study, TuneSettings, str]:
    """A new a2c study on CartPole searching ``lr`` only (600 env steps, 6 evaluations), made in process."""
    from asyncrl.experiments.space import read_space_file
    from asyncrl.experiments.tune import new_study, open_study, write_settings

    study_dir = str(tmp_path / "study")
    space = read_space_file(_space(tmp_path, {"lr": ["log", 1e-3, 1e-2], "num_envs": 1, "n_steps": 5}))
    tune_settings = new_study(
        study_dir, TuneSettings("a2c", "CartPole-v1", **{"budget_steps": 600, "evals": 6, **settings}), space
    )
    study, created = open_study(tune_settings, study_dir, create=True)
    write_settings(study_dir, tune_settings)
    assert created
    return study, tune_settings, study_dir


def fail_as_stale(settings: TuneSettings, study_dir: str, number: int) -> None:
    """What another tune process on the study does to a running trial whose heartbeat is late (Optuna's
    ``fail_stale_trials``): fail it, then run the storage's stale-trial callback (a retry of its settings)."""
    from asyncrl.experiments.tune import _storage

    study = optuna.load_study(study_name=settings.study_name, storage=_storage(settings, study_dir))
    (trial,) = [t for t in study.get_trials() if t.number == number]
    assert trial.state == TrialState.RUNNING
    storage = study._storage
    assert storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    retry = (
        storage.get_heartbeat_stale_trial_callback()
        if hasattr(storage, "get_heartbeat_stale_trial_callback")
        else storage.get_failed_trial_callback()
    )  # (Optuna before 4.9)
    retry(study, storage.get_trial(trial._trial_id))


LR = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}


def add_finished_trials(study: optuna.Study, n: int, value: float) -> None:
    for _ in range(n):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 5e-3}, distributions=LR, value=value, intermediate_values={k: value for k in range(1, 7)}
            )
        )


def test_the_pruner_waits_out_its_warm_up_and_compares_the_evaluations_mean(tmp_path, fake_trials):
    """Five finished trials scored 1,000 at each of the 6 evaluations; the warm-up is evals // 3 + 1 = 3 steps, so
    evaluation 3 is the first that may prune. A trial at 0 in its warm-up and 1,100 after it runs to the end; a trial
    at 900 throughout (its median and max above 1,000) is pruned at evaluation 3, having reported its means."""
    from asyncrl.experiments.tune import run_tune

    study, settings, study_dir = made_study(tmp_path, trials=7)
    add_finished_trials(study, 5, 1000.0)
    fake_trials.score = lambda number, k: {5: 0.0 if k < 3 else 1100.0, 6: 900.0}[number]
    run_tune(study_dir, settings, resume=True, poll_s=0)
    late, poor = load_study(study_dir).get_trials()[5:]
    assert late.state == TrialState.COMPLETE and late.value == 1100.0
    assert late.intermediate_values == {1: 0.0, 2: 0.0, 3: 1100.0, 4: 1100.0, 5: 1100.0, 6: 1100.0}
    assert poor.state == TrialState.PRUNED and poor.intermediate_values == {1: 900.0, 2: 900.0, 3: 900.0}
    assert fake_trials.jobs[6].interrupted  # stopped as Ctrl-C stops a run


def test_a_trial_another_tune_process_failed_as_stale_does_not_stop_this_one(tmp_path, fake_trials, capsys):
    """Another tune process on the study fails this one's running trials as stale (their heartbeats were late),
    between two polls: trial 0 before its second evaluation is reported, trial 1 (Optuna's retry of trial 0) after its
    last evaluation, before it is told. This process stops trial 0, records neither, and goes on to 3 trials."""
    from asyncrl.experiments.tune import _tell, run_tune

    _, settings, study_dir = made_study(tmp_path, trials=3)
    fake_trials.hooks[(0, 2)] = lambda: fail_as_stale(settings, study_dir, 0)
    fake_trials.hooks[(1, 7)] = lambda: fail_as_stale(settings, study_dir, 1)
    _, failing = run_tune(study_dir, settings, resume=True, poll_s=0)
    assert not failing
    trials = load_study(study_dir).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 2 + [TrialState.COMPLETE] * 3
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trials[0].params
    assert trials[0].intermediate_values == {1: 100.0} and fake_trials.jobs[0].interrupted
    assert len(trials[1].intermediate_values) == 6 and not fake_trials.jobs[1].interrupted
    assert not any("error" in t.user_attrs or "env_steps" in t.user_attrs for t in trials[:2])
    out = capsys.readouterr().out
    assert out.count("failed as stale by another tune process") == 2 and "stopped (3 trials)" in out
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # (failed just before the tell: as a report)
        _tell(load_study(study_dir), trials[1].number, TrialState.COMPLETE, 1.0)


def test_a_killed_tune_process_s_trials_do_not_count_toward_trials(tmp_path, fake_trials):
    """Resumed within the grace period after a tune process was killed with two trials running (still RUNNING: not
    stale yet), in a study where a trial of an earlier crash was failed as stale and its retry queued: none of them
    counts, so the resume runs the retry and new trials until 4 trials count."""
    from asyncrl.experiments.tune import run_tune

    study, settings, study_dir = made_study(tmp_path, trials=4)
    add_finished_trials(study, 2, 100.0)
    left = [study.ask(LR) for _ in range(3)]
    for t in left:
        study._storage.record_heartbeat(t._trial_id)
    fail_as_stale(settings, study_dir, left[2].number)
    run_tune(study_dir, settings, resume=True, poll_s=0)
    trials = load_study(study_dir).get_trials()
    assert [t.state for t in trials[2:5]] == [TrialState.RUNNING] * 2 + [TrialState.FAIL]  # (the killed process's)
    assert [t.state for t in trials[5:]] == [TrialState.COMPLETE] * 2, "the resume stopped at once"
    retry = trials[5]
    assert retry.system_attrs["failed_trial"] == left[2].number and retry.params == left[2].params


def test_a_trial_that_raises_is_recorded_as_failed_and_the_study_goes_on(tmp_path):
    """One env instance crashes after 300 steps: trials with a single env crash, trials with many do not."""
    study_dir = str(tmp_path / "study")
    space = _space(tmp_path, {"num_envs": ["choice", [1]], "lr": ["log", 1e-3, 1e-2]})
    p = run_cli(
        "tune",
        "--algo",
        "a2c",
        "--env",
        "support_envs:CrashingCartPole",
        "--budget-steps",
        "1000",
        "--evals",
        "1",
        "--eval-episodes",
        "1",
        "--trials",
        "3",
        "--study",
        study_dir,
        "--space",
        space,
        "--seed",
        "4",
        timeout=240,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    trials = load_study(study_dir).get_trials()
    # (the sampler's seed 4 draws 1 env for the second trial only; the first is the defaults, 16 envs)
    assert [(t.params["num_envs"], t.state) for t in trials] == [
        (16, TrialState.COMPLETE),
        (1, TrialState.FAIL),
        (16, TrialState.COMPLETE),
    ]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all("boom" in t.user_attrs["error"] for t in failed)
    assert "failed" in p.stdout and "boom" in p.stdout


def test_ctrl_c_leaves_a_consistent_study_and_resume_reruns_the_interrupted_trial(tmp_path):
    study_dir = str(tmp_path / "study")
    proc = start_cli(
        "tune",
        "--algo",
        "a2c",
        "--env",
        "CartPole-v1",
        "--budget-steps",
        "150000",
        "--evals",
        "2",
        "--eval-episodes",
        "2",
        "--trials",
        "1",
        "--study",
        study_dir,
    )
    episodes = os.path.join(study_dir, "trials", "trial-0000", "episodes.csv")
    deadline = time.monotonic() + 60
    while not (os.path.exists(episodes) and os.path.getsize(episodes) > 200):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, out + err
    assert procs_mentioning(study_dir) == []
    (trial,) = load_study(study_dir).get_trials()
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"] is True
    with open(os.path.join(study_dir, "trials", "trial-0000", "result.json")) as f:
        assert json.load(f)["stop_reason"].startswith("interrupted")
    assert os.path.isfile(os.path.join(study_dir, "trials.csv"))

    p = run_cli("tune", "--study", study_dir, "--resume", timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    first, again = load_study(study_dir).get_trials()
    assert again.state == TrialState.COMPLETE and again.params == first.params
    assert again.user_attrs["source"] == "rerun of trial 0"


def test_tune_refuses_bad_input_before_any_trial(tmp_path, capsys):
    # (in one process: these test the checks; the exit path itself is test_inputs.py's end to end)
    study_dir = str(tmp_path / "s")
    for args, message in [
        (["--algo", "nope"], "--algo 'nope' is not supported"),
        (["--jobs", "64"], "--jobs 64 is more than"),
        (["--objective", "time-to-target"], "needs --target-return"),
        (["--space", str(tmp_path / "missing.json")], "does not exist"),
        (["--resume"], "holds no study"),
        (["--storage", "nosuchdb://x"], "cannot be opened"),
    ]:
        assert message in one_line_error(capsys, ["tune", *args, "--study", study_dir]), args
        assert not os.path.exists(os.path.join(study_dir, "tune.json"))


def test_sweep_runs_the_grid_skips_finished_runs_and_resumes_interrupted_ones(tmp_path):
    out = str(tmp_path / "sweep")
    args = [
        "sweep",
        "--algo",
        "a2c",
        "--env",
        "CartPole-v1",
        "--set",
        "total_steps=3000",
        "--set",
        "eval_every=1500",
        "--set",
        "eval_episodes=2",
        "--jobs",
        "2",
        "-o",
        out,
    ]
    p = run_cli(*args, "--seeds", "2", timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    results = sorted(glob.glob(os.path.join(out, "*", "result.json")))
    assert [os.path.basename(os.path.dirname(r)) for r in results] == ["a2c-CartPole-v1-s0", "a2c-CartPole-v1-s1"]
    stamps = {r: os.path.getmtime(r) for r in results}

    with open(results[1]) as f:  # as if seed 1 had been interrupted
        result = json.load(f)
    with open(results[1], "w") as f:
        json.dump({**result, "stop_reason": "interrupted (SIGINT)"}, f)
    p = run_cli(*args, "--seeds", "3", timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 runs, 1 finished before, 2 to run" in p.stdout
    assert os.path.getmtime(results[0]) == stamps[results[0]]  # not run again
    with open(os.path.join(out, "logs", "a2c-CartPole-v1-s1.log")) as f:
        assert "--resume" in f.read()
    with open(os.path.join(out, "summary.md")) as f:
        summary = f.read()
    assert "| a2c | CartPole-v1 | 3/3 |" in summary and "| 475 |" in summary


def test_sweep_refuses_a_grid_point_train_would_refuse(tmp_path, capsys):
    line = one_line_error(
        capsys, ["sweep", "--algo", "a2c", "appo", "--set", "clip_range=0.1,0.2", "-o", str(tmp_path / "s")]
    )
    assert "sweep point algo=a2c" in line and "--clip-range" in line
    assert not os.path.exists(tmp_path / "s" / "logs")


def test_train_reads_a_config_file_and_flags_override_it(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"algo": "a2c", "env": "CartPole-v1", "n_steps": 7, "lr": 0.002}))
    run_dir = str(tmp_path / "run")
    run_cli(
        "train",
        "--config",
        str(config),
        "--lr",
        "0.01",
        "--total-steps",
        "500",
        "--run-dir",
        run_dir,
        *FAST,
        check=True,
    )
    cfg = saved_config(run_dir)
    assert (cfg["algo"], cfg["n_steps"], cfg["lr"]) == ("a2c", 7, 0.01)
    line = one_line_error(capsys, ["train", "--config", str(config), "--resume", run_dir])
    assert "--config does not apply with --resume" in line
    # A setting of another algorithm is left out with one notice line (a run's config.json of another algorithm
    # trains this one), while the same flag given on the command line is refused.
    config.write_text(json.dumps({"algo": "a2c", "clip_range": 0.1, "n_steps": 7}))
    args = ["train", "--config", str(config), "--run-dir", str(tmp_path / "r2"), "--dry-run"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n_steps"] == 7 and "clip_range" not in json.loads(out)
    assert err.splitlines()[0] == (
        f"asyncrl train: --config {config}: left out clip_range (they do not apply to --algo a2c on --env CartPole-v1)"
    )
    line = one_line_error(capsys, ["train", "--algo", "a2c", "--clip-range", "0.1", "--run-dir", str(tmp_path / "r3")])
    assert "--clip-range does not apply to --algo a2c" in line


# ---- W&B (offline) and videos -----------------------------------------------------------------------------


def wandb_records(path: str):
    """The protobuf records of a W&B transaction log (``run-<id>.wandb``: a 7-byte header, then LevelDB-log
    blocks of 32 KiB holding records cut into FULL/FIRST/MIDDLE/LAST pieces behind 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, block, pieces = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pieces = chunk if kind in (1, 2) else pieces + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pieces)
            yield record


def test_wandb_offline_gets_the_tensorboard_scalars_the_config_and_media(tmp_path):
    pytest.importorskip("wandb")
    run_dir = str(tmp_path / "run")
    env = {**cli_env(), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    import subprocess

    def train(*extra):
        p = subprocess.run(
            [*ASYNCRL, "train", *extra, "--no-progress"], capture_output=True, text=True, timeout=180, env=env
        )
        assert p.returncode == 0, p.stdout + p.stderr

    train(
        "--algo",
        "a2c",
        "--env",
        "CartPole-v1",
        "--total-steps",
        "6000",
        "--eval-every",
        "3000",
        "--eval-episodes",
        "2",
        "--wandb",
        "--wandb-project",
        "asyncrl-tests",
        "--run-dir",
        run_dir,
    )
    (log,) = glob.glob(os.path.join(run_dir, "wandb", "offline-run-*", "run-*.wandb"))
    keys, config, project = set(), {}, None
    for r in wandb_records(log):
        kind = r.WhichOneof("record_type")
        if kind == "history":
            keys |= {item.key or "/".join(item.nested_key) for item in r.history.item}
        elif kind == "run":
            config = {u.key: json.loads(u.value_json) for u in r.run.config.update}
            project = r.run.project
    assert {
        "global_step",
        "charts/episode_return",
        "charts/steps_per_s",
        "loss/policy",
        "loss/value",
        "eval/mean",
        "charts/curve/path",
    } <= keys
    assert project == "asyncrl-tests" and config["algo"] == "a2c" and config["lr"] == saved_config(run_dir)["lr"]

    run_id = open(os.path.join(run_dir, "wandb", "asyncrl-run-id")).read().strip()
    train("--resume", run_dir, "--total-steps", "8000")
    logs = glob.glob(os.path.join(run_dir, "wandb", "offline-run-*", "run-*.wandb"))
    assert len(logs) == 2 and all(p.endswith(f"run-{run_id}.wandb") for p in logs)  # the same W&B run, resumed


def test_capture_video_records_playable_mp4s_in_the_eval_process(tmp_path, capsys):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = str(tmp_path / "run")
    # (one env, so evaluations are not skipped for a busy evaluator and every one is on a multiple of 5,000)
    run_cli(
        "train",
        "--algo",
        "a2c",
        "--env",
        "CartPole-v1",
        "--num-envs",
        "1",
        "--n-steps",
        "5",
        "--total-steps",
        "20000",
        "--eval-every",
        "5000",
        "--eval-episodes",
        "2",
        "--capture-video",
        "--video-every",
        "10000",
        "--run-dir",
        run_dir,
        "--no-progress",
        check=True,
        timeout=240,
    )
    videos = sorted(glob.glob(os.path.join(run_dir, "videos", "*.mp4")))
    steps = [int(os.path.basename(v)[5:-4]) for v in videos]
    with open(os.path.join(run_dir, "evals.csv")) as f:
        evaluated = [int(line.split(",")[1]) for line in f.readlines()[1:]]
    assert evaluated[:4] == [5000, 10000, 15000, 20000], evaluated
    assert steps == [10000, 20000]  # --video-every 10000: not at 5,000 or 15,000; the final policy always
    for v in videos:
        frames = iio.imread(v)
        assert frames.shape[1:] == (400, 600, 3) and 2 <= frames.shape[0] <= 1000
    events = EventAccumulator(os.path.join(run_dir, "tb"), size_guidance={"images": 0}).Reload()
    images = events.Images("eval/video")
    assert [e.step for e in images] == steps and images[0].encoded_image_string[:6] == b"GIF89a"

    line = one_line_error(capsys, ["train", "--capture-video", "--eval-every", "0", "--run-dir", str(tmp_path / "r2")])
    assert "--capture-video records in the evaluation process" in line


def test_a_recorded_episode_has_one_frame_per_step_and_a_small_gif(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio

    from asyncrl.envs.make import env_spaces
    from asyncrl.nn.build import make_model
    from asyncrl.nn.spec import spec_from_spaces
    from asyncrl.runtime.evaluator import VideoSpec, _record

    model = make_model(spec_from_spaces(*env_spaces("CartPole-v1")))
    clip = _record(model, "CartPole-v1", 123, 0, None, VideoSpec(str(tmp_path), max_frames=1000))
    assert clip.path == os.path.join(str(tmp_path), "step-000000000123.mp4")
    assert clip.frames == int(clip.return_) + 1  # the frame after reset, then one per step
    assert iio.imread(clip.path).shape[0] == clip.frames
    assert clip.gif[:6] == b"GIF89a" and max(clip.size) <= 160
    short = _record(model, "CartPole-v1", 7, 0, None, VideoSpec(str(tmp_path), max_frames=3))
    assert short.frames == 3 and iio.imread(short.path).shape[0] == 3


def test_a_job_runs_on_its_own_cores_so_its_defaults_fit_them(tmp_path):
    """A3C's default is one worker per core the process may use: a job pinned to one core runs one worker."""
    from asyncrl.experiments.jobs import TrainJob, train_flags

    run_dir = str(tmp_path / "run")
    core = min(os.sched_getaffinity(0))
    job = TrainJob.start(
        train_flags({"algo": "a3c", "env": "CartPole-v1", "total_steps": 2000, "tensorboard": False}),
        run_dir,
        str(tmp_path / "job.log"),
        {core},
    )
    assert job.proc.wait(120) == 0, job.tail(5)
    assert saved_config(run_dir)["workers"] == 1
    with open(tmp_path / "job.log") as f:
        first = f.readline()
    assert first.startswith("$ ") and f"--run-dir {run_dir}" in first  # the command, for the user who reads the log


def test_two_tune_processes_share_one_study_through_its_storage(tmp_path, capsys):
    """As two machines would on PostgreSQL: the second tune process, with its own folder and the same storage and
    settings, joins the study and adds its trials to it; with other settings it is refused."""
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = str(tmp_path / "machine-a"), str(tmp_path / "machine-b")
    p = run_cli("tune", *TINY, "--trials", "2", "--storage", storage, "--study", first, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    p = run_cli("tune", *TINY, "--trials", "4", "--storage", storage, "--study", second, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "joining the study 'asyncrl' (2 trials so far)" in p.stdout
    trials = optuna.load_study(study_name="asyncrl", storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert sorted(os.listdir(os.path.join(first, "trials"))) == ["trial-0000", "trial-0001"]
    assert sorted(os.listdir(os.path.join(second, "trials"))) == ["trial-0002", "trial-0003"]
    line = one_line_error(
        capsys, ["tune", *TINY, "--budget-steps", "5000", "--storage", storage, "--study", str(tmp_path / "c")]
    )
    assert "with other budget_steps" in line


def test_time_to_target_minimises_env_steps_and_ranks_misses_last(tmp_path):
    """With --objective time-to-target each trial stops at the target (train's --target-return), and its value is
    the env steps it took; a trial that missed scores more than the budget."""
    study_dir = str(tmp_path / "study")
    p = run_cli(
        "tune",
        "--algo",
        "a2c",
        "--env",
        "CartPole-v1",
        "--budget-steps",
        "30000",
        "--evals",
        "2",
        "--eval-episodes",
        "2",
        "--trials",
        "2",
        "--objective",
        "time-to-target",
        "--target-return",
        "60",
        "--study",
        study_dir,
        timeout=240,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    study = load_study(study_dir)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    for t in study.get_trials():
        assert t.state == TrialState.COMPLETE
        with open(os.path.join(study_dir, t.user_attrs["run_dir"], "result.json")) as f:
            result = json.load(f)
        if result["stop_reason"].startswith("target return"):
            assert t.value == result["env_steps"] < 30000
        else:
            assert 30000 < t.value <= 60000
        assert saved_config(os.path.join(study_dir, t.user_attrs["run_dir"]))["target_return"] == 60


def test_sweep_refuses_a_folder_whose_runs_had_other_settings(tmp_path, capsys):
    out = tmp_path / "sweep"
    run = out / "a2c-CartPole-v1-s0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"algo": "a2c", "env": "CartPole-v1", "seed": 0, "total_steps": 50000}))
    line = one_line_error(
        capsys, ["sweep", "--algo", "a2c", "--seeds", "1", "--set", "total_steps=200000", "-o", str(out)]
    )
    assert "trained with total_steps=50000 (this sweep: 200000)" in line


def test_sweep_config_gives_each_algorithm_the_settings_that_apply_to_it(tmp_path, capsys):
    # A run's config.json (APPO's) as the base of a sweep over APPO and IMPALA: IMPALA's runs leave out APPO's own
    # settings (one notice line), the shared ones reach every run, and --set overrides the file.
    assert main(["train", "--algo", "appo", "--lr", "0.0007", "--dry-run"]) == 0
    config = tmp_path / "config.json"
    config.write_text(capsys.readouterr().out)
    args = ["sweep", "--config", str(config), "--algo", "appo", "impala", "--set", "n_steps=7", "-o", str(tmp_path)]
    assert main([*args, "--seeds", "1", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    runs = {line.split(":", 1)[0].rsplit("/", 1)[1]: json.loads(line.split(": ", 1)[1]) for line in out.splitlines()}
    appo, impala = runs["appo-CartPole-v1-s0"], runs["impala-CartPole-v1-s0"]
    assert appo["clip_range"] == 0.2 and "clip_range" not in impala and "epochs" not in impala
    assert appo["lr"] == impala["lr"] == 0.0007 and appo["n_steps"] == impala["n_steps"] == 7
    assert "left out clip_range, epochs, kl_coef, minibatches, targets for --algo impala on --env CartPole-v1" in err
