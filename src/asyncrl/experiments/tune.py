"""``asyncrl tune``: hyperparameter search with Optuna over ordinary training runs.

A study lives in a folder (``--study DIR``)::

    DIR/tune.json          what is tuned: algorithm, env, budget, objective, space (``--resume`` reads it)
    DIR/study.db           the Optuna study (SQLite), unless ``--storage URL`` names another database
    DIR/trials/trial-NNNN  each trial's run dir, as ``asyncrl train`` writes it
    DIR/logs/trial-NNNN.log
    DIR/trials.csv, DIR/best_trials.md, DIR/best_config.json, DIR/plots/   written at the end

Trials are drawn by TPE (Bergstra et al., 2011) from the algorithm's space (:mod:`asyncrl.experiments.space`);
the first trial is the algorithm's defaults, where they lie in the space, so the study starts from a known
baseline. Each trial is a child ``asyncrl train`` on its share of the cores (:mod:`asyncrl.experiments.jobs`),
evaluated ``--evals`` times; after every evaluation Optuna's median pruner may stop it (once five trials have
finished, and past the first third of the budget). The objective is the mean return of the final evaluation
(maximised) or the env steps to reach ``--target-return`` (minimised; see :func:`steps_value`). A trial that
fails is recorded as failed and the study goes on; Ctrl-C (or SIGTERM) interrupts the running trials cleanly,
records them as failed with the ``interrupted`` mark, and ``--resume`` runs their settings again first.
``--trials`` counts the finished trials and this process's running ones, not those a killed tune process left
(see :func:`_counted`); a trial another tune process failed as stale is stopped, and this one goes on.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from asyncrl import limits as L
from asyncrl.checkpoint import write_atomic
from asyncrl.config import TrainConfig, env_options, flat_view, resolve
from asyncrl.envs.base import family_of
from asyncrl.envs.make import env_spaces
from asyncrl.errors import UsageError, first_line
from asyncrl.experiments.jobs import TerminateAsInterrupt, TrainJob, core_slots, stop_all, train_flags
from asyncrl.experiments.space import Space, build_space, suggest
from asyncrl.train import TrainResult

OBJECTIVES = ("final-eval", "time-to-target")
"""``--objective``: the final evaluation's mean return (maximise), or env steps to ``--target-return`` (minimise)."""
SETTINGS_FILE = "tune.json"
HEARTBEAT_S = 20
"""How often a running trial's heartbeat is written; a trial silent for 6 beats (its tune process was killed, on
any machine sharing the study) is failed by any tune process working on the study, and its settings run again
once (Optuna's ``RetryFailedTrialCallback``)."""


@dataclass
class TuneSettings:
    """What a study tunes and how (``tune.json``); ``trials``, ``jobs`` and ``timeout`` may change on ``--resume``."""

    algo: str
    env: str
    trials: int = 20
    budget_steps: int = 100_000
    evals: int = 5
    eval_episodes: int = 10
    objective: str = "final-eval"
    target_return: float | None = None
    seed: int = 0
    space: dict[str, Any] = field(default_factory=dict)
    storage: str | None = None
    study_name: str = "asyncrl"
    timeout: float | None = None
    jobs: int = 1

    def check(self) -> None:
        L.need_int("--trials", self.trials, 1, 100_000)
        L.need_int("--budget-steps", self.budget_steps, 1, L.MAX_STEPS)
        L.need_int("--evals", self.evals, 1, 1000)
        L.need_int("--eval-episodes", self.eval_episodes, 1, L.MAX_EPISODES)
        L.need_int("--seed", self.seed, 0, L.MAX_SEED)
        if self.budget_steps < self.evals:
            raise UsageError(
                f"--budget-steps {self.budget_steps} is fewer than --evals {self.evals} "
                f"(each evaluation comes after budget/evals env steps)"
            )
        if self.objective not in OBJECTIVES:
            raise UsageError(f"--objective {self.objective!r} is not supported (allowed: {', '.join(OBJECTIVES)})")
        if self.objective == "time-to-target" and self.target_return is None:
            raise UsageError("--objective time-to-target needs --target-return (the mean return to reach)")
        if self.target_return is not None:
            L.need_float("--target-return", self.target_return, what="a finite number")
        if self.timeout is not None:
            L.need_float("--timeout", self.timeout, 0.0, lo_open=True, what="a positive number of seconds")
        if not self.study_name:
            raise UsageError("--study-name must not be empty")

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        return "maximize" if self.objective == "final-eval" else "minimize"

    @property
    def eval_every(self) -> int:
        return max(1, self.budget_steps // self.evals)


def steps_value(env_steps: int, budget: int, mean_return: float, target: float) -> float:
    """The time-to-target objective of a trial: its env steps when it reached ``target`` (``mean_return`` at or
    above it), else the budget plus up to one more budget for its shortfall, ``budget * (1 + gap)`` with
    ``gap = min(1, (target - mean_return) / max(|target|, 1))``: an unsolved trial always scores worse than a
    solved one, and a nearer miss better than a farther one (TPE learns from both)."""
    if mean_return >= target:
        return float(env_steps)
    gap = 1.0 if not math.isfinite(mean_return) else min(1.0, (target - mean_return) / max(abs(target), 1.0))
    return budget * (1.0 + gap)


def default_space(algo: str, env: str) -> dict[str, Any]:
    """The algorithm's search space for the env's kind of actions (``discrete`` or ``continuous``)."""
    import gymnasium as gym

    from asyncrl.algos import get_algorithm

    _, act_space = env_spaces(env, env_options(TrainConfig(algo=algo, env=env)))
    kind = "discrete" if isinstance(act_space, gym.spaces.Discrete) else "continuous"
    spaces = get_algorithm(algo).search_space
    if kind not in spaces:
        raise UsageError(
            f"--algo {algo} has no search space for {kind} actions (--env {env}); it has: {', '.join(spaces)}"
        )
    return {k: list(v) if isinstance(v, tuple) else v for k, v in spaces[kind].items()}


def load_space(settings: TuneSettings) -> Space:
    """The saved space of a study, checked again (as ``build_space`` did when the study was made)."""
    return build_space(settings.algo, settings.env, {}, settings.space, where=SETTINGS_FILE)


def _storage(settings: TuneSettings, study_dir: str) -> Any:
    import optuna

    url = settings.storage or f"sqlite:///{os.path.abspath(os.path.join(study_dir, 'study.db'))}"
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=kwargs,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=6 * HEARTBEAT_S,
            failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=1),
        )
    except ImportError as e:
        raise UsageError(f"--storage {url!r}: its database driver is not installed ({e})") from None
    except Exception as e:  # a malformed URL, an unreachable server
        raise UsageError(
            f"--storage {url!r} cannot be opened ({first_line(e)}; allowed: an SQLAlchemy URL such as "
            f"sqlite:///study.db or postgresql://user@host/db)"
        ) from None


IDENTITY = ("algo", "env", "budget_steps", "evals", "eval_episodes", "objective", "target_return", "space")
"""What makes two tune processes the same study (``tune.json``'s other fields may differ between them)."""


def open_study(settings: TuneSettings, study_dir: str, create: bool) -> tuple[Any, bool]:
    """The study in its storage, and whether this call created it. ``create``: make it, or join it where the
    storage already holds a study of that name with the same algorithm, env, budget, objective and space (another
    machine's ``asyncrl tune`` on a shared database); otherwise load it (``--resume``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=5, multivariate=True)
    # (evaluation k is step k: no pruning up to a third of the budget, nor before five trials have finished)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=settings.evals // 3 + 1)
    storage = _storage(settings, study_dir)
    identity = {k: getattr(settings, k) for k in IDENTITY}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if create:
            try:
                study = optuna.create_study(
                    storage=storage,
                    sampler=sampler,
                    pruner=pruner,
                    study_name=settings.study_name,
                    direction=settings.direction,
                )
                study.set_user_attr("asyncrl", identity)
                return study, True
            except optuna.exceptions.DuplicatedStudyError:
                pass
        try:
            study = optuna.load_study(storage=storage, sampler=sampler, pruner=pruner, study_name=settings.study_name)
        except KeyError:
            raise UsageError(
                f"the study {settings.study_name!r} is not in its storage any more (was the database deleted?)"
            ) from None
    if create:  # joining a study another tune process made
        theirs = study.user_attrs.get("asyncrl") or {}
        differ = [
            k for k in IDENTITY if json.dumps(theirs.get(k), sort_keys=True) != json.dumps(identity[k], sort_keys=True)
        ]
        if differ:
            raise UsageError(
                f"--storage already holds a study named {settings.study_name!r} with other "
                f"{', '.join(differ)} (choose another --study-name, or give the same settings to join "
                f"it)"
            )
        print(
            f"asyncrl tune: joining the study {settings.study_name!r} ({len(study.trials)} trials so far)", flush=True
        )
    return study, False


def new_study(
    study_dir: str, settings: TuneSettings, space_overrides: dict[str, Any] | None, dry_run: bool = False
) -> TuneSettings:
    """Check everything and make the folder: a study ready for :func:`run_tune` (which writes ``tune.json`` once
    the storage holds the study, so a storage that cannot be opened leaves no half-made study behind).
    ``dry_run``: check and resolve the settings and the search space, but make nothing."""
    settings.check()
    if os.path.exists(os.path.join(study_dir, SETTINGS_FILE)):
        raise UsageError(
            f"--study {study_dir!r} already holds a study (continue it with --resume, or choose another --study)"
        )
    space = build_space(settings.algo, settings.env, default_space(settings.algo, settings.env), space_overrides)
    settings.space = with_defaults(space, _defaults_of(settings, space, contained=False)).to_json()
    core_slots(settings.jobs)
    if dry_run:
        return settings
    os.makedirs(study_dir, exist_ok=True)  # (tune.json is written once the storage has the study: run_tune)
    return settings


def read_settings(study_dir: str) -> TuneSettings:
    path = os.path.join(study_dir, SETTINGS_FILE)
    if not os.path.isfile(path):
        raise UsageError(
            f"--study {study_dir!r} holds no study ({SETTINGS_FILE} is missing): start one without --resume"
        )
    try:
        with open(path) as f:
            return TuneSettings(**json.load(f))
    except (OSError, ValueError, TypeError) as e:
        raise UsageError(f"{path!r} cannot be read as a study's settings ({type(e).__name__})") from None


def write_settings(study_dir: str, settings: TuneSettings) -> None:
    """Save ``tune.json`` (atomically: a temp file, then a rename)."""
    write_atomic(os.path.join(study_dir, SETTINGS_FILE), json.dumps(asdict(settings), indent=2))


def resume_settings(study_dir: str, changes: dict[str, Any], dry_run: bool = False) -> TuneSettings:
    """The saved settings with ``changes`` (``trials``, ``jobs``, ``timeout``) applied and saved (``dry_run``:
    checked, not saved)."""
    settings = read_settings(study_dir)
    for k, v in changes.items():
        setattr(settings, k, v)
    settings.check()
    core_slots(settings.jobs)
    if not dry_run:
        write_settings(study_dir, settings)
    return settings


def with_defaults(space: Space, defaults: dict[str, Any]) -> Space:
    """``space`` with each choice parameter's default added to its choices, so the study's first trial (the
    defaults) is the defaults; a range keeps its bounds (a default outside one is drawn instead)."""
    params = dict(space.params)
    for name, p in space.params.items():
        if p.kind == "choice" and name in defaults and defaults[name] not in p.choices:
            choices = (
                sorted((*p.choices, defaults[name]))
                if all(isinstance(v, (int, float)) for v in (*p.choices, defaults[name]))
                else [*p.choices, defaults[name]]
            )
            params[name] = replace(p, choices=tuple(choices))
    return Space(params, space.fixed)


def _defaults_of(settings: TuneSettings, space: Space, contained: bool = True) -> dict[str, Any]:
    """The algorithm's resolved defaults on the env for the space's parameters (``contained``: only those whose
    default lies in the space)."""
    cfg = TrainConfig(algo=settings.algo, env=settings.env, **space.fixed, run_dir=os.devnull)
    _, act_space = env_spaces(settings.env, env_options(cfg))
    values = flat_view(resolve(cfg, family_of(settings.env).defaults_key(settings.env, act_space)))
    return {n: values[n] for n, p in space.params.items() if n in values and (p.contains(values[n]) or not contained)}


class _Running:
    """A trial in progress: its Optuna trial, its job, and whether it is being pruned."""

    def __init__(self, trial: Any, job: TrainJob, slot: int, params: dict[str, Any]):
        self.trial, self.job, self.slot, self.params = trial, job, slot, params
        self.pruned_at: int | None = None
        self.lost = False
        """Another tune process on the study failed the trial as stale (its heartbeat was late): nothing more can
        be recorded for it, and its job is stopped."""
        self.reported: set[int] = set()
        self.last_eval = math.nan
        """The mean of its latest evaluation (``evals.csv``)."""
        self.last_beat = -math.inf  # (the first heartbeat at the first poll)


def run_tune(study_dir: str, settings: TuneSettings, resume: bool = False, poll_s: float = 0.5) -> tuple[Any, bool]:
    """Run trials until the study has ``settings.trials`` (or ``timeout`` seconds passed, or Ctrl-C); returns
    the study and whether it stopped because trial after trial failed. Writes the reports
    (:func:`write_reports`) at the end, interrupted or not."""
    with warnings.catch_warnings():
        # (Optuna marks its heartbeat experimental and expects it under Study.optimize; this loop beats itself)
        warnings.filterwarnings("ignore", message=".*[Hh]eartbeat.*")
        return _run_tune(study_dir, settings, resume, poll_s)


def _run_tune(study_dir: str, settings: TuneSettings, resume: bool, poll_s: float) -> tuple[Any, bool]:
    import optuna
    from optuna.trial import TrialState

    space = load_space(settings)
    study, created = open_study(settings, study_dir, create=not resume)
    if not resume:
        write_settings(study_dir, settings)
    slots = core_slots(settings.jobs)
    _prepare(study, settings, space, created, resume)
    running: dict[int, _Running] = {}
    started = last_stale_check = time.monotonic()
    failures_in_a_row, stop_reason = 0, None
    try:
        with TerminateAsInterrupt():
            while True:
                if (
                    stop_reason is None
                    and settings.timeout is not None
                    and time.monotonic() - started >= settings.timeout
                ):
                    stop_reason = f"time budget of {settings.timeout:g} s reached"
                free = [i for i in range(len(slots)) if i not in running]
                # (counted again each time: a trial another tune process failed as stale counts no more)
                while stop_reason is None and free and _counted(study, running) < settings.trials:
                    slot = free.pop(0)
                    running[slot] = _launch(study, settings, space, study_dir, slot, slots[slot])
                if not running:
                    break
                for slot, r in list(running.items()):
                    done = _advance(study, settings, r)
                    if done is not None:
                        del running[slot]
                        if not r.lost:  # (failed as stale elsewhere: not a failure of its settings)
                            failures_in_a_row = failures_in_a_row + 1 if done == TrialState.FAIL else 0
                        if failures_in_a_row >= settings.jobs + 2 and stop_reason is None:
                            stop_reason = f"the last {failures_in_a_row} trials failed (see {study_dir}/logs); stopped"
                    elif time.monotonic() - r.last_beat >= HEARTBEAT_S:
                        study._storage.record_heartbeat(r.trial._trial_id)
                        r.last_beat = time.monotonic()
                if time.monotonic() - last_stale_check >= HEARTBEAT_S:
                    optuna.storages.fail_stale_trials(study)  # (trials of a tune process that was killed)
                    last_stale_check = time.monotonic()
                time.sleep(poll_s)
    except KeyboardInterrupt:
        _interrupt(study, settings, running)
        write_reports(study, settings, study_dir)
        raise
    except BaseException:  # a failure of the tune process itself: its trials must not run on alone
        stop_all([r.job for r in running.values()], timeout=30.0)
        raise
    print(f"asyncrl tune: stopped ({stop_reason or f'{settings.trials} trials'})", flush=True)
    write_reports(study, settings, study_dir)
    return study, failures_in_a_row >= settings.jobs + 2


def _prepare(study: Any, settings: TuneSettings, space: Space, created: bool, resume: bool) -> None:
    """A new study starts with the defaults as its first trial. A resumed or joined one gets its own sampler seed,
    fails the trials of killed tune processes (once their heartbeat is older than the grace period; Optuna then
    queues their settings once more), and queues the settings of the trials Ctrl-C interrupted."""
    import optuna
    from optuna.trial import TrialState

    if created:
        defaults = _defaults_of(settings, space)
        if defaults:
            study.enqueue_trial(defaults, user_attrs={"source": "defaults"})
        return
    # (not the first session's random draws again)
    seed = settings.seed + len(study.trials) + (0 if resume else os.getpid())
    study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True)
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get("source") for t in trials}
    for t in trials:  # (a finished trial cannot be changed: its rerun is found by its "source")
        if t.state == TrialState.FAIL and t.user_attrs.get("interrupted") and f"rerun of trial {t.number}" not in rerun:
            study.enqueue_trial(t.params, user_attrs={"source": f"rerun of trial {t.number}"})


def _counted(study: Any, running: dict[int, _Running]) -> int:
    """The trials that count toward ``--trials``: the finished ones (complete, pruned, or failed on their own:
    a crash or an error of the trial's run) and this process's running ones. Not counted: the running trials of
    other tune processes (one that was killed leaves its trials running until they are failed as stale, up to
    the grace period later), the trials failed as stale (Optuna queues their settings once more) and those Ctrl-C
    interrupted (``--resume`` runs them again)."""
    from optuna.trial import TrialState

    own = {r.trial._trial_id for r in running.values()}
    n = 0
    for t in study.get_trials(deepcopy=False):
        failed_on_its_own = (
            t.state == TrialState.FAIL and "error" in t.user_attrs and not t.user_attrs.get("interrupted")
        )  # (a tune process records why its trial failed; stale ones: no)
        if t._trial_id in own or t.state in (TrialState.COMPLETE, TrialState.PRUNED) or failed_on_its_own:
            n += 1
    return n


def _interrupt(study: Any, settings: TuneSettings, running: dict[int, _Running]) -> None:
    """Ctrl-C or SIGTERM: stop the running trials cleanly and tell those that were still running as failed with
    the ``interrupted`` mark (``--resume`` runs their settings again)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    print(f"asyncrl tune: interrupted; stopping {len(running)} running trial(s) cleanly", flush=True)
    ended = {slot for slot, r in running.items() if r.job.poll() is not None or r.pruned_at is not None or r.lost}
    stop_all([r.job for r in running.values()])
    storage = study._storage
    for slot, r in running.items():
        if slot in ended:  # it had finished, was being pruned or was failed elsewhere: told as it ended
            _advance(study, settings, r)
            continue
        try:
            storage.set_trial_user_attr(r.trial._trial_id, "interrupted", True)
            storage.set_trial_user_attr(r.trial._trial_id, "error", "interrupted by Ctrl-C or SIGTERM")
        except UpdateFinishedTrialError:  # failed as stale by another tune process meanwhile: nothing to mark
            continue
        study.tell(r.trial, state=TrialState.FAIL, skip_if_finished=True)


def _launch(study: Any, settings: TuneSettings, space: Space, study_dir: str, slot: int, cpus: set[int]) -> _Running:
    trial = study.ask()
    study._storage.record_heartbeat(trial._trial_id)  # (so a trial of a process killed now is found stale)
    try:
        return _start_trial(study, trial, settings, space, study_dir, slot, cpus)
    except BaseException as e:
        from optuna.trial import TrialState

        trial.set_user_attr("error", f"could not start: {type(e).__name__}: {e}"[:500])
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise


def _start_trial(
    study: Any, trial: Any, settings: TuneSettings, space: Space, study_dir: str, slot: int, cpus: set[int]
) -> _Running:
    params = suggest(space, trial)
    name = f"trial-{trial.number:04d}"
    run_dir = os.path.join(study_dir, "trials", name)
    run: dict[str, Any] = {
        "algo": settings.algo,
        "env": settings.env,
        **params,
        "seed": settings.seed + trial.number,
        "total_steps": settings.budget_steps,
        "eval_every": settings.eval_every,
        "eval_episodes": settings.eval_episodes,
    }
    if settings.objective == "time-to-target":
        run["target_return"] = settings.target_return
    trial.set_user_attr("run_dir", os.path.relpath(run_dir, study_dir))
    trial.set_user_attr("seed", run["seed"])
    job = TrainJob.start(
        train_flags(run),
        run_dir,
        os.path.join(study_dir, "logs", f"{name}.log"),
        cpus,
        group=f"tune-{settings.study_name}",
    )
    return _Running(trial, job, slot, params)


def _advance(study: Any, settings: TuneSettings, r: _Running) -> Any:
    """Report ``r``'s new evaluations (pruning it if Optuna says so); when its process has ended, tell the
    study how the trial ended and return that state (``None`` while it runs). A trial another tune process
    failed as stale (:attr:`_Running.lost`) is stopped and ends failed; this process goes on."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    for row in r.job.new_evals():
        r.last_eval = row["mean"]
        step = int(round(row["env_steps"] / settings.eval_every))
        if r.pruned_at is not None or r.lost or step in r.reported:
            continue
        r.reported.add(step)
        reported = (
            row["mean"]
            if settings.target_return is None or settings.objective == "final-eval"
            else steps_value(int(row["env_steps"]), settings.budget_steps, row["mean"], settings.target_return)
        )
        try:
            r.trial.report(reported, step)
        except UpdateFinishedTrialError:  # (its result cannot be recorded any more: stop it)
            r.lost = True
            r.job.interrupt()
            continue
        if step < settings.evals and r.trial.should_prune():  # (at the last evaluation the trial has its value)
            r.pruned_at = int(row["env_steps"])
            r.job.interrupt()
    code = r.job.poll()
    if code is None:
        return None
    if not r.lost:
        try:
            return _tell_end(study, settings, r, code)
        except UpdateFinishedTrialError:  # failed as stale since its last evaluation
            r.lost = True
    print(
        f"trial {r.trial.number}: failed as stale by another tune process on the study (its heartbeat was late); "
        f"its result is not recorded",
        flush=True,
    )
    return TrialState.FAIL


def _tell_end(study: Any, settings: TuneSettings, r: _Running, code: int) -> Any:
    """Tell the study how ``r``'s trial ended (its process exited with ``code``) and return that state; raises
    Optuna's ``UpdateFinishedTrialError`` if another tune process failed the trial first."""
    from optuna.trial import TrialState

    result = TrainResult.read(r.job.run_dir)
    seconds = r.job.seconds()
    r.trial.set_user_attr("seconds", round(seconds, 1))
    if r.pruned_at is not None:
        _tell(study, r.trial, TrialState.PRUNED)
        print(f"trial {r.trial.number}: pruned at {r.pruned_at:,} env steps ({seconds:.0f} s)", flush=True)
        return TrialState.PRUNED
    value = None if result is None else _objective(settings, result, r.last_eval)
    if result is not None and settings.objective == "final-eval" and not math.isfinite(result.final_eval):
        r.trial.set_user_attr("scored_on", "its last periodic evaluation (the final one did not run)")
    if code != 0 or value is None or result is None:
        why = r.job.tail() or f"exit code {code}"
        r.trial.set_user_attr("error", why[-500:])
        _tell(study, r.trial, TrialState.FAIL)
        print(f"trial {r.trial.number}: failed ({why.splitlines()[-1][:200]}; log: {r.job.log_path})", flush=True)
        return TrialState.FAIL
    r.trial.set_user_attr("env_steps", result.env_steps)
    _tell(study, r.trial, TrialState.COMPLETE, value)
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in r.params.items())
    print(f"trial {r.trial.number}: {value:,.2f} ({shown}; {seconds:.0f} s)", flush=True)
    return TrialState.COMPLETE


def _tell(study: Any, trial: Any, state: Any, value: float | None = None) -> None:
    """``study.tell``, raising Optuna's ``UpdateFinishedTrialError`` (as a report would) where the trial was
    finished already (by another tune process, as stale)."""
    from optuna.exceptions import UpdateFinishedTrialError

    told = study.tell(trial, value, state=state, skip_if_finished=True)
    if told.state != state:
        raise UpdateFinishedTrialError(f"trial {told.number} was finished already ({told.state.name})")


def _objective(settings: TuneSettings, result: TrainResult, last_eval: float = math.nan) -> float | None:
    """The trial's value from its ``result.json`` (``None``: nothing to score, e.g. no evaluation ran). Without a
    final evaluation (the evaluator was still busy at the end), the last periodic one, ``last_eval``, stands in."""
    if result.interrupted:
        return None
    final = result.final_eval if math.isfinite(result.final_eval) else last_eval
    if settings.objective == "final-eval":
        return final if math.isfinite(final) else None
    target = settings.target_return
    assert target is not None
    reached = result.stop_reason.startswith("target return")
    return steps_value(result.env_steps, settings.budget_steps, target if reached else result.mean_return_100, target)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ---- reports ------------------------------------------------------------------------------------------------


def best_trials(study: Any, n: int = 5) -> list[Any]:
    """The ``n`` best finished trials, best first."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    return sorted(done, key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")[:n]


def best_config(study: Any, settings: TuneSettings, study_dir: str) -> dict[str, Any] | None:
    """The best trial's settings as ``asyncrl train --config`` reads them, with its worker count (``None`` before a
    trial finished)."""
    best = best_trials(study, 1)
    if not best:
        return None
    space = load_space(settings)
    config = {
        "algo": settings.algo,
        "env": settings.env,
        **space.fixed,
        **best[0].params,
        "total_steps": settings.budget_steps,
    }
    try:  # the trial's worker count (its share of the cores), so the file trains what scored
        with open(os.path.join(study_dir, best[0].user_attrs["run_dir"], "config.json")) as f:
            config["workers"] = json.load(f)["workers"]
    except (OSError, ValueError, KeyError):
        pass
    return config


def best_table(study: Any, settings: TuneSettings, n: int = 5) -> str:
    """The ``n`` best trials as a Markdown table."""
    rows = best_trials(study, n)
    names = list(load_space(settings).params)
    what = "final eval (mean)" if settings.objective == "final-eval" else "env steps to target (lower is better)"
    head = ["trial", what, *names, "seconds", "run dir"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in rows:
        cells = [
            str(t.number),
            f"{t.value:,.2f}",
            *(_fmt(t.params.get(k, "")) for k in names),
            str(t.user_attrs.get("seconds", "")),
            str(t.user_attrs.get("run_dir", "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_reports(study: Any, settings: TuneSettings, study_dir: str) -> None:
    """``trials.csv``, ``best_trials.md``, ``best_config.json`` and the plots; prints the table of the best."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    names = list(load_space(settings).params)
    with open(os.path.join(study_dir, "trials.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["number", "state", "value", *names, "seed", "seconds", "run_dir", "error"])
        for t in trials:
            error = (str(t.user_attrs.get("error", "")).splitlines() or [""])[-1]
            w.writerow(
                [
                    t.number,
                    t.state.name.lower(),
                    "" if t.value is None else t.value,
                    *(t.params.get(k, "") for k in names),
                    t.user_attrs.get("seed", ""),
                    t.user_attrs.get("seconds", ""),
                    t.user_attrs.get("run_dir", ""),
                    error,
                ]
            )
    counts = {s.name.lower(): sum(1 for t in trials if t.state == s) for s in TrialState}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    table = best_table(study, settings)
    with open(os.path.join(study_dir, "best_trials.md"), "w") as f:
        f.write(f"# {settings.algo} on {settings.env}: {summary}\n\n{table}")
    config = best_config(study, settings, study_dir)
    print(f"\n{settings.algo} on {settings.env}, {summary}; best trials:\n{table}")
    if config is not None:
        path = os.path.join(study_dir, "best_config.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        print(f"best config: {path} (asyncrl train --config {path})")
    write_plots(study, os.path.join(study_dir, "plots"))


def write_plots(study: Any, folder: str) -> list[str]:
    """Optuna's optimisation history and parameter importances as PNG (matplotlib) and HTML (plotly, if
    installed, beside one copy of plotly.min.js, so they open offline); a plot that needs more finished trials
    than there are is left out. Returns the files written."""
    import optuna
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        return []
    os.makedirs(folder, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    plots = {
        "history": "plot_optimization_history",
        "importances": "plot_param_importances",
        "intermediate": "plot_intermediate_values",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in plots.items():
            if name == "importances" and len(complete) < 2:
                continue
            try:
                ax = getattr(optuna.visualization.matplotlib, fn)(study)
                fig = (ax[0] if hasattr(ax, "__len__") else ax).figure
                fig.set_size_inches(8, 5)
                fig.tight_layout()
                path = os.path.join(folder, f"{name}.png")
                fig.savefig(path, dpi=100)
                plt.close(fig)
                written.append(path)
            except Exception as e:  # e.g. importances over parameters that never varied
                print(f"warning: plots/{name}.png not written ({type(e).__name__}: {str(e)[:120]})")
            try:
                import plotly  # noqa: F401
            except ImportError:
                continue
            try:
                path = os.path.join(folder, f"{name}.html")
                getattr(optuna.visualization, fn)(study).write_html(path, include_plotlyjs="directory")
                written.append(path)
            except Exception as e:
                print(f"warning: plots/{name}.html not written ({type(e).__name__}: {str(e)[:120]})")
    return written


__all__ = [
    "TuneSettings",
    "OBJECTIVES",
    "new_study",
    "resume_settings",
    "run_tune",
    "write_reports",
    "best_config",
    "best_table",
    "steps_value",
]
