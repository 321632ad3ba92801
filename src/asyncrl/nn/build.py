"""Build the network a :class:`~asyncrl.nn.spec.ModelSpec` describes (the one place that knows every model kind)."""

from __future__ import annotations

from asyncrl.nn.feudal import FeudalNet
from asyncrl.nn.model import ActorCritic, PolicyNet
from asyncrl.nn.spec import ModelSpec


def make_model(spec: ModelSpec) -> PolicyNet:
    """The network a spec describes: :class:`ActorCritic`, or :class:`~asyncrl.nn.feudal.FeudalNet`."""
    if spec.kind == "feudal":
        return FeudalNet(spec)
    if spec.kind != "actor-critic":
        raise ValueError(f"model kind {spec.kind!r} is not supported (allowed: actor-critic, feudal)")
    return ActorCritic(spec)
