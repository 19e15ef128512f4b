"""Shared pieces every system uses: train state, loop, sharding, checkpoints, I/O, validation."""

from rvl_jax.core import batched
from rvl_jax.core import checkpoint
from rvl_jax.core import cost
from rvl_jax.core import io
from rvl_jax.core import metrics
from rvl_jax.core import nets
from rvl_jax.core import prng
from rvl_jax.core import progress
from rvl_jax.core import sharding
from rvl_jax.core import train_state
from rvl_jax.core import validation
from rvl_jax.core.train_state import TrainState

__all__ = [
    "batched", "checkpoint", "cost", "io", "metrics", "nets", "prng", "progress", "sharding",
    "train_state", "validation", "TrainState",
]
