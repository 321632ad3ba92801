"""The config tree: every section checked where it is defined, nothing left to a default once resolved, the
flat view (flags, API keywords, config.json) generated from the sections, and the docs' flag table with it."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from pathlib import Path

import pytest

from asyncrl.algos import ALGORITHMS
from asyncrl.algos.appo import APPOConfig
from asyncrl.algos.feudal import FeudalConfig
from asyncrl.algos.impala import VTraceConfig
from asyncrl.config import (
    FLAT_FIELDS,
    RESUME_OVERRIDABLE,
    TrainConfig,
    config_json,
    flag_table,
    flat_view,
    read_config_file,
    resolve,
    tree_from_flat,
)
from asyncrl.core.sections import SECTIONS, LossConfig, RunConfig
from asyncrl.core.settings import NoSettings, check_section, flat_name
from asyncrl.envs.atari import AtariOptions
from asyncrl.errors import UsageError
from asyncrl.runtime.actor_learner import ActorLearnerConfig
from asyncrl.runtime.base import RUNTIMES

from conftest import one_line_error, row_family

ROOT = Path(__file__).resolve().parent.parent
ENV_OF_KEY = {"discrete": "CartPole-v1", "continuous": "UserContinuousEnv-v0", "atari": "PongNoFrameskip-v4"}
"""An env of each family key: the continuous one is an id with no row of its own, so the family row applies."""
MEANINGFUL_NONE = {"target_return", "max_seconds"}
"""The only settings whose ``None`` means something of its own ("no such stop"), not "the default"."""


def _every_run() -> list[tuple[str, str, str]]:
    """``(algo, env, defaults key)`` for every default row of every registered algorithm."""
    out = []
    for algo in ALGORITHMS.values():
        for key in algo.defaults:
            out.append((algo.name, ENV_OF_KEY.get(key, key), row_family(key)))
    return out


@pytest.mark.parametrize("algo, env, key", _every_run())
def test_a_resolved_config_leaves_nothing_to_a_default(algo, env, key):
    cfg = resolve(TrainConfig(algo=algo, env=env, run_dir="unused"), key)
    assert isinstance(cfg, RunConfig)
    for section in cfg.sections():
        for f in fields(section):
            if getattr(section, f.name) is None:
                assert f.name in MEANINGFUL_NONE, f"{algo} on {env}: {type(section).__name__}.{f.name} is None"
    assert cfg.runtime.kind in ALGORITHMS[algo].runtimes
    own = ALGORITHMS[algo].config
    assert type(cfg.algo_config) is (own or NoSettings)
    assert isinstance(cfg.env_config, AtariOptions if key == "atari" else NoSettings)
    # The flat form (config.json) rebuilds the same tree.
    assert tree_from_flat(json.loads(json.dumps(flat_view(cfg)))) == cfg


def test_the_algorithm_rows_and_the_users_values_override_the_section_defaults():
    default = resolve(TrainConfig(algo="impala", run_dir="unused"), "discrete")
    assert default.optim.optimizer_eps == 5e-3 and default.rollout.num_envs == 64  # impala's CartPole row
    assert default.loss.gamma == LossConfig().gamma and default.algo_config == VTraceConfig()  # section defaults
    given = resolve(TrainConfig(algo="impala", run_dir="unused", optimizer_eps=1e-4, rho_bar=0.5), "discrete")
    assert given.optim.optimizer_eps == 1e-4 and given.algo_config.rho_bar == 0.5
    feudal = resolve(TrainConfig(algo="feudal", horizon=5, run_dir="unused"), "discrete")
    assert feudal.algo_config == FeudalConfig(horizon=5)  # the paper's values, one changed
    v5 = resolve(TrainConfig(algo="a2c", env="ALE/Pong-v5", run_dir="unused"), "atari")
    assert v5.env_config.sticky_actions == 0.25  # the id's own default, filled by the Atari family


@pytest.mark.parametrize("algo", ["a2c", "a3c", "appo"])
def test_pendulum_s_rows_bound_the_gaussian_mean_and_other_continuous_envs_do_not(algo):
    assert resolve(TrainConfig(algo=algo, env="Pendulum-v1", run_dir="unused"), "continuous").model.bounded_mean
    other = resolve(TrainConfig(algo=algo, env="MountainCarContinuous-v0", run_dir="unused"), "continuous")
    assert not other.model.bounded_mean
    given = resolve(TrainConfig(algo=algo, env="Pendulum-v1", bounded_mean=False, run_dir="unused"), "continuous")
    assert not given.model.bounded_mean  # (the user's value over the row)


@pytest.mark.parametrize("algo", ["a2c", "a3c", "appo"])
def test_pendulum_s_rows_explore_with_gsde_redrawn_every_step_and_no_sde_turns_it_off(algo):
    """The A2C, A3C and APPO Pendulum rows set gSDE with its noise drawn every step (BENCHMARKS.md, Pendulum's
    holding criterion); `--no-sde` over a row drops the row's frequency with it, while a user's own
    `--sde-sample-freq` without `--sde` is kept for train's one-line error."""
    row = resolve(TrainConfig(algo=algo, env="Pendulum-v1", run_dir="u"), "continuous").model
    assert (row.sde, row.sde_sample_freq, row.log_std_init) == (True, 1, 0.0)
    off = resolve(TrainConfig(algo=algo, env="Pendulum-v1", sde=False, run_dir="u"), "continuous").model
    assert (off.sde, off.sde_sample_freq, off.log_std_init) == (False, 0, 0.0)
    other = resolve(TrainConfig(algo=algo, env="BipedalWalker-v3", run_dir="u"), "continuous").model
    assert not other.sde
    mine = resolve(TrainConfig(algo=algo, env="Pendulum-v1", sde=False, sde_sample_freq=4, run_dir="u"), "continuous")
    assert (mine.model.sde, mine.model.sde_sample_freq) == (False, 4)  # kept, for train's one-line error


def test_an_env_row_applies_to_its_algorithm_and_env_id_only(monkeypatch):
    """APPO's LunarLander-v3 row (found by `asyncrl tune`) sets its epochs, targets and discount there; the same
    algorithm on another discrete env, and another algorithm on LunarLander-v3, keep their family rows."""
    from asyncrl import limits

    monkeypatch.setattr(limits, "usable_cores", lambda: 16)
    tuned = resolve(TrainConfig(algo="appo", env="LunarLander-v3", run_dir="u"), "discrete")
    assert (tuned.algo_config.epochs, tuned.algo_config.targets, tuned.loss.gamma) == (10, "gae", 0.995)
    assert tuned.runtime.workers == 1  # (tuned with one actor: pinned, not one per core)
    generic = resolve(TrainConfig(algo="appo", env="Acrobot-v1", run_dir="u"), "discrete")
    assert (generic.algo_config.epochs, generic.algo_config.targets, generic.loss.gamma) == (2, "vtrace", 0.99)
    assert generic.runtime.workers == 15
    other = resolve(TrainConfig(algo="impala", env="LunarLander-v3", run_dir="u"), "discrete")
    assert other.loss.gamma == 0.99 and other.optim.lr == ALGORITHMS["impala"].defaults["discrete"]["lr"]
    given = resolve(TrainConfig(algo="appo", env="LunarLander-v3", epochs=3, workers=2, run_dir="u"), "discrete")
    assert given.algo_config.epochs == 3 and given.runtime.workers == 2  # (the user's values over the row)
    # BipedalWalker-v3 (a Box2D env) takes APPO's MuJoCo row over its own budget; A2C keeps its continuous row.
    walker = resolve(TrainConfig(algo="appo", env="BipedalWalker-v3", run_dir="u"), "continuous")
    assert (walker.algo_config.epochs, walker.model.normalize_obs, walker.run.total_steps) == (10, True, 5_000_000)
    assert not resolve(TrainConfig(algo="a2c", env="BipedalWalker-v3", run_dir="u"), "continuous").model.normalize_obs
    # Ant-v5 bounds APPO's Gaussian mean; the other MuJoCo envs and A2C on Ant keep the family's unbounded one.
    assert resolve(TrainConfig(algo="appo", env="Ant-v5", run_dir="u"), "mujoco").model.bounded_mean
    assert not resolve(TrainConfig(algo="appo", env="Hopper-v5", run_dir="u"), "mujoco").model.bounded_mean
    assert not resolve(TrainConfig(algo="a2c", env="Ant-v5", run_dir="u"), "mujoco").model.bounded_mean
    # MountainCarContinuous-v0: A2C's own row and APPO's MountainCar row; A3C keeps the continuous family row.
    mcc = resolve(TrainConfig(algo="a2c", env="MountainCarContinuous-v0", run_dir="u"), "continuous")
    assert (mcc.rollout.num_envs, mcc.rollout.n_steps, mcc.model.normalize_obs, mcc.model.sde) == (4, 100, True, False)
    car = resolve(TrainConfig(algo="appo", env="MountainCarContinuous-v0", run_dir="u"), "continuous")
    assert (car.algo_config.epochs, car.loss.gae_lambda, car.run.total_steps) == (4, 0.98, 100_000)
    a3c = resolve(TrainConfig(algo="a3c", env="MountainCarContinuous-v0", run_dir="u"), "continuous")
    assert not a3c.model.normalize_obs and a3c.rollout.n_steps == 5


def test_a_row_found_by_tune_keeps_the_worker_count_it_was_tuned_with(monkeypatch):
    """IMPALA's Pendulum-v1 row was tuned with one actor (`asyncrl tune --jobs 1` on 2 cores): on a 16-core
    machine it still gets one, while rows that pin nothing follow the cores; ``--workers`` overrides the row."""
    from asyncrl import limits

    monkeypatch.setattr(limits, "usable_cores", lambda: 16)
    assert ALGORITHMS["impala"].defaults["Pendulum-v1"]["workers"] == 1
    assert resolve(TrainConfig(algo="impala", env="Pendulum-v1", run_dir="u"), "continuous").runtime.workers == 1
    given = resolve(TrainConfig(algo="impala", env="Pendulum-v1", workers=6, run_dir="u"), "continuous")
    assert given.runtime.workers == 6
    assert resolve(TrainConfig(algo="appo", env="Pendulum-v1", run_dir="u"), "continuous").runtime.workers == 15
    assert (
        resolve(TrainConfig(algo="impala", env="MountainCarContinuous-v0", run_dir="u"), "continuous").runtime.workers
        == 15
    )  # (the generic row: one actor per core but the learner's)


@pytest.mark.parametrize(
    "section, bad, needle",
    [
        (LossConfig, dict(gamma=1.5), "--gamma must be in [0, 1], got 1.5"),
        (LossConfig, dict(reward_scale=0.0), "--reward-scale must be a finite positive number"),
        (APPOConfig, dict(targets="td"), "--targets 'td' is not supported (allowed: vtrace, gae)"),
        (FeudalConfig, dict(dilation=0), "--dilation must be a positive integer"),
        (AtariOptions, dict(sticky_actions=2.0), "--sticky-actions must be a probability in [0, 1]"),
    ],
)
def test_each_section_checks_its_own_settings(section, bad, needle):
    check_section(section())  # its defaults keep its rules
    with pytest.raises(UsageError, match=re.escape(needle)):
        check_section(section(**bad))


def test_the_runtime_section_checks_the_device_and_the_tree_checks_across_sections():
    base = dict(kind="actor-learner", workers=2, start_method="fork")
    with pytest.raises(UsageError, match="--device 'tpu' is not supported"):
        check_section(ActorLearnerConfig(**base, device="tpu"))
    with pytest.raises(UsageError, match="--batch-rollouts 5 is more than the 4 slots"):
        resolve(TrainConfig(algo="impala", workers=2, slots_per_actor=2, batch_rollouts=5, run_dir="u"), "discrete")
    with pytest.raises(UsageError, match="--horizon 50 is longer than --n-steps 40"):
        resolve(TrainConfig(algo="feudal", horizon=50, run_dir="u"), "discrete")


def test_the_slots_default_to_two_batches_so_actors_fill_one_while_the_learner_learns_from_the_other():
    def slots(**given):
        family = "mujoco" if given["env"] == "Ant-v5" else "continuous"
        return resolve(TrainConfig(run_dir="u", **given), family).runtime.slots_per_actor

    # APPO's MuJoCo row takes 2 rollouts a batch: with its one actor on 2 cores, 2 slots would make acting and
    # learning take turns.
    assert resolve(TrainConfig(algo="appo", env="Ant-v5", workers=1, run_dir="u"), "mujoco").runtime.batch_rollouts == 2
    assert slots(algo="appo", env="Ant-v5", workers=1) == 4
    assert slots(algo="appo", env="Ant-v5", workers=2) == 2  # (2 actors: one fills while the other's batch is learnt)
    assert slots(algo="impala", env="Pendulum-v1", workers=1, batch_rollouts=3) == 6
    assert slots(algo="impala", env="Pendulum-v1", workers=4, batch_rollouts=3) == 2  # never under 2
    assert slots(algo="appo", env="Ant-v5", workers=1, slots_per_actor=3) == 3  # a user's own count is kept
    # Walker2d-v5's row keeps the 2 slots (acting and learning in turns), with which it scored higher.
    walker = resolve(TrainConfig(algo="appo", env="Walker2d-v5", workers=1, run_dir="u"), "mujoco").runtime
    assert (walker.batch_rollouts, walker.slots_per_actor) == (2, 2)
    # A batch bigger than the default 2 slots of one actor is no longer refused: its slots are derived for it.
    assert slots(algo="impala", env="Pendulum-v1", workers=1, batch_rollouts=5) == 10
    # The runtimes without slots get none.
    a2c = resolve(TrainConfig(algo="a2c", env="Pendulum-v1", run_dir="u"), "continuous")
    assert not hasattr(a2c.runtime, "slots_per_actor")


def test_the_flat_view_is_generated_from_the_sections_one_name_each():
    owners: dict[str, list] = {}
    classes = [
        *SECTIONS.values(),
        *(r.config for r in RUNTIMES.values()),
        *(a.config for a in ALGORITHMS.values() if a.config),
        AtariOptions,
    ]
    for cls in classes:
        for f in fields(cls):
            owners.setdefault(flat_name(f), []).append(f)
    flat = {f.name for f in fields(TrainConfig)}
    assert flat - {"algo", "env"} <= set(owners)  # every flag is a section's field
    for name, fs in owners.items():
        if name in flat:  # a name shared by two sections (rho_bar) has one type and one rule
            assert len({(str(f.type), tuple(sorted(f.metadata.items()))) for f in fs}) == 1, name
    # the 64 settings of before the tree, --ray-address, the four normalisation settings, the four of videos
    # and W&B, --ray-start-timeout, FeUdal's --intrinsic-gate, --bounded-mean, and gSDE's --sde and
    # --sde-sample-freq
    assert set(FLAT_FIELDS) == flat and len(flat) == 78
    assert {
        "total_steps",
        "workers",
        "eval_every",
        "atari_eval",
        "max_policy_lag",
        "capture_video",
        "wandb",
    } <= RESUME_OVERRIDABLE
    assert not {"lr", "n_steps", "rho_bar"} & RESUME_OVERRIDABLE


def test_docs_flag_table_is_the_generated_one():
    page = (ROOT / "docs" / "configuration.md").read_text()
    m = re.search(r"<!-- flags:begin -->\n(.*?)<!-- flags:end -->", page, re.S)
    assert m, "docs/configuration.md lost its generated flag table markers"
    assert m.group(1) == flag_table(), "regenerate it: python scripts/flag_table.py"


@pytest.mark.parametrize("algo, runtime", [(a.name, r) for a in ALGORITHMS.values() for r in a.runtimes])
def test_a_runs_config_json_is_a_config_file_that_gives_the_same_run(algo, runtime, tmp_path):
    # `asyncrl train --config RUN/config.json` (documented) must reproduce the run: every key of the file applies
    # to its algorithm and runtime (before, shared settings another algorithm or runtime owned were refused).
    from asyncrl.train import prepare_config

    run = resolve(TrainConfig(algo=algo, runtime=runtime, run_dir=str(tmp_path / "a")), "discrete")
    path = tmp_path / "config.json"
    path.write_text(config_json(run))
    settings = read_config_file(str(path))
    settings.pop("run_dir")
    again, _, _ = prepare_config(TrainConfig(**settings, run_dir=str(tmp_path / "b")), given=set(settings))
    assert replace(again, run=replace(again.run, run_dir=run.run.run_dir)) == run


@pytest.mark.parametrize("algo, runtime", [(a.name, r) for a in ALGORITHMS.values() for r in a.runtimes])
def test_a_runs_config_json_trains_every_other_algorithm_leaving_out_what_does_not_apply(algo, runtime, tmp_path):
    # Another algorithm (on its default runtime) from a run's config.json: the file's settings that apply to it are
    # kept, the others are left out with one notice line naming them, none is refused.
    from asyncrl.cli import main
    from asyncrl.config import not_applicable

    run = resolve(TrainConfig(algo=algo, runtime=runtime, run_dir=str(tmp_path / "a")), "discrete")
    path = tmp_path / "config.json"
    path.write_text(config_json(run))
    saved = json.loads(path.read_text())
    for other in ALGORITHMS:
        rc, out, notice = _dry_run(main, ["--config", str(path), "--algo", other], check=False)
        if rc != 0:  # a kept setting that conflicts with the other algorithm's (A3C's 5-step rollouts, FeUdal's
            # 10-step horizon) gets its one line; what does not apply is never refused
            assert rc == 2 and "does not apply" not in notice and notice.count("asyncrl: error:") == 1, notice
            continue
        got = json.loads(out)
        default_runtime = ALGORITHMS[other].runtimes[0]
        rt = saved["runtime"] if saved["runtime"] in ALGORITHMS[other].runtimes else default_runtime
        expect_left = [
            k
            for k in saved
            if k not in ("algo", "env", "run_dir", "runtime") and not_applicable(k, other, "CartPole-v1", rt)
        ] + (["runtime"] if rt != saved["runtime"] else [])
        kept = {k: v for k, v in saved.items() if k not in (*expect_left, "algo", "run_dir")}
        assert {k: got[k] for k in kept} == kept and got["algo"] == other, (algo, runtime, other)
        if expect_left:
            assert f"left out {', '.join(sorted(expect_left))}" in _sorted_notice(notice), (other, notice)
        else:
            assert "left out" not in notice


def _dry_run(main, args: list[str], check: bool = True) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["train", *args, "--dry-run"])
    assert rc == 0 or not check, err.getvalue()
    return rc, out.getvalue(), err.getvalue()


def _sorted_notice(notice: str) -> str:
    """The notice line with its list of names sorted (the check above compares sets)."""
    m = re.search(r"left out ([a-z_, ]+) \(", notice)
    assert m, notice
    return notice.replace(m.group(1), ", ".join(sorted(m.group(1).split(", "))))


def test_a_pong_runs_config_json_trains_again_without_the_mlp_settings_it_holds(tmp_path):
    # A run's config.json holds --hidden and --activation whatever its torso; with a CNN they are left out, named.
    pytest.importorskip("ale_py", reason="the atari extra (ale-py) is not installed")
    from asyncrl.cli import main

    _, out, _ = _dry_run(main, ["--algo", "appo", "--env", "PongNoFrameskip-v4"])
    path = tmp_path / "config.json"
    path.write_text(out)
    _, again, notice = _dry_run(main, ["--config", str(path)])
    saved, got = json.loads(out), json.loads(again)
    assert {k: v for k, v in got.items() if k != "run_dir"} == {k: v for k, v in saved.items() if k != "run_dir"}
    assert "left out hidden, activation (they do not apply to --algo appo on --env PongNoFrameskip-v4)" in notice


def test_the_flag_tables_for_column_is_what_the_refusals_say(capsys):
    # Every flag's "for" column (algorithms, runtimes, an env family, or all) against not_applicable, the rule the
    # CLI and the API refuse by, for every algorithm on each of its runtimes; and one real refusal per limited flag.
    from asyncrl.config import FAMILY_NAMES, not_applicable
    from asyncrl.core.settings import flag_of

    envs = {"all": "CartPole-v1", FAMILY_NAMES["atari"]: "PongNoFrameskip-v4"}
    rows = re.findall(r"^\| `(--[a-z0-9-]+)[^|]*\| .*? \| ([^|]+) \|$", flag_table(), re.M)
    assert len(rows) == len(FLAT_FIELDS)
    names = {flag_of(n): n for n in FLAT_FIELDS}
    for flag, applies in rows:
        name, applies = names[flag], applies.strip()
        for algo in ALGORITHMS.values():
            for runtime in algo.runtimes:
                if applies.startswith("--runtime "):
                    expect = runtime in applies[len("--runtime ") :].split(", ")
                elif applies in envs or applies == "algorithm and env":
                    expect = True
                else:
                    expect = algo.name in applies.split(", ")
                env = envs.get(applies, "CartPole-v1")
                assert (not_applicable(name, algo.name, env, runtime) is None) == expect, (flag, algo.name, runtime)
        if applies.startswith("--runtime ") or applies not in (*envs, "algorithm and env"):
            refused = next(
                (a.name, r)
                for a in ALGORITHMS.values()
                for r in a.runtimes
                if not_applicable(name, a.name, "CartPole-v1", r) is not None
            )
            argv = ["train", "--algo", refused[0], "--runtime", refused[1], flag, "1", "--dry-run"]
            assert "does not apply" in one_line_error(capsys, argv), flag
    line = one_line_error(capsys, ["train", "--env", "CartPole-v1", "--noop-max", "3", "--dry-run"])
    assert "--noop-max applies to Atari games only" in line
