"""Environments: env families (Atari, ViZDoom, MiniGrid, any other Gymnasium id; :mod:`asyncrl.envs.base`),
construction, batching and native numpy-batched classic-control envs.

Importing this package registers every family: the modules named below, then any other module here
that calls :func:`~asyncrl.envs.base.register_family`.
"""

from __future__ import annotations

import importlib
import pkgutil

_FAMILIES = ("atari", "doom", "minigrid", "generic")  # the order ids are matched in (generic: the fallback)
_OTHERS = ("base", "make", "vector", "classic")  # no family of their own
for _name in (*_FAMILIES, *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _FAMILIES + _OTHERS)):
    importlib.import_module(f"{__name__}.{_name}")
