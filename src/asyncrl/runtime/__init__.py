"""Runtimes schedule acting and learning: ``sync`` (A2C, one process) and ``hogwild`` (A3C)."""
