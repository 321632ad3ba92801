"""The run logger's CSV files: the frames column, resumed files keeping their own header, and reading the
evaluations back for the holding criterion."""

from __future__ import annotations

import csv
import os

import numpy as np

from asyncrl.logger import EPISODE_COLUMNS, RunLogger
from asyncrl.plot import hold_after_solve, read_evaluations


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_frames_column_counts_emulator_frames(tmp_path):
    log = RunLogger(str(tmp_path), ["lr"], tensorboard=False, progress=False)
    log.frames_per_step = 4
    log.episode(env_steps=250, episode_return=-21.0, episode_length=250, worker=0)
    log.close()
    header, row = _rows(os.path.join(tmp_path, "episodes.csv"))
    assert header == EPISODE_COLUMNS and dict(zip(header, row))["frames"] == "1000"


def test_a_resumed_file_from_an_older_version_keeps_its_header(tmp_path):
    path = os.path.join(tmp_path, "episodes.csv")
    old = ["wall_time_s", "env_steps", "episode_return", "episode_length", "worker"]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([old, ["1.0", "10", "9.0", "10", "0"]])
    log = RunLogger(str(tmp_path), ["lr"], tensorboard=False, progress=False)
    log.episode(env_steps=20, episode_return=12.0, episode_length=10, worker=1)
    log.close()
    rows = _rows(path)
    assert rows[0] == old and all(len(r) == len(old) for r in rows) and rows[-1][1:] == ["20", "12", "10", "1"]


def test_plot_labels_name_the_settings_that_tell_groups_apart():
    import json

    from asyncrl.plot import _differing_keys

    base = {"algo": "feudal", "env": "E", "lr": 1e-3, "intrinsic_coef": 0.5, "worker_gamma": 0.95}
    groups = [
        json.dumps(base),
        json.dumps({**base, "intrinsic_coef": 0.0}),
        json.dumps({**base, "worker_gamma": 0.99}),
        json.dumps({"algo": "a3c", "env": "E", "lr": 1e-3}),
    ]
    diff = _differing_keys(groups)
    assert diff[groups[0]] == ["intrinsic_coef", "worker_gamma"] == diff[groups[1]]
    assert groups[3] not in diff  # the only a3c group: "a3c E" tells it apart


def test_a_group_of_seeds_shows_each_run_in_full(tmp_path, monkeypatch):
    # The mean and band stop at the shortest run; each run's own curve still reaches its end.
    import json

    import matplotlib.figure

    from asyncrl.plot import plot_runs

    dirs = []
    for seed, n in ((0, 50), (1, 120)):
        d = tmp_path / f"run{seed}"
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"algo": "appo", "env": "E", "lr": 1e-3, "seed": seed}))
        rows = "".join(f"{i * 0.5},{i * 100},{float(i % 7)},10,0,{i * 400}\n" for i in range(1, n + 1))
        (d / "episodes.csv").write_text("wall_time_s,env_steps,episode_return,episode_length,worker,frames\n" + rows)
        dirs.append(str(d))
    seen = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: seen.append(fig))
    plot_runs(dirs, str(tmp_path / "c.png"))
    steps_ax = seen[0].axes[0]
    ends = sorted(max(line.get_xdata()) for line in steps_ax.get_lines())
    assert ends[-1] == 120 * 100  # the longer run in full
    assert 50 * 100 in ends  # the shorter run, and the mean line, end at 5,000
    assert [line.get_label() for line in steps_ax.get_lines() if not line.get_label().startswith("_")] == [
        "appo E (2 runs)"
    ]


def test_the_metrics_window_reduces_every_runtime_s_statistics_by_one_rule():
    # One update at a time (sync, the learner) and a worker's reduced row of n updates (Hogwild) give the same row:
    # means weighted by updates, the maximum lag, the sum of skipped updates, and dropped samples as a running total.
    from asyncrl.runtime.loop import MetricsWindow

    updates = [
        {"loss/value": 1.0, "policy_lag_max": 3.0, "skipped_updates": 1.0, "dropped_samples": 5.0},
        {"loss/value": 3.0, "policy_lag_max": 1.0, "skipped_updates": 0.0, "dropped_samples": 0.0},
        {"loss/value": 8.0, "policy_lag_max": 2.0, "skipped_updates": 1.0, "dropped_samples": 2.0},
    ]
    one = MetricsWindow()
    for u in updates:
        one.add(u)
    worker = MetricsWindow()
    for u in updates[1:]:
        worker.add(u)
    merged = MetricsWindow()
    merged.add(updates[0])
    merged.merge(worker.reduce(), 2)
    assert one.updates == merged.updates == 3
    expected = {"loss/value": 4.0, "policy_lag_max": 3.0, "skipped_updates": 2.0, "dropped_samples": 7.0}
    assert one.row() == merged.row() == expected
    one.add({"loss/value": 2.0, "dropped_samples": 1.0})
    assert one.row() == {"loss/value": 2.0, "dropped_samples": 8.0}  # the next row: the total runs on
    assert not one and one.row() == {"dropped_samples": 8.0}
    # A worker's second report sends only what it dropped since its first (the parent keeps the total).
    worker.add({"dropped_samples": 4.0})
    merged.merge(worker.reduce(), 1)
    assert merged.row()["dropped_samples"] == 11.0


def test_the_evaluation_holding_criterion_on_hand_made_evaluations(tmp_path):
    """Pendulum's restated criterion: solved at the first evaluation at or above -200 within the budget, held
    when every evaluation of the next ``hold`` steps stays at or above -220 and the run covers the window."""
    steps = np.array([50, 100, 150, 200, 250, 300])
    means = np.array([-900.0, -199.0, -230.0, -150.0, -210.0, -500.0])
    r = hold_after_solve(steps, means, -200.0, budget=100, hold=100, end=300)
    # (the first evaluation at or above -200 is -199 at step 100; its window (100, 200] holds -230 and -150)
    assert r == {
        "solved": True,
        "solve_steps": 100,
        "solve_index": 1,
        "lowest_after": -230.0,
        "held": False,
        "points_after": 2,
    }
    means[2] = -220.0  # exactly the bar holds; the -500 at 300 is past the window
    assert hold_after_solve(steps, means, -200.0, budget=100, hold=100, end=300)["held"]
    assert not hold_after_solve(steps, means, -200.0, budget=100, hold=100, end=199)["held"]  # window not covered
    assert not hold_after_solve(steps, means, -200.0, budget=99, hold=100, end=300)["solved"]  # solved too late
    assert hold_after_solve(steps, means - 1000, -200.0, 100, 100, 300)["solve_steps"] is None
    with open(tmp_path / "evals.csv", "w") as f:
        f.write("wall_time_s,env_steps,mean,median,std,min,max,episodes\n1.0,50,-900.5,0,0,0,0,10\n")
    got_steps, got_means = read_evaluations(str(tmp_path))
    assert got_steps.tolist() == [50.0] and got_means.tolist() == [-900.5]
