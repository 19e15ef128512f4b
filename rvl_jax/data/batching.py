"""Seeded batching: every batch is a deterministic function of (seed, step) or (seed, epoch).

Deterministic batches are what make resumed runs identical to uninterrupted ones: the training loop
asks for ``get_batch(step)`` and never carries iterator state that a checkpoint would have to hold.
"""

from __future__ import annotations

from typing import Iterator, Union

import numpy as np

from rvl_jax.core import prng, validation


def step_rng(seed: int, step: int, stream: Union[str, int] = 0) -> np.random.Generator:
  """An independent numpy Generator for (seed, stream, step).

  Args:
    seed: the run's seed.
    step: the step (or epoch) index, folded in as the last word.
    stream: the stream's name, e.g. 'augment' (its ``prng.name_hash``, as for every named
      stream, so no stream derives from another by arithmetic); an int is taken as that hash
      already computed (0: the default batch stream; ``epoch_permutation`` uses 1).

  Returns:
    ``np.random.default_rng([seed, stream word, step])``: the same numbers for the same triple on
    every call and process, unrelated numbers for any other triple.
  """
  word = prng.name_hash(stream) if isinstance(stream, str) else int(stream)
  return np.random.default_rng([int(seed), word, int(step)])


def sample_batch_indices(seed: int, step: int, n: int, batch_size: int) -> np.ndarray:
  """``batch_size`` indices in [0, n), drawn with replacement, fixed by (seed, step).

  Args:
    seed: the run's seed.
    step: the training step.
    n: the number of examples.
    batch_size: how many indices to draw.

  Returns:
    int64 indices of shape (batch_size,), uniform in [0, n) and independent of earlier steps.

  Raises:
    ValueError: ``n`` is not positive.
  """
  validation.check_positive_int("n", n)
  return step_rng(seed, step).integers(0, n, size=batch_size)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
  """The shuffled order of one epoch.

  Args:
    n: the number of examples.
    seed: the run's seed.
    epoch: the epoch.

  Returns:
    A permutation of ``range(n)``, the same for the same (seed, epoch) (stream 1 of
    :func:`step_rng`).
  """
  return step_rng(seed, epoch, stream=1).permutation(n)


def epoch_batches(
  n: int, batch_size: int, seed: int, epoch: int, drop_remainder: bool = True
) -> Iterator[np.ndarray]:
  """Index batches of one shuffled epoch.

  Args:
    n: the number of examples.
    batch_size: examples per batch.
    seed: the run's seed.
    epoch: the epoch (selects the permutation, see :func:`epoch_permutation`).
    drop_remainder: skip the last ``n % batch_size`` examples of the permutation (True), or
      yield them as a last, smaller batch (False).

  Yields:
    Index arrays of ``batch_size`` examples (the last one smaller when ``drop_remainder`` is
    False), consecutive slices of the epoch's permutation.
  """
  perm = epoch_permutation(n, seed, epoch)
  stop = (n // batch_size) * batch_size if drop_remainder else n
  for start in range(0, stop, batch_size):
    yield perm[start : start + batch_size]


def epoch_step_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """The indices of global step ``step`` when iterating shuffled epochs (drop remainder).

  Lets epoch-based training use the step-indexed ``get_batch`` of the training loop.

  Args:
    n: the number of examples.
    batch_size: examples per batch.
    seed: the run's seed.
    step: the global step; an epoch holds ``n // batch_size`` steps.

  Returns:
    The ``batch_size`` indices of that step: batch ``step % (n // batch_size)`` of
    :func:`epoch_batches` for epoch ``step // (n // batch_size)``.

  Raises:
    ValueError: ``batch_size`` is larger than ``n`` (an epoch would hold no step).
  """
  per_epoch = n // batch_size
  if per_epoch == 0:
    raise ValueError(
      f"argument 'batch_size': expected at most n={n} examples per batch, got {batch_size}"
    )
  epoch, k = divmod(int(step), per_epoch)
  perm = epoch_permutation(n, seed, epoch)
  return perm[k * batch_size : (k + 1) * batch_size]
