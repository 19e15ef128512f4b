"""Input checks that produce errors naming the argument, the expectation and what was received.

Every public entry point of rvl_jax validates its array arguments with these helpers, so a user
sees e.g. ``argument 'images': expected shape (N, 28, 28, 1), got (32, 28, 28)`` instead of an
XLA shape error deep inside a jitted function.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

ShapeSpec = Sequence[Optional[int]]


def _describe_shape(shape: ShapeSpec) -> str:
  names = iter("NHWCDEFG")
  parts = []
  for dim in shape:
    parts.append(next(names, "?") if dim is None else str(dim))
  return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


def _dtype_of(x: Any) -> np.dtype:
  dtype = getattr(x, "dtype", None)
  if dtype is None:
    dtype = np.asarray(x).dtype
  return np.dtype(dtype)


def check_array(
  name: str,
  x: Any,
  *,
  ndim: Optional[int] = None,
  shape: Optional[ShapeSpec] = None,
  dtype: Union[None, str, np.dtype, type] = None,
  value_range: Optional[Tuple[float, float]] = None,
  finite: bool = False,
) -> None:
  """Validates an array argument; raises ValueError/TypeError with a clear message.

  Args:
    name: the argument's name as the user wrote it.
    x: the array (numpy, jax, or anything np.asarray accepts).
    ndim: required number of dimensions.
    shape: required shape; ``None`` entries are wildcards.
    dtype: 'floating', 'integer', 'bool' or a concrete dtype.
    value_range: inclusive (low, high) every element must lie in.
    finite: require all elements to be finite.

  The value checks (``value_range``, ``finite``; floating arrays are always checked for NaN/inf
  when ``value_range`` is given) run only on concrete arrays, not on tracers inside ``jit``.

  Raises:
    TypeError: ``x`` is not array-like, or its dtype does not match ``dtype``.
    ValueError: wrong number of dimensions or shape, non-finite entries, or values outside
      ``value_range``; the message names ``name``, the expectation and what was received.
  """
  if not hasattr(x, "shape"):
    try:
      x = np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic inputs
      raise TypeError(f"argument '{name}': expected an array, got {type(x).__name__}") from e
  got_shape = tuple(x.shape)
  if ndim is not None and len(got_shape) != ndim:
    raise ValueError(
      f"argument '{name}': expected a {ndim}-D array, got shape {got_shape} ({len(got_shape)}-D)"
    )
  if shape is not None:
    ok = len(got_shape) == len(shape) and all(
      want is None or want == got for want, got in zip(shape, got_shape)
    )
    if not ok:
      raise ValueError(
        f"argument '{name}': expected shape {_describe_shape(shape)}, got {got_shape}"
      )
  got_dtype = _dtype_of(x)
  if dtype is not None:
    if dtype == "floating":
      ok = np.issubdtype(got_dtype, np.floating)
    elif dtype == "integer":
      ok = np.issubdtype(got_dtype, np.integer)
    elif dtype == "bool":
      ok = got_dtype == np.bool_
    else:
      ok = got_dtype == np.dtype(dtype)
    if not ok:
      raise TypeError(f"argument '{name}': expected dtype {dtype}, got {got_dtype}")
  needs_values = value_range is not None or finite
  if needs_values and _is_concrete(x) and np.size(x):
    values = np.asarray(x)
    if finite or np.issubdtype(values.dtype, np.floating):
      if not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values)))
        raise ValueError(f"argument '{name}': expected finite values, got {bad} NaN/inf entries")
    if value_range is not None:
      lo, hi = value_range
      vmin, vmax = float(values.min()), float(values.max())
      if vmin < lo or vmax > hi:
        raise ValueError(
          f"argument '{name}': expected values in [{lo}, {hi}], got range [{vmin:.6g}, {vmax:.6g}]"
        )


def _is_concrete(x: Any) -> bool:
  """False for jax tracers (inside jit we can only check shapes and dtypes)."""
  try:
    import jax  # local import keeps this module numpy-only for light users

    return not isinstance(x, jax.core.Tracer)
  except Exception:  # pragma: no cover
    return True


def check_images(
  name: str,
  x: Any,
  *,
  height: Optional[int] = None,
  width: Optional[int] = None,
  channels: Optional[int] = None,
  value_range: Optional[Tuple[float, float]] = (0.0, 1.0),
  dtype: Union[None, str, np.dtype] = "floating",
) -> None:
  """Validates an NHWC image batch (float in [0, 1] by default).

  Args:
    name: the argument's name as the user wrote it.
    x: the batch.
    height: required height (None: any).
    width: required width (None: any).
    channels: required number of channels (None: any).
    value_range: inclusive (low, high) of the pixel values (None: unchecked).
    dtype: as in :func:`check_array`.

  Raises:
    ValueError: ``x`` is not 4-D, a given height/width/channels differs, or a pixel lies
      outside ``value_range`` (or is NaN/inf).
    TypeError: the dtype is not ``dtype`` (floating by default).
  """
  check_array(name, x, shape=(None, height, width, channels), dtype=dtype, value_range=value_range)


def check_in_choices(name: str, value: Any, choices: Sequence[Any]) -> None:
  """Validates a categorical option.

  Args:
    name: the argument's name.
    value: the given value.
    choices: the accepted values.

  Raises:
    ValueError: ``value`` is not in ``choices``; the message lists them.
  """
  if value not in choices:
    raise ValueError(f"argument '{name}': expected one of {list(choices)}, got {value!r}")


def check_positive_int(name: str, value: Any) -> None:
  """Validates a positive integer (bools are rejected).

  Args:
    name: the argument's name.
    value: the given value; a Python or numpy integer, not a float such as ``2.0``.

  Raises:
    ValueError: ``value`` is not an integer, is a bool, or is zero or negative.
  """
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
    raise ValueError(f"argument '{name}': expected a positive integer, got {value!r}")
