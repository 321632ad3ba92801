"""Optimizers whose statistics can live in shared memory (Hogwild A3C)."""

from asyncrl.optim.shared import Adam, RMSprop, RMSpropTF, make_optimizer

__all__ = ["Adam", "RMSprop", "RMSpropTF", "make_optimizer"]
