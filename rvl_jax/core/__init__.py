"""Shared pieces every system uses: train state, loop, sharding, checkpoints, I/O, validation."""

from rvl_jax.core import (
  batched,
  checkpoint,
  cost,
  io,
  metrics,
  nets,
  prng,
  progress,
  sharding,
  train_state,
  validation,
)
from rvl_jax.core.train_state import TrainState

__all__ = [
  "batched",
  "checkpoint",
  "cost",
  "io",
  "metrics",
  "nets",
  "prng",
  "progress",
  "sharding",
  "train_state",
  "validation",
  "TrainState",
]
