"""Runtimes move data and schedule acting and learning; the algorithm (:mod:`asyncrl.algos`) decides what a
learning step is. ``sync`` (one process), ``hogwild`` (worker processes on one shared model),
``actor_learner`` (actor processes and a learner), ``serial`` (the same components in one process); all are
``run(setup)`` with a :class:`~asyncrl.runtime.setup.RunSetup`."""
