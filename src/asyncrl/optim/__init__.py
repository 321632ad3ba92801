"""Optimizers whose statistics can live in shared memory (Hogwild A3C)."""

from asyncrl.optim.shared import Adam, RMSprop, make_optimizer

__all__ = ["Adam", "RMSprop", "make_optimizer"]
