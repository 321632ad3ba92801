"""What an algorithm is to the rest of asyncrl: the :class:`Algorithm` protocol and the registry.

An algorithm is a loss plus a runtime. Each one is an object in its own file under ``algos/`` that
registers itself (:func:`register`) and owns everything about it that is not transport:

- ``runtimes``: the registered runtimes it runs on (:mod:`asyncrl.runtime.base`; the first is its default),
- ``model_options``: the network it trains (:class:`~asyncrl.nn.spec.ModelSpec` fields, ``kind`` among them),
- ``record_logp`` (whether actors record behaviour log-probabilities) and ``metrics`` (its extra
  ``metrics.csv`` columns),
- ``config``: its own section of the config tree (a dataclass of :func:`~asyncrl.core.settings.setting`
  fields with their docstrings, or ``None``): its flags, API keywords and ``config.json`` keys,
- ``fields``: the shared settings only some algorithms read (any other algorithm is refused them; the runtime's
  settings belong to the runtime's section, not here),
- ``defaults``: its tuned values per env family and env id, with the notes that justify them,
- ``discounts``: the discount(s) its rollouts are collected with,
- ``search_space``: what ``asyncrl tune`` searches by default, per action space (``{"discrete"|"continuous":
  {flat name: ("log"|"float"|"int", lo, hi) or ("choice", [values])}}``, :mod:`asyncrl.experiments.space`),
- optionally ``check(cfg)``: its own rules on a resolved config, raising :class:`~asyncrl.errors.UsageError`,
- ``update``: its update rule on one batch (one optimizer step for A2C, PPO's epochs and minibatches for
  APPO), given a ``step`` that turns a loss into one clipped, finite-checked optimizer step
  (:class:`~asyncrl.optim.grads.TrainStep`).

Runtimes (``runtime/``) only move data: they collect rollouts, call ``update`` and publish weights,
and never ask which algorithm they run. Adding an algorithm is one new file here (the package
imports every module in it), plus an API alias and a section in docs/algorithms.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from asyncrl.core.batch import Rollout
from asyncrl.core.sections import RunConfig
from asyncrl.errors import UsageError
from asyncrl.nn.model import PolicyNet

StepFn = Callable[[Tensor], dict[str, float]]
"""``step(loss) -> {"grad_norm", "skipped_updates"}``: one optimizer step on the loss's gradients."""


class Algorithm(Protocol):
    """An algorithm as the runtimes, the config and the CLI see it (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def runtimes(self) -> tuple[str, ...]: ...

    @property
    def record_logp(self) -> bool: ...

    @property
    def metrics(self) -> tuple[str, ...]: ...

    @property
    def config(self) -> type | None:
        """Its own section (``cfg.algo_config`` of a resolved :class:`~asyncrl.core.sections.RunConfig`)."""
        ...

    @property
    def fields(self) -> tuple[str, ...]: ...

    @property
    def defaults(self) -> dict[str, dict[str, Any]]:
        """Tuned settings keyed by env family (``discrete``, ``continuous``, ``atari``) or exact env id;
        the env id's row overrides the family's. A family it has no row for is one it does not support."""
        ...

    @property
    def search_space(self) -> dict[str, dict[str, tuple]]:
        """``asyncrl tune``'s default search space over its settings, per action space (see the module docstring)."""
        ...

    def model_options(self, cfg: RunConfig) -> dict[str, Any]:
        """The :class:`~asyncrl.nn.spec.ModelSpec` settings of its network, from a resolved config."""
        ...

    def discounts(self, cfg: RunConfig) -> float | tuple[float, ...]:
        """The discount(s) rollouts are collected with (one per critic)."""
        ...

    def update(
        self, model: PolicyNet, batch: Rollout, cfg: RunConfig, step: StepFn, generator: torch.Generator
    ) -> dict[str, float]:
        """One update on ``batch`` ``[T + 1, B]`` with the hyperparameters of ``cfg`` (``cfg.loss``,
        ``cfg.algo_config``): its losses, each passed to ``step``; returns statistics
        (``grad_norm`` and ``skipped_updates`` among them). ``generator`` draws any random minibatches."""
        ...


class ActorGradients(Protocol):
    """An algorithm whose actors compute the gradient and the learner only applies it (a3c-ps)."""

    def actor_gradient(
        self, model: PolicyNet, rollout: Rollout, cfg: RunConfig, out: Tensor
    ) -> tuple[bool, dict[str, float]]:
        """Write the rollout's clipped gradient, flattened, into ``out [P]``; returns (finite, statistics)."""
        ...


ALGORITHMS: dict[str, Algorithm] = {}
"""Every registered algorithm by name, in registration order."""


def register(algo: Algorithm) -> Algorithm:
    """Add ``algo`` to :data:`ALGORITHMS` (a name may be registered once)."""
    if algo.name in ALGORITHMS:
        raise ValueError(f"an algorithm named {algo.name!r} is already registered")
    if not algo.runtimes:
        raise ValueError(f"algorithm {algo.name!r}: it must name the runtimes it runs on (asyncrl.runtime.RUNTIMES)")
    ALGORITHMS[algo.name] = algo
    return algo


def get_algorithm(name: str) -> Algorithm:
    """The registered algorithm ``name``; a :class:`UsageError` naming the choices otherwise."""
    if name not in ALGORITHMS:
        raise UsageError(f"--algo {name!r} is not supported (allowed: {', '.join(ALGORITHMS)})")
    return ALGORITHMS[name]


def runtime_of(algo: Algorithm, runtime: str | None) -> str:
    """The runtime a run of ``algo`` uses: ``runtime`` (the config's choice) if given, else the algorithm's first."""
    if runtime is None:
        return algo.runtimes[0]
    if runtime not in algo.runtimes:
        raise UsageError(
            f"--runtime {runtime!r} is not supported by --algo {algo.name} (allowed: {', '.join(algo.runtimes)})"
        )
    return runtime


def actor_critic_options(cfg: RunConfig) -> dict[str, Any]:
    """The actor-critic network's settings (every algorithm but FeUdal)."""
    m = cfg.model
    return dict(
        kind="actor-critic",
        lstm=m.lstm,
        lstm_size=m.lstm_size,
        log_std_init=m.log_std_init,
        bounded_mean=m.bounded_mean,
        sde=m.sde,
        sde_sample_freq=m.sde_sample_freq,
        normalize_obs=m.normalize_obs,
        obs_clip=m.obs_clip,
        normalize_reward=cfg.loss.normalize_reward,
    )


def gradient_actor(algo: Algorithm) -> ActorGradients | None:
    """``algo`` if its actors compute the gradients (its ``actor_gradient`` is set), else ``None``."""
    return algo if getattr(algo, "actor_gradient", None) is not None else None  # type: ignore[return-value]
