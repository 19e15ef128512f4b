"""Bounded-memory application of a function over a leading axis, with one compilation."""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from rvl_jax.core import progress as _progress
from rvl_jax.core import validation


def batched_apply(
  fn: Callable[..., Any],
  inputs: Any,
  batch_size: int,
  *,
  show_progress: bool = False,
  desc: str = "batched",
) -> Any:
  """Applies ``fn`` to ``inputs`` in fixed-size batches along their leading axis.

  The last batch is padded to ``batch_size`` (by repeating its final row), so a jitted ``fn``
  compiles once; padded rows are dropped. Memory stays bounded by one batch for any number of
  inputs.

  Args:
    fn: maps a batch (same pytree structure as ``inputs``) to a pytree of arrays with a leading
      batch axis.
    inputs: an array or pytree of arrays sharing axis 0.
    batch_size: rows per call.
    show_progress: show a progress bar over the batches.
    desc: the progress bar's name.

  Returns:
    ``fn``'s outputs for all rows, concatenated along axis 0 as numpy arrays.
  """
  validation.check_positive_int("batch_size", batch_size)
  leaves = jax.tree_util.tree_leaves(inputs)
  if not leaves:
    raise ValueError("argument 'inputs': expected at least one array, got an empty pytree")
  n = int(np.shape(leaves[0])[0])
  for leaf in leaves:
    if np.shape(leaf)[0] != n:
      raise ValueError(
        f"argument 'inputs': all leaves must share the leading axis {n}, "
        f"got a leaf of shape {np.shape(leaf)}"
      )
  outputs = []
  starts = range(0, n, batch_size)
  iterator = _progress.progress(starts, desc=desc, unit="batch") if show_progress else starts
  for start in iterator:
    stop = min(start + batch_size, n)
    pad = batch_size - (stop - start)

    def take(x, start=start, stop=stop, pad=pad):
      chunk = np.asarray(x[start:stop])
      if pad:
        chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)], axis=0)
      return chunk

    result = fn(jax.tree_util.tree_map(take, inputs))
    result = jax.device_get(result)
    outputs.append(jax.tree_util.tree_map(lambda y, k=stop - start: np.asarray(y)[:k], result))
  return jax.tree_util.tree_map(lambda *ys: np.concatenate(ys, axis=0), *outputs)
