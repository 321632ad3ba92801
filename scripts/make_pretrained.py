"""Train the small models shipped in ``src/asyncrl/pretrained/`` and write them there.

    .venv/bin/python scripts/make_pretrained.py [cartpole] [pong] [halfcheetah]
    .venv/bin/python scripts/make_pretrained.py pong --from-run RUN   # package a finished run instead

``--from-run`` takes the final checkpoint (``latest.pt``) of a run already trained with the model's
command (Pong's takes minutes on a GPU machine with 16 cores, hours on 2 CPU cores).

CartPole is trained with the embedded defaults (one seed, no tuning for the occasion) and its best
checkpoint (by periodic test runs) is shipped; Pong with the command in ``MODELS`` (BENCHMARKS.md)
and its final checkpoint. Each is evaluated over 100 episodes and saved without optimizer state,
so the file stays small. (A Pendulum model was tried and left out: APPO's best checkpoints of
seeds 1 and 4 scored -212 ± 235 and -209 ± 250 over 100 deterministic episodes, failing to swing up
from some starts.) ``asyncrl eval pretrained:NAME`` and ``asyncrl record
pretrained:NAME`` play them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "asyncrl", "pretrained")
MODELS = {
    "cartpole": [
        "--algo",
        "impala",
        "--env",
        "CartPole-v1",
        "--seed",
        "0",
        "--target-return",
        "495",
        "--eval-every",
        "20000",
        "--eval-episodes",
        "10",
    ],
    # BENCHMARKS.md, "Pong to 18 on one GPU machine": 294-502 s on 16 cores and one H100.
    "pong": [
        "--algo",
        "appo",
        "--env",
        "PongNoFrameskip-v4",
        "--seed",
        "1",
        "--device",
        "auto",
        "--workers",
        "14",
        "--num-envs",
        "8",
        "--n-steps",
        "32",
        "--slots-per-actor",
        "2",
        "--batch-rollouts",
        "14",
        "--epochs",
        "4",
        "--minibatches",
        "14",
        "--targets",
        "gae",
        "--gae-lambda",
        "0.95",
        "--lr",
        "2.5e-4",
        "--lr-schedule",
        "linear",
        "--clip-range",
        "0.1",
        "--entropy-coef",
        "0.01",
        "--max-grad-norm",
        "0.5",
        "--normalize-advantages",
        "--eval-every",
        "0",
        "--total-steps",
        "6000000",
        "--target-return",
        "18",
    ],
    # APPO's HalfCheetah-v5 defaults, 1M steps (about 2.2 min on 2 cores; BENCHMARKS.md, "Acting while the learner
    # learns", seed 0: 7,454 ± 649 over 100 episodes); its
    # normalisation statistics ship with it.
    "halfcheetah": [
        "--algo",
        "appo",
        "--env",
        "HalfCheetah-v5",
        "--seed",
        "0",
        "--total-steps",
        "1000000",
        "--eval-every",
        "0",
    ],
}
CHECKPOINT = {"cartpole": "best", "pong": "latest", "halfcheetah": "latest"}
"""Which checkpoint is shipped: CartPole's best by periodic tests; Pong's and HalfCheetah's final one (no periodic
tests)."""


def _differing_settings(args: list[str], cfg: dict) -> list[str]:
    """The settings that the command ``asyncrl train ARGS`` gives and the saved config ``cfg`` does not
    hold (parsed by the CLI's own parser for the command's algorithm and env, so types compare as the CLI reads
    them)."""
    from asyncrl.cli import _algo_env_runtime, build_parser

    ns = build_parser(*_algo_env_runtime(["train", *args])).parse_args(["train", *args])
    return sorted(k for k, v in vars(ns).items() if k in cfg and v is not None and cfg[k] != v)


def package(name: str, run: str, args: list[str]) -> None:
    """Evaluate ``run``'s shipped checkpoint over 100 episodes and save it without optimizer state."""
    asyncrl = [sys.executable, "-m", "asyncrl.cli"]
    which = CHECKPOINT[name]
    ev = subprocess.run(
        [*asyncrl, "eval", run, "--checkpoint", which, "--episodes", "100", "--num-envs", "10", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    score = json.loads(ev.stdout)
    data = torch.load(os.path.join(run, "checkpoints", f"{which}.pt"), weights_only=True)
    data["optimizer"] = {}
    data["eval_100"] = json.dumps({k: score[k] for k in ("mean", "std", "min", "max", "episodes")})
    cfg = json.loads(data["config"])
    differ = _differing_settings(args, cfg)
    if differ and differ != ["device"]:  # the device is where it ran, not how it was trained
        sys.exit(f"{run} was not trained with the {name} command: {', '.join(differ)} differ")
    data["made_with"] = " ".join(["asyncrl", "train", *args]) + (
        f" (trained with --device {cfg['device']})" if differ else ""
    )
    torch.save(data, os.path.join(OUT, f"{name}.pt"))
    print(f"{name}: {score['mean']:.1f} ± {score['std']:.1f} over 100 episodes")


def main() -> None:
    argv = sys.argv[1:]
    from_run = None
    if "--from-run" in argv:
        i = argv.index("--from-run")
        if i + 1 >= len(argv):
            sys.exit("--from-run needs a run dir (e.g. pong --from-run runs/pong-gpu-s1)")
        from_run = argv[i + 1]
        del argv[i : i + 2]
    names = argv or list(MODELS)
    if from_run is not None and len(names) != 1:
        sys.exit("--from-run packages one model: name it (e.g. pong --from-run RUN)")
    for name in names:
        if name not in MODELS:
            sys.exit(f"unknown model {name!r} (have: {', '.join(MODELS)})")
        if from_run is not None:
            package(name, from_run, MODELS[name])
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "asyncrl.cli",
                    "train",
                    *MODELS[name],
                    "--run-dir",
                    run,
                    "--no-tensorboard",
                    "--no-progress",
                ],
                check=True,
            )
            package(name, run, MODELS[name])


if __name__ == "__main__":
    main()
