"""Input validation for the disentanglement metrics (clear errors at public entry points)."""

from __future__ import annotations

import numpy as np


def _describe(x) -> str:
  x = np.asarray(x)
  return f"shape {tuple(x.shape)} dtype {x.dtype}"


def as_codes(name: str, x, *, num_rows: int | None = None) -> np.ndarray:
  """Validates a (n, d) real array of codes; returns it as float64."""
  arr = np.asarray(x)
  if arr.ndim != 2:
    raise ValueError(
      f"argument '{name}': expected a 2-D array (num_points, num_codes), got {_describe(arr)}"
    )
  if not (
    np.issubdtype(arr.dtype, np.floating)
    or np.issubdtype(arr.dtype, np.integer)
    or arr.dtype == np.bool_
  ):
    raise TypeError(f"argument '{name}': expected a real-valued array, got {_describe(arr)}")
  if num_rows is not None and arr.shape[0] != num_rows:
    raise ValueError(
      f"argument '{name}': expected {num_rows} rows (one per data point), got {_describe(arr)}"
    )
  if arr.shape[0] < 2:
    raise ValueError(f"argument '{name}': expected at least 2 data points, got {_describe(arr)}")
  if arr.shape[1] < 1:
    raise ValueError(
      f"argument '{name}': expected at least one code dimension, got {_describe(arr)}"
    )
  arr = arr.astype(np.float64)
  bad = ~np.isfinite(arr)
  if bad.any():
    rows, cols = np.nonzero(bad)
    raise ValueError(
      f"argument '{name}': expected finite values, got {int(bad.sum())} NaN/inf entries "
      f"(first at row {rows[0]}, column {cols[0]}); the representation produced non-finite codes"
    )
  return arr


def as_factors(name: str, y, *, num_rows: int | None = None, discrete: bool = True) -> np.ndarray:
  """Validates (n, F) factors. Discrete factors must be integer indices; returns int64 (or float64)."""
  arr = np.asarray(y)
  if arr.ndim != 2:
    raise ValueError(
      f"argument '{name}': expected a 2-D array (num_points, num_factors), got {_describe(arr)}"
    )
  if num_rows is not None and arr.shape[0] != num_rows:
    raise ValueError(
      f"argument '{name}': expected {num_rows} rows (one per data point, matching the codes), "
      f"got {_describe(arr)}"
    )
  if arr.shape[1] < 1:
    raise ValueError(f"argument '{name}': expected at least one factor, got {_describe(arr)}")
  if not (
    np.issubdtype(arr.dtype, np.floating)
    or np.issubdtype(arr.dtype, np.integer)
    or arr.dtype == np.bool_
  ):
    raise TypeError(f"argument '{name}': expected a numeric array, got {_describe(arr)}")
  if np.issubdtype(arr.dtype, np.floating):
    if not np.isfinite(arr).all():
      raise ValueError(f"argument '{name}': expected finite values, got NaN/inf entries")
    if discrete:
      frac = arr != np.round(arr)
      if frac.any():
        r, c = np.argwhere(frac)[0]
        raise ValueError(
          f"argument '{name}': expected integer-valued discrete factors (class/grid indices), got "
          f"non-integer value {arr[r, c]!r} at row {r}, column {c}; this metric needs discrete "
          "factors (continuous data sets support MCC only)"
        )
      return arr.astype(np.int64)
    return arr.astype(np.float64)
  return arr.astype(np.int64) if discrete else arr.astype(np.float64)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"argument '{name}': expected an integer >= {minimum}, got {value!r}")
  return int(value)
