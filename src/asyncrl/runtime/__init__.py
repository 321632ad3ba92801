"""Runtimes move data and schedule acting and learning; the algorithm (:mod:`asyncrl.algos`) decides what a
learning step is. Each runtime is one file here that registers a :class:`~asyncrl.runtime.base.Runtime` with its
config section (:mod:`asyncrl.runtime.base`): ``sync`` (one process), ``hogwild`` (worker processes on one shared
model), ``actor-learner`` (actor processes and a learner), ``ray`` (env runners on a Ray cluster). All are
``run(setup)`` with a :class:`~asyncrl.runtime.setup.RunSetup`, and all drive the one loop kernel
(:mod:`asyncrl.runtime.loop`, :mod:`asyncrl.runtime.control`, :mod:`asyncrl.runtime.pool`).

Importing this package registers every runtime module in it (as :mod:`asyncrl.algos` does for algorithms).
"""

import importlib
import pkgutil

_FIRST = ("hogwild", "sync", "actor_learner", "ray_runtime")  # the order help texts list them in
for _name in (*_FIRST, *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _FIRST)):
    importlib.import_module(f"{__name__}.{_name}")
