"""The docs' "a new algorithm is one file" example (docs/extending.md), run as written: copied into a copy of the
package, it trains from the CLI with its own flag, which every other algorithm refuses."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FAST

ROOT = Path(__file__).resolve().parent.parent


def _readme_algorithm() -> str:
    page = (ROOT / "docs" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    code = next(b for b in blocks if "register(Reinforce())" in b)
    return code


def _cli(src: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, "-m", "asyncrl.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_the_readme_algorithm_file_trains_with_its_own_flag(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "asyncrl", src / "asyncrl", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "asyncrl" / "algos" / "reinforce.py").write_text(_readme_algorithm())
    run = tmp_path / "run"
    p = _cli(
        src,
        "train",
        "--algo",
        "reinforce",
        "--env",
        "CartPole-v1",
        "--baseline-coef",
        "0.5",
        "--total-steps",
        "3000",
        "--eval-every",
        "0",
        "--run-dir",
        str(run),
        *FAST,
    )
    assert p.returncode == 0, p.stderr
    assert "step budget reached" in p.stdout
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["reinforce/adv_mean"] != "" for r in rows)  # its metric, logged
    config = (run / "config.json").read_text()
    assert '"baseline_coef": 0.5' in config  # its section, saved with the run
    help_ = _cli(src, "train", "--algo", "reinforce", "--help")
    assert "--baseline-coef" in help_.stdout and "ReinforceConfig" in help_.stdout
    refused = _cli(src, "train", "--algo", "a2c", "--baseline-coef", "0.5")
    assert refused.returncode == 2
    assert "--baseline-coef does not apply to --algo a2c (it is used by: reinforce)" in refused.stderr
    bad = _cli(src, "train", "--algo", "reinforce", "--baseline-coef", "-1", "--run-dir", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--baseline-coef must be a finite number >= 0, got -1.0" in bad.stderr
