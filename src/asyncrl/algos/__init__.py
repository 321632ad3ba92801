"""Algorithms: a loss plus a runtime, each one registered object in its own file (see :mod:`asyncrl.algos.base`).

``a3c`` and ``a2c`` (:mod:`~asyncrl.algos.actor_critic`), ``impala``, ``appo``, ``a3c-ps`` and ``feudal``.
Importing this package imports every module in it, so a new file that calls
:func:`~asyncrl.algos.base.register` is all it takes to add an algorithm.
"""

from __future__ import annotations

import importlib
import pkgutil

from asyncrl.algos.base import ALGORITHMS, Algorithm, get_algorithm, register

_FIRST = ("actor_critic", "impala", "appo", "a3c_ps", "feudal")  # the order help texts list them in
for _name in (*_FIRST, *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _FIRST)):
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["ALGORITHMS", "Algorithm", "get_algorithm", "register"]
