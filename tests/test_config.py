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

ROOT = Path(__file__).resolve().parent.parent
ENV_OF_KEY = {"discrete": "CartPole-v1", "continuous": "MountainCarContinuous-v0", "atari": "PongNoFrameskip-v4"}
MEANINGFUL_NONE = {"target_return", "max_seconds"}
"""The only settings whose ``None`` means something of its own ("no such stop"), not "the default"."""


def _every_run() -> list[tuple[str, str, str]]:
    """``(algo, env, defaults key)`` for every default row of every registered algorithm."""
    out = []
    for algo in ALGORITHMS.values():
        for key in algo.defaults:
            env = ENV_OF_KEY.get(key, key)
            family = key if key in ENV_OF_KEY else ("continuous" if "Pendulum" in key else "discrete")
            out.append((algo.name, env, family))
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
    # and W&B, and --ray-start-timeout
    assert set(FLAT_FIELDS) == flat and len(flat) == 74
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
