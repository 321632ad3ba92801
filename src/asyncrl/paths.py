"""Checks of the paths a user gives, made before any long work (building envs, training, playing an
episode, reading logs).

A path that does not exist, is the wrong kind (a file where a folder is needed, or the reverse), or
that this process cannot read or write raises a one-line :class:`UsageError` naming the path and the
problem; nothing that exists is changed. A new run never writes into a folder that holds another
run's files, and an output file (``-o``) never replaces a file of a run.
"""

from __future__ import annotations

import json
import os

from asyncrl.errors import UsageError, first_line

RUN_FILES = (
    "config.json",
    "episodes.csv",
    "metrics.csv",
    "evals.csv",
    "tests.csv",
    "curve.png",
    "error.log",
    "checkpoints",
    "tb",
    "result.json",
    "videos",
    "wandb",
)
"""What ``asyncrl train`` writes into a run dir (``tests.csv``: ``evals.csv`` in run dirs of older versions)."""
_CHECKPOINT_HINT = "give a run dir, a .pt checkpoint or pretrained:NAME"


def evals_file(run_dir: str) -> str:
    """``evals.csv``; ``tests.csv`` in a run dir written before it was renamed (a resume goes on writing there)."""
    old = os.path.join(run_dir, "tests.csv")
    return (
        "tests.csv" if os.path.exists(old) and not os.path.exists(os.path.join(run_dir, "evals.csv")) else "evals.csv"
    )


def _need_str(path, flag: str, hint: str = "") -> None:
    if not isinstance(path, str):
        raise UsageError(f"{flag} must be a string path, got {path!r}")
    if not path:
        raise UsageError(f"{flag} must not be empty{f' ({hint})' if hint else ''}")


def _existing_ancestor(path: str) -> str:
    """The nearest of ``path`` and its parents that exists (as anything, even a broken link)."""
    p = os.path.abspath(path)
    while not os.path.lexists(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    return p


def check_writable_dir(path: str, name: str) -> None:
    """``path`` is a folder this process can write into, or one it can create. ``name`` starts the message."""
    if os.path.isdir(path):
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"{name} is not writable (allowed: a folder you can write to)")
        return
    if os.path.lexists(path):
        kind = "a broken symbolic link" if not os.path.exists(path) else "a file"
        raise UsageError(f"{name} is {kind}, not a directory")
    top = _existing_ancestor(path)
    if not os.path.isdir(top):
        raise UsageError(f"{name} cannot be created: {top!r} is not a directory")
    if not os.access(top, os.W_OK | os.X_OK):
        raise UsageError(f"{name} cannot be created: {top!r} is not writable")


def check_new_run_dir(run_dir: str | None) -> None:
    """The run dir of a new run: creatable or writable, and holding no files of another run."""
    if run_dir is None:  # the default, runs/<algo>-<env>-s<seed>-<time>, under the current folder
        try:
            check_writable_dir("runs", "the default run dir's folder 'runs'")
        except UsageError as e:
            raise UsageError(f"{e} (choose a run dir with --run-dir)") from None
        return
    _need_str(run_dir, "--run-dir", "a folder for the run")
    check_writable_dir(run_dir, f"--run-dir {run_dir!r}")
    if not os.path.isdir(run_dir):
        return
    if os.path.exists(os.path.join(run_dir, "config.json")):
        if os.path.exists(os.path.join(run_dir, "checkpoints", "latest.pt")):
            raise UsageError(
                f"--run-dir {run_dir!r} already holds a run (resume it with --resume {run_dir}, "
                f"or choose another --run-dir)"
            )
        raise UsageError(
            f"--run-dir {run_dir!r} holds a run that never wrote a checkpoint (delete it or choose another --run-dir)"
        )
    present = [n for n in RUN_FILES if os.path.lexists(os.path.join(run_dir, n))]
    if present:
        raise UsageError(
            f"--run-dir {run_dir!r} already holds {', '.join(present)} but no config.json, so not a "
            f"run that could be resumed (choose a new or empty --run-dir; nothing there is changed)"
        )


def check_resume_dir(resume: str, run_dir: str | None = None) -> None:
    """The run dir given to ``--resume``: a readable, writable asyncrl run with a checkpoint to go on from.
    ``run_dir``: a ``--run-dir`` given with it, which must name the same folder."""
    _need_str(resume, "--resume", "give the run dir of an earlier asyncrl train")
    if not os.path.lexists(resume):
        raise UsageError(f"--resume {resume!r} does not exist (give the run dir of an earlier asyncrl train)")
    if not os.path.isdir(resume):
        raise UsageError(f"--resume {resume!r} is a file, not a run dir (give the run dir of an earlier asyncrl train)")
    if not os.access(resume, os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(
            f"--resume {resume!r} is not readable and writable (a resumed run reads its "
            f"checkpoint there and appends to its logs)"
        )
    cfg_path = os.path.join(resume, "config.json")
    if not os.path.isfile(cfg_path):
        raise UsageError(f"--resume {resume!r}: no config.json there (not an asyncrl run dir)")
    try:
        with open(cfg_path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume {resume!r}: config.json cannot be read ({first_line(e)})") from None
    if not isinstance(saved, dict):
        raise UsageError(f"--resume {resume!r}: config.json does not hold an asyncrl config")
    latest = os.path.join(resume, "checkpoints", "latest.pt")
    if not os.path.isfile(latest):
        raise UsageError(
            f"--resume {resume!r} has no checkpoints/latest.pt: the run never wrote a checkpoint, "
            f"so there is nothing to resume"
        )
    for name in ("checkpoints", "episodes.csv", "metrics.csv", "evals.csv", "tests.csv", "tb"):
        p = os.path.join(resume, name)
        if os.path.exists(p) and not os.access(p, os.R_OK | os.W_OK | (os.X_OK if os.path.isdir(p) else 0)):
            raise UsageError(f"--resume {resume!r}: {name} is not readable and writable")
    if run_dir is not None and os.path.realpath(run_dir) != os.path.realpath(resume):
        raise UsageError(
            f"--run-dir {run_dir!r} does not apply with --resume: the run goes on in {resume!r} (drop --run-dir)"
        )


def check_train_paths(cfg, resume: str | None = None, given: set[str] | None = None) -> None:
    """The paths of ``asyncrl train`` (and the Python API): ``--run-dir`` of a new run, or ``--resume``."""
    if resume is None:
        check_new_run_dir(cfg.run_dir)
    else:
        check_resume_dir(resume, cfg.run_dir if "run_dir" in (given or set()) else None)


def check_checkpoint_arg(path: str) -> None:
    """The run dir or checkpoint of ``asyncrl eval`` and ``record`` exists and can be read."""
    _need_str(path, "the run dir or checkpoint argument", _CHECKPOINT_HINT)
    if path.startswith("pretrained:"):
        return
    if not os.path.lexists(path):
        raise UsageError(f"{path!r} does not exist ({_CHECKPOINT_HINT})")
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f"run dir {path!r} is not readable")
        return
    if not os.path.isfile(path):
        raise UsageError(f"{path!r} is not a file or a directory ({_CHECKPOINT_HINT})")
    if not os.access(path, os.R_OK):
        raise UsageError(f"checkpoint {path!r} is not readable")


def check_output_file(path: str, flag: str, extensions: tuple[str, ...], protect_runs: bool = True) -> None:
    """An output file (``-o``): a file name with one of ``extensions`` in a folder that exists or can be
    created, writable, and (``protect_runs``) not a file of an asyncrl run."""
    allowed = ", ".join(extensions)
    _need_str(path, flag, f"allowed: a file name ending in {allowed}")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path!r} is a directory (allowed: a file name ending in {allowed})")
    ext = os.path.splitext(path)[1].lower()
    if ext not in extensions:
        got = f"extension {ext!r}" if ext else "no extension"
        raise UsageError(f"{flag} {path!r} has {got} (allowed: {allowed})")
    if os.path.lexists(path):
        if not os.path.isfile(path):
            raise UsageError(f"{flag} {path!r} exists and is not a regular file")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {path!r} exists and is not writable")
        folder = os.path.dirname(os.path.abspath(path))
        if protect_runs and os.path.basename(path) in RUN_FILES and os.path.isfile(os.path.join(folder, "config.json")):
            raise UsageError(
                f"{flag} {path!r} would overwrite the {os.path.basename(path)} of the run in "
                f"{folder!r} (choose another file name)"
            )
    folder = os.path.dirname(path) or "."
    check_writable_dir(folder, f"{flag} {path!r}: folder {folder!r}")


def check_plot_run_dirs(run_dirs: list[str]) -> None:
    """Each run dir of ``asyncrl plot`` is a folder with a readable ``episodes.csv``."""
    for d in run_dirs:
        _need_str(d, "a run dir argument", "give run dirs written by asyncrl train")
        if not os.path.lexists(d):
            raise UsageError(f"run dir {d!r} does not exist (give run dirs written by asyncrl train)")
        if not os.path.isdir(d):
            raise UsageError(f"{d!r} is a file, not a run dir (give run dirs written by asyncrl train)")
        path = os.path.join(d, "episodes.csv")
        if not os.access(d, os.R_OK | os.X_OK):
            raise UsageError(f"run dir {d!r} is not readable")
        if not os.path.isfile(path):
            raise UsageError(f"{d!r} has no episodes.csv (not an asyncrl run dir?)")
        if not os.access(path, os.R_OK):
            raise UsageError(f"{path!r} is not readable")


def read_json_object(path: str, flag: str, example: str) -> dict:
    """The JSON object in the file ``path`` that ``flag`` names; a missing, unreadable or malformed file, or one
    that holds something else, raises a one-line :class:`UsageError` (``example``: a valid object, for it)."""
    _need_str(path, flag, "a JSON file")
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{flag} {path!r} does not exist (give a JSON file)") from None
    except IsADirectoryError:
        raise UsageError(f"{flag} {path!r} is a directory (give a JSON file)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{flag} {path!r} cannot be read ({type(e).__name__})") from None
    except ValueError as e:
        raise UsageError(f"{flag} {path!r} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{flag} {path!r} must hold a JSON object, e.g. {example}")
    return data
