"""Environments: construction, batching and native numpy-batched classic-control envs."""
