"""The pure parts of the experiment loop: search spaces, trial flags, grids, the time-to-target objective, the split
of cores between parallel runs, and plot grouping."""

from __future__ import annotations

import json
import math
import os

import pytest

from asyncrl.algos import ALGORITHMS
from asyncrl.cli import build_parser
from asyncrl.config import FLAT_FIELDS, read_config_file
from asyncrl.errors import UsageError
from asyncrl.experiments.jobs import core_slots, train_flags
from asyncrl.experiments.space import Param, build_space, parse_param
from asyncrl.experiments.sweep import grid, parse_set, summarize, write_summary
from asyncrl.experiments.tune import TuneSettings, default_space, steps_value, with_defaults
from asyncrl.plot import expand_run_dirs, group_runs
from asyncrl.train import TrainResult


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
@pytest.mark.parametrize("env, kind", [("CartPole-v1", "discrete"), ("Pendulum-v1", "continuous")])
def test_every_algorithm_has_a_valid_default_space(algo, env, kind):
    """Each algorithm's space names settings it reads, and every bound and choice passes the setting's rule."""
    if kind not in ALGORITHMS[algo].search_space:
        with pytest.raises(UsageError, match=f"no search space for {kind} actions"):
            default_space(algo, env)
        return
    space = build_space(algo, env, default_space(algo, env))
    assert "lr" in space.params and space.params["lr"].kind == "log"
    assert space.fixed == {}
    assert ("log_std_init" in space.params) == (kind == "continuous" and algo != "feudal")


def test_a_space_file_overrides_fixes_and_drops_settings():
    space = build_space(
        "appo",
        "Pendulum-v1",
        default_space("appo", "Pendulum-v1"),
        {"lr": ["log", 1e-4, 1e-3], "clip_range": 0.2, "gamma": None, "epochs": ["int", 1, 3]},
    )
    assert space.params["lr"] == Param("lr", "log", 1e-4, 1e-3)
    assert space.fixed == {"clip_range": 0.2}
    assert "gamma" not in space.params and "clip_range" not in space.params
    assert space.params["epochs"].kind == "int"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lr": ["log", 0, 1e-3]}, "LOW > 0"),
        ({"lr": ["log", 1e-3, 1e-4]}, "LOW must be below HIGH"),
        ({"lr": ["uniform", 1e-4, 1e-3]}, "must be"),
        ({"lr": ["log", 1e-4, 1e9]}, "--lr"),
        ({"n_steps": ["log", 1.0, 10.0]}, "takes int values"),
        ({"n_steps": ["choice", []]}, "non-empty list"),
        ({"n_steps": ["choice", [8, 0]]}, "--n-steps"),
        ({"no_such": 1}, "unknown setting 'no_such'"),
        ({"clip_range": 0.2}, "does not apply to --algo a2c"),
        ({"total_steps": 10}, "tune sets it"),
        ({k: None for k in default_space("a2c", "CartPole-v1")}, "nothing to search"),
    ],
)
def test_bad_spaces_are_refused_with_one_line(overrides, message):
    with pytest.raises(UsageError, match=message) as e:
        build_space("a2c", "CartPole-v1", default_space("a2c", "CartPole-v1"), overrides)
    assert "\n" not in str(e.value)


def test_parameters_contain_what_they_can_draw():
    assert Param("lr", "log", 1e-4, 1e-2).contains(3e-4) and not Param("lr", "log", 1e-4, 1e-2).contains(0.0)
    assert Param("epochs", "int", 1, 4).contains(2) and not Param("epochs", "int", 1, 4).contains(2.5)
    assert Param("n_steps", "choice", choices=(5, 8)).contains(8) and not Param("n", "choice", choices=(5,)).contains(6)
    assert parse_param("x", ["int", 1, 3], "here") == Param("x", "int", 1.0, 3.0)


def test_the_defaults_join_the_choices_so_the_first_trial_is_the_defaults():
    space = build_space("impala", "Pendulum-v1", default_space("impala", "Pendulum-v1"))
    assert 20 not in space.params["n_steps"].choices
    wider = with_defaults(space, {"n_steps": 20, "lr": 3e-4, "entropy_coef": 0.0})
    assert wider.params["n_steps"].choices == (5, 8, 16, 20, 32)
    assert wider.params["lr"] == space.params["lr"] and wider.params["entropy_coef"] == space.params["entropy_coef"]


def test_trial_flags_parse_back_to_the_same_settings():
    settings = {
        "algo": "appo",
        "env": "Pendulum-v1",
        "lr": 0.00012345678901234,
        "n_steps": 16,
        "lstm": True,
        "normalize_obs": False,
        "hidden": [32, 16],
        "target_return": -150.5,
        "lr_schedule": "linear",
        "gae_lambda": None,
    }
    flags = train_flags(settings)
    assert "--gae-lambda" not in flags and "--no-normalize-obs" in flags
    args = build_parser("appo", "Pendulum-v1").parse_args(["train", *flags])
    assert {k: getattr(args, k) for k in settings if k != "gae_lambda"} == {
        k: v for k, v in settings.items() if k != "gae_lambda"
    }


def test_cores_are_split_into_disjoint_slots():
    cores = sorted(os.sched_getaffinity(0))
    slots = core_slots(len(cores))
    assert sorted(c for s in slots for c in s) == cores and all(len(s) == 1 for s in slots)
    assert core_slots(1) == [set(cores)]
    with pytest.raises(UsageError, match=f"--jobs {len(cores) + 1} is more than the {len(cores)} cores"):
        core_slots(len(cores) + 1)


def test_steps_to_target_ranks_solved_before_unsolved_and_near_misses_before_far_ones():
    budget = 1000
    solved_late = steps_value(900, budget, 500.0, 475.0)
    near = steps_value(1000, budget, 400.0, 475.0)
    far = steps_value(1000, budget, 20.0, 475.0)
    assert solved_late == 900 < near < far <= 2 * budget
    assert steps_value(1000, budget, math.nan, 475.0) == 2 * budget
    assert steps_value(1000, budget, -300.0, -200.0) == pytest.approx(1000 * (1 + 100 / 200))


def test_tune_settings_are_checked():
    with pytest.raises(UsageError, match="needs --target-return"):
        TuneSettings("a2c", "CartPole-v1", objective="time-to-target").check()
    with pytest.raises(UsageError, match="--trials"):
        TuneSettings("a2c", "CartPole-v1", trials=0).check()
    with pytest.raises(UsageError, match="fewer than --evals"):
        TuneSettings("a2c", "CartPole-v1", budget_steps=3, evals=5).check()


def test_set_values_take_the_settings_types_and_make_a_grid():
    axes = parse_set(["lr=1e-3,3e-3", "lstm=true", "total-steps=5000", "lr_schedule=linear"])
    assert axes == {"lr": [1e-3, 3e-3], "lstm": [True], "total_steps": [5000], "lr_schedule": ["linear"]}
    runs = grid(["a2c", "impala"], ["CartPole-v1"], axes, [0, 1])
    assert [r.name for r in runs[:2]] == ["a2c-CartPole-v1-lr=0.001-s0", "a2c-CartPole-v1-lr=0.001-s1"]
    assert len(runs) == 2 * 2 * 2 and len({r.name for r in runs}) == 8
    assert runs[0].settings == {
        "algo": "a2c",
        "env": "CartPole-v1",
        "lr": 1e-3,
        "lstm": True,
        "total_steps": 5000,
        "lr_schedule": "linear",
        "seed": 0,
    }
    assert runs[0].group == runs[1].group == (("algo", "a2c"), ("env", "CartPole-v1"), ("lr", 1e-3))


@pytest.mark.parametrize(
    "item, message",
    [
        ("lr", "NAME=VALUE"),
        ("lr=fast", "not a float"),
        ("lstm=maybe", "true or false"),
        ("nope=1", "not a setting"),
        ("seed=1", "--seed"),
        ("hidden=64", "cannot be swept"),
    ],
)
def test_bad_set_items_are_refused(item, message):
    with pytest.raises(UsageError, match=message):
        parse_set([item])


def test_config_files_are_read_and_checked(tmp_path):
    good = tmp_path / "c.json"
    good.write_text(json.dumps({"algo": "a2c", "lr": 0.002}))
    assert read_config_file(str(good)) == {"algo": "a2c", "lr": 0.002}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lr": 0.002, "learning_rate": 1}))
    with pytest.raises(UsageError, match="unknown setting\\(s\\) learning_rate"):
        read_config_file(str(bad))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="JSON object"):
        read_config_file(str(tmp_path / "list.json"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_config_file(str(tmp_path / "broken.json"))
    with pytest.raises(UsageError, match="does not exist"):
        read_config_file(str(tmp_path / "missing.json"))
    assert set(json.loads(good.read_text())) <= set(FLAT_FIELDS)


def _fake_run(folder, name, **cfg):
    d = folder / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "episodes.csv").write_text("wall_time_s,env_steps,episode_return,episode_length,worker\n1,10,5,5,0\n")
    return str(d)


def test_plot_groups_by_any_config_field_and_finds_run_dirs_in_a_folder(tmp_path):
    sweep = tmp_path / "sweep"
    for algo in ("a2c", "impala"):
        for seed in (0, 1):
            _fake_run(sweep, f"{algo}-s{seed}", algo=algo, env="CartPole-v1", seed=seed, lr=0.001 * (seed + 1))
    dirs = expand_run_dirs([str(sweep)])
    assert [os.path.basename(d) for d in dirs] == ["a2c-s0", "a2c-s1", "impala-s0", "impala-s1"]
    by_algo = group_runs(dirs, ["algo"])
    assert list(by_algo) == ["algo=a2c (2 runs)", "algo=impala (2 runs)"]
    assert len(group_runs(dirs, ["algo", "lr"])) == 4
    assert len(group_runs(dirs)) == 4  # (default: configs equal but for the seed; lr differs here)


def test_groups_that_look_alike_stay_apart(tmp_path):
    a = _fake_run(tmp_path, "a", algo="a2c", env="CartPole-v1", seed=0, lr=0.001)
    b = _fake_run(tmp_path, "b", algo="a2c", env="CartPole-v1", seed=0, lr=0.003)
    c = tmp_path / "c"  # a run dir without config.json: the labels cannot name what differs
    c.mkdir()
    (c / "episodes.csv").write_text("wall_time_s,env_steps,episode_return,episode_length,worker\n1,10,5,5,0\n")
    groups = group_runs([a, b, str(c)])
    assert sorted(d for dirs in groups.values() for d in dirs) == sorted([a, b, str(c)]) and len(groups) == 3


def test_the_sweep_summary_keeps_final_evaluations_and_training_means_apart(tmp_path):
    """Three seeds, one without a final evaluation (as with --eval-every 0): final eval is over the two that had one
    (and says 2/3), never the third's training mean in its place; the training mean100 is a column of its own, over
    all three; an interrupted run counts in neither."""
    out = tmp_path / "sweep"
    runs = grid(["a2c"], ["CartPole-v1"], {}, [0, 1, 2, 3])
    for run, final, mean100, why in zip(
        runs,
        [100.0, 200.0, math.nan, 400.0],
        [10.0, 20.0, 990.0, 5000.0],
        ["step budget reached"] * 3 + ["interrupted (SIGINT)"],
    ):
        run_dir = _fake_run(out, run.name, **run.settings)
        result = TrainResult(run_dir, why, 1000, 5, mean100, final, 1.0, final)
        (out / run.name / "result.json").write_text(result.to_json())
    _, (row,) = summarize(str(out), runs, target=1000.0)
    assert (row["runs"], row["final_eval"], row["evaluated"]) == ("3/4", "150.0 ± 50.0", "2/3")
    assert row["train_mean100"] == "340.0 ± 459.6" and row["reached"] == "0/3"
    table = write_summary(str(out), runs, target=1000.0)
    assert "| final eval | evaluated | train mean100 |" in table
    text = (out / "summary.md").read_text()
    assert "over the runs that had one" in text and "last 100 training episodes" in text
