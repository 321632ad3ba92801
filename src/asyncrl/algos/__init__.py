"""Algorithms: a loss plus a runtime. ``a3c`` = actor-critic loss on the Hogwild runtime,
``a2c`` = the same loss on the synchronous runtime."""
