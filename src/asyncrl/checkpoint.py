"""Checkpoints as plain data, written atomically, loaded with ``weights_only=True``.

A checkpoint is a dict of tensors, numbers, strings and lists; nothing is unpickled as a Python
object on load. It holds:

- ``model``: the model's ``state_dict``, the normalisation statistics among its buffers (``obs_norm.*``,
  ``return_norm.*``, :mod:`asyncrl.nn.normalize`); ``model_spec`` and ``config``: JSON strings.
- ``optimizer``: the optimizer state: the learner's, the shared one of Hogwild A3C/FeUdal, or with
  ``--no-shared-optimizer`` every worker's own statistics (``{"workers": [...]}``).
- ``counters``: env steps, updates, episodes, wall time, the best evaluation mean, the last 100 training
  returns, and ``lr_schedule``, the learning-rate schedule's position.

``--resume`` (and a second ``learn()``) restores all of these: the weights, every optimizer
statistic (step counts included), the counters, the last-100 window the target is checked on, and the
lr schedule (a new ``--total-steps`` continues a linear decay from the lr reached; it never jumps back
up). Random streams are not saved but re-derived: every process seeds itself from the run's seed,
its rank and the resume point (env steps or updates so far), so a resumed run is reproducible for a seed but does
not replay the numbers an uninterrupted run would have drawn. A resume cannot restore what lives only in
the worker processes: the envs' states and the episodes in progress (each env starts a new episode;
the unfinished ones are never logged) and LSTM states.

``best.pt`` pairs the tested model with the optimizer state of the same moment.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import torch

from asyncrl.errors import UsageError
from asyncrl.nn.build import make_model
from asyncrl.nn.spec import ModelSpec

FORMAT = "asyncrl-checkpoint-v1"


def save_checkpoint(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: a temp file in the same folder, fsync, rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename (``result.json``, a
    study's ``tune.json``, a sweep's ``sweep.json``)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str) -> dict[str, Any]:
    """Load a checkpoint file; a missing, corrupt or foreign file raises :class:`UsageError`."""
    if not os.path.isfile(path):
        raise UsageError(f"checkpoint {path!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, or holds pickled objects
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"checkpoint {path!r} cannot be read ({first[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"checkpoint {path!r} is not an asyncrl checkpoint")
    return data


PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
"""Small trained models shipped with the package (``scripts/make_pretrained.py`` makes them)."""


def pretrained_names() -> list[str]:
    return (
        sorted(f[:-3] for f in os.listdir(PRETRAINED_DIR) if f.endswith(".pt")) if os.path.isdir(PRETRAINED_DIR) else []
    )


def resolve_checkpoint_path(path: str, prefer: str = "best") -> str:
    """A checkpoint file, a run dir (then ``checkpoints/<prefer>.pt``, else the other one), or
    ``pretrained:NAME`` for a model shipped with the package."""
    if path.startswith("pretrained:"):
        name = path[len("pretrained:") :]
        if name not in pretrained_names():
            raise UsageError(f"no pretrained model {name!r} (have: {', '.join(pretrained_names()) or 'none'})")
        return os.path.join(PRETRAINED_DIR, f"{name}.pt")
    if os.path.isdir(path):
        order = [prefer, "latest" if prefer == "best" else "best"]
        for name in order:
            p = os.path.join(path, "checkpoints", f"{name}.pt")
            if os.path.isfile(p):
                return p
        raise UsageError(f"run dir {path!r} has no checkpoints/best.pt or checkpoints/latest.pt")
    if not os.path.exists(path):
        raise UsageError(f"{path!r} does not exist (give a run dir or a .pt checkpoint)")
    return path


def model_from_checkpoint(data: dict[str, Any]):
    """Rebuild the network stored in a loaded checkpoint (an :class:`~asyncrl.nn.model.ActorCritic`, or a
    :class:`~asyncrl.nn.feudal.FeudalNet`), from its saved :class:`~asyncrl.nn.spec.ModelSpec`."""
    model = make_model(ModelSpec(**json.loads(data["model_spec"])))
    model.load_state_dict(data["model"])
    model.eval()
    return model
