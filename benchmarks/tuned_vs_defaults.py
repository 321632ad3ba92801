"""Does a tuned configuration beat the defaults on seeds the study never saw?

Runs the defaults and a study's ``best_config.json`` on the same fresh seeds with ``asyncrl sweep`` (one run at a
time, all cores each, as a user would train), then plays each run's final checkpoint for ``--episodes``
deterministic episodes (``asyncrl eval RUN --checkpoint latest``) and prints a table: mean ± std over seeds of
those scores, per-seed scores, how many seeds reached ``--threshold`` (100-episode evaluation mean), and the wall
time per run. Adopt the tuned values as defaults only if they win here.

    .venv/bin/python benchmarks/tuned_vs_defaults.py --study runs/bench-tune/study --seeds 100 101 102 103 104 \
        --threshold -200 -o runs/bench-tune/fresh
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ASYNCRL = [sys.executable, "-m", "asyncrl.cli"]


def sweep(out: Path, algo: str, env: str, seeds: list[int], steps: int, config: Path | None) -> None:
    cmd = [
        *ASYNCRL,
        "sweep",
        "--algo",
        algo,
        "--env",
        env,
        "--seeds",
        "1",
        "-o",
        str(out),
        "--set",
        f"total_steps={steps}",
        "--set",
        "eval_every=0",
        "--set",
        "tensorboard=false",
    ]
    if config is not None:
        cmd += ["--config", str(config)]
    for seed in seeds:  # (one sweep per seed, so the seeds need not be consecutive)
        subprocess.run([*cmd, "--first-seed", str(seed)], check=True, capture_output=True, text=True)


def score(run: Path, episodes: int) -> float:
    p = subprocess.run(
        [
            *ASYNCRL,
            "eval",
            str(run),
            "--checkpoint",
            "latest",
            "--episodes",
            str(episodes),
            "--num-envs",
            "10",
            "--seed",
            "50000",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(p.stdout)["mean"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", required=True, help="the study folder (its tune.json and best_config.json)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("-o", "--out", default="runs/bench-tune/fresh")
    args = ap.parse_args()
    study = Path(args.study)
    settings = json.loads((study / "tune.json").read_text())
    best = study / "best_config.json"
    out = Path(args.out)
    rows = []
    for name, config in (("defaults", None), ("tuned", best)):
        folder = out / name
        sweep(folder, settings["algo"], settings["env"], args.seeds, settings["budget_steps"], config)
        runs = [folder / f"{settings['algo']}-{settings['env']}-s{s}" for s in args.seeds]
        scores = [score(r, args.episodes) for r in runs]
        seconds = [json.loads((r / "result.json").read_text())["seconds"] for r in runs]
        solved = "-" if args.threshold is None else f"{sum(s >= args.threshold for s in scores)}/{len(scores)}"
        rows.append(
            (name, statistics.mean(scores), statistics.pstdev(scores), scores, solved, statistics.mean(seconds))
        )
    print(
        f"{settings['algo']} on {settings['env']}, {settings['budget_steps']:,} env steps, seeds {args.seeds}, "
        f"{args.episodes} evaluation episodes each"
    )
    print("| config | mean ± std over seeds | per seed | seeds at threshold | seconds per run |")
    print("|---|---|---|---|---|")
    for name, mean, std, scores, solved, secs in rows:
        print(
            f"| {name} | {mean:,.1f} ± {std:,.1f} | {', '.join(f'{s:,.0f}' for s in scores)} | {solved} | {secs:.1f} |"
        )
    print(f"best_config.json: {json.dumps(json.loads(best.read_text()))}")


if __name__ == "__main__":
    main()
