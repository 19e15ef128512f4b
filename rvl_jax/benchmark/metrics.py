"""R^2 and MSE exactly as the benchmark defines them (Schott et al. 2022, Sec. 4.3).

* per-factor MSE_j = mean_k (Y_kj - P_kj)^2
* per-factor R^2_j = 1 - MSE_j / sigma^2_j with sigma^2_j the variance of factor j over the
  FULL grid (normalised targets), not over the evaluated set
* ``rsquared`` = unweighted mean of R^2_j over all factors (categorical included), unclipped
* ``mse`` = mean of all squared errors (over samples and factors)

All computations are in float64.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


class RSquared:
  """R^2 with the per-factor variance of a reference target set (the full grid).

  Args:
    all_targets: (N, F) normalised targets of the full grid, or None if ``variance`` given.
    variance: (F,) per-factor variance (alternative to ``all_targets``).
  """

  def __init__(self, all_targets=None, *, variance=None):
    if variance is None:
      if all_targets is None:
        raise ValueError(
          "argument 'all_targets': expected an (N, F) array or variance=..., got None"
        )
      all_targets = np.asarray(all_targets, np.float64)
      if all_targets.ndim != 2:
        raise ValueError(f"argument 'all_targets': expected shape (N, F), got {all_targets.shape}")
      variance = all_targets.var(axis=0)
    self.variance = np.asarray(variance, np.float64).reshape(-1)
    if (self.variance <= 0).any():
      raise ValueError(f"argument 'variance': expected positive values, got {self.variance}")

  def per_factor(self, targets, predictions) -> np.ndarray:
    mse = per_factor_mse(targets, predictions)
    return 1.0 - mse / self.variance

  def __call__(self, targets, predictions) -> float:
    return float(np.mean(self.per_factor(targets, predictions)))


def _check_pair(targets, predictions):
  t = np.asarray(targets, np.float64)
  p = np.asarray(predictions, np.float64)
  if t.ndim != 2:
    raise ValueError(f"argument 'targets': expected shape (n, F), got {t.shape}")
  if p.shape != t.shape:
    raise ValueError(
      f"argument 'predictions': expected shape {t.shape} (as targets), got {p.shape}"
    )
  return t, p


def per_factor_mse(targets, predictions) -> np.ndarray:
  t, p = _check_pair(targets, predictions)
  return np.mean((t - p) ** 2, axis=0)


def score_dict(targets, predictions, factor_names: Sequence[str], variance) -> Dict[str, float]:
  """Flat score dict: rsquared, mse, rsquared_{f}, mse_{f} for every factor name f."""
  t, p = _check_pair(targets, predictions)
  if len(factor_names) != t.shape[1]:
    raise ValueError(
      f"argument 'factor_names': expected {t.shape[1]} names, got {len(factor_names)}"
    )
  mse_j = per_factor_mse(t, p)
  r2_j = 1.0 - mse_j / np.asarray(variance, np.float64)
  out = {"rsquared": float(np.mean(r2_j)), "mse": float(np.mean((t - p) ** 2))}
  for name, r, m in zip(factor_names, r2_j, mse_j):
    out[f"rsquared_{name}"] = float(r)
    out[f"mse_{name}"] = float(m)
  return out
