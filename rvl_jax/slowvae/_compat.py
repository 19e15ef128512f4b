"""Thin adapters to the shared data layer (rvl_jax.data), with numpy fallbacks."""
from __future__ import annotations

import numpy as np


def as_numpy_rng(rng):
  """numpy Generator from a Generator, an int seed or a jax PRNG key."""
  try:
    from rvl_jax.data.ground_truth import as_numpy_rng as shared
    return shared(rng)
  except ImportError:
    pass
  if isinstance(rng, np.random.Generator):
    return rng
  if isinstance(rng, (int, np.integer)):
    return np.random.default_rng(int(rng))
  import jax
  data = np.asarray(jax.random.key_data(rng) if hasattr(rng, 'dtype') and
                    jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key) else rng)
  return np.random.default_rng([int(v) for v in data.ravel()])


def step_rng(seed: int, step: int) -> np.random.Generator:
  try:
    from rvl_jax.data.batching import step_rng as shared
    return shared(seed, step)
  except ImportError:
    return np.random.default_rng([int(seed), int(step)])
