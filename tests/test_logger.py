"""The run logger's CSV files: the frames column, and resumed files keeping their own header."""

from __future__ import annotations

import csv
import os

from asyncrl.logger import EPISODE_COLUMNS, RunLogger


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
