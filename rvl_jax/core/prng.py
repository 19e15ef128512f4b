"""Named random streams: a stream's randomness derives from a seed or key and the stream's name
(a stable 32-bit hash of it), never from arithmetic on the seed, so adding a stream leaves every
other stream unchanged."""

from __future__ import annotations

import zlib

import jax
import numpy as np


def name_hash(name: str) -> int:
  """A stable unsigned 32-bit hash (CRC-32) of ``name``, the same in every process and run.

  Args:
    name: the stream's name.

  Returns:
    An integer in [0, 2**32).
  """
  return zlib.crc32(name.encode())


def fold_in_name(key: jax.Array, name: str) -> jax.Array:
  """The key of the stream ``name`` derived from ``key`` (``jax.random.fold_in`` of the name's
  hash, taken to 31 bits).

  Args:
    key: a JAX PRNG key.
    name: the stream's name.

  Returns:
    A new key; different names give independent streams.
  """
  return jax.random.fold_in(key, name_hash(name) & 0x7FFFFFFF)


def stream_key(seed: int, name: str) -> jax.Array:
  """The JAX key of the stream ``name`` of a run with ``config.seed == seed``.

  Args:
    seed: the run's seed (``config.seed``).
    name: the stream's name, e.g. ``'init'``, ``'data/shuffle'``, ``'attack/pgd'``.

  Returns:
    ``fold_in_name(PRNGKey(seed), name)``.
  """
  return fold_in_name(jax.random.PRNGKey(int(seed)), name)


def numpy_rng(seed: int, name: str) -> np.random.Generator:
  """A NumPy generator for the stream ``name`` of a run with ``config.seed == seed`` (host-side
  sampling: data splits, subsets, pair tables).

  Args:
    seed: the run's seed (``config.seed``).
    name: the stream's name.

  Returns:
    ``np.random.default_rng([seed, name_hash(name)])``: NumPy's SeedSequence mixes both words, so
    no two (seed, name) pairs share a stream through arithmetic.
  """
  return np.random.default_rng([int(seed), name_hash(name)])
