"""Train the small models shipped in ``src/asyncrl/pretrained/`` and write them there.

    .venv/bin/python scripts/make_pretrained.py [cartpole]

Each is trained with the embedded defaults (one seed, no tuning for the occasion), then its best
checkpoint (by periodic test runs) is evaluated over 100 episodes and saved without optimizer
state, so the file stays small. (A Pendulum model was tried and left out: APPO's best checkpoints of
seeds 1 and 4 scored -212 ± 235 and -209 ± 250 over 100 deterministic episodes, failing to swing up
from some starts.) ``asyncrl eval pretrained:cartpole`` and ``asyncrl record
pretrained:cartpole`` play them.
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
    "cartpole": ["--algo", "impala", "--env", "CartPole-v1", "--seed", "0", "--target-return", "495",
                 "--eval-every", "20000", "--eval-episodes", "10"],
}


def main() -> None:
    asyncrl = [sys.executable, "-m", "asyncrl.cli"]
    names = sys.argv[1:] or list(MODELS)
    for name, args in ((n, MODELS[n]) for n in names):
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            subprocess.run([*asyncrl, "train", *args, "--run-dir", run, "--no-tensorboard", "--no-progress"],
                           check=True)
            ev = subprocess.run([*asyncrl, "eval", run, "--episodes", "100", "--json"], check=True,
                                capture_output=True, text=True)
            score = json.loads(ev.stdout)
            data = torch.load(os.path.join(run, "checkpoints", "best.pt"), weights_only=True)
            data["optimizer"] = {}
            data["eval_100"] = json.dumps({k: score[k] for k in ("mean", "std", "min", "max", "episodes")})
            data["made_with"] = " ".join(["asyncrl", "train", *args])
            torch.save(data, os.path.join(OUT, f"{name}.pt"))
            print(f"{name}: {score['mean']:.1f} ± {score['std']:.1f} over 100 episodes")


if __name__ == "__main__":
    main()
