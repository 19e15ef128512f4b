"""Transition-pair samplers on ground-truth-factor data (Klindt et al. 2021, App. D.1-D.2).

A sampler maps first-frame factor indices ``f1`` (int, (n, F)) to second-frame
indices ``f2`` with a numpy Generator. ``PairData`` combines a sampler with any
``GroundTruthData``-like object (attributes ``factor_sizes``, ``categorical``,
methods ``sample_factors(rng, n)`` and ``images_from_factors(f)``) and produces
training batches ``{'x1', 'x2', 'f1', 'f2'}`` as a deterministic function of the step.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from rvl_jax.data import batching, ground_truth


def _check_factors(f, factor_sizes):
  f = np.asarray(f)
  if f.ndim != 2 or f.shape[1] != len(factor_sizes):
    raise ValueError(
      f"argument 'factors': expected an integer array of shape (n, {len(factor_sizes)}),"
      f" got shape {f.shape}"
    )
  if not np.issubdtype(f.dtype, np.integer):
    raise TypeError(f"argument 'factors': expected an integer dtype, got {f.dtype}")
  if np.any(f < 0) or np.any(f >= np.asarray(factor_sizes)):
    raise ValueError(
      f"argument 'factors': expected values in [0, factor_size), factor sizes {tuple(factor_sizes)}"
    )
  return f.astype(np.int64)


def _draw(rng, probs):
  """Row-wise categorical draw from (n, k) probabilities (rows sum to 1)."""
  cdf = np.cumsum(probs, axis=1)
  u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
  return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)


class LaplaceTransitions:
  """LAP sampler (Klindt et al. 2021, App. D.2): discrete range-truncated Laplace per
  non-categorical factor.

  P(v) ~ exp(-|v - s| / b_i), v in {0..n_i-1}, b_i = ln(n_i) / rate. Categorical factors are
  copied. With ``force_change`` (the main-text LAP) a pair without any change gets one
  uniformly chosen non-categorical factor redrawn with the current value excluded;
  ``force_change=False`` is LAP-NC. ``rate=-1`` draws a rate ~ U(1, 10) per pair (the
  reference code's convention). ``sampler(rng, f1) -> f2`` maps first-frame factors (B, F) to
  second-frame factors.

  Args:
    factor_sizes: the number of values of each factor.
    categorical: one flag per factor; categorical factors never change.
    rate: the data rate lambda_data (> 0), or -1 for a random rate per pair.
    force_change: redraw one factor of pairs without any change (LAP) or not (LAP-NC).

  Raises:
    ValueError: naming the argument for a flag count or rate that does not fit.
  """

  def __init__(
    self,
    factor_sizes: Sequence[int],
    categorical: Sequence[bool],
    rate: float = 1.0,
    force_change: bool = True,
  ):
    self.factor_sizes = tuple(int(n) for n in factor_sizes)
    self.categorical = tuple(bool(c) for c in categorical)
    if len(self.categorical) != len(self.factor_sizes):
      raise ValueError(
        "argument 'categorical': expected one flag per factor "
        f"({len(self.factor_sizes)}), got {len(self.categorical)}"
      )
    if not (rate == -1 or rate > 0):
      raise ValueError(f"argument 'rate': expected a positive rate or -1, got {rate}")
    self.rate = float(rate)
    self.force_change = force_change
    self.free = [
      i for i, (n, c) in enumerate(zip(self.factor_sizes, self.categorical)) if not c and n > 1
    ]
    if not self.free:
      raise ValueError("LAP needs at least one non-categorical factor with more than one value")

  def _weights(self, i, s, rates):
    n = self.factor_sizes[i]
    b = math.log(n) / rates  # (m,)
    v = np.arange(n)[None, :]
    return np.exp(-np.abs(v - s[:, None]) / b[:, None])

  def transition_probs(self, i: int, s: int, rate: Optional[float] = None) -> np.ndarray:
    """Untruncated-by-forcing transition distribution of factor i from value s."""
    w = self._weights(i, np.array([s]), np.array([rate or self.rate]))[0]
    return w / w.sum()

  def __call__(self, rng: np.random.Generator, f1: np.ndarray) -> np.ndarray:
    f1 = _check_factors(f1, self.factor_sizes)
    m = f1.shape[0]
    rates = rng.uniform(1.0, 10.0, m) if self.rate == -1 else np.full(m, self.rate)
    f2 = f1.copy()
    for i in self.free:
      f2[:, i] = _draw(rng, self._weights(i, f1[:, i], rates))
    if self.force_change:
      static = np.nonzero(np.all(f2 == f1, axis=1))[0]
      if static.size:
        which = np.asarray(self.free)[rng.integers(0, len(self.free), static.size)]
        for i in np.unique(which):
          rows = static[which == i]
          w = self._weights(i, f1[rows, i], rates[rows])
          w[np.arange(rows.size), f1[rows, i]] = 0.0
          f2[rows, i] = _draw(rng, w)
    return f2


class UniformTransitions:
  """UNI sampler (Klindt et al. 2021, App. D.1): exactly k factors change (categorical ones
  included).

  k ~ U{1..F-1} (or a fixed ``k``); k distinct factors chosen uniformly; each gets a
  new value uniform over its other n_i - 1 values. Factors of size 1 never change.
  ``sampler(rng, f1) -> f2`` maps first-frame factors (B, F) to second-frame factors.

  Args:
    factor_sizes: the number of values of each factor.
    categorical: unused (every factor may change); accepted for a uniform sampler signature.
    k: a fixed number of changing factors, or None for k ~ U{1..F-1}.

  Raises:
    ValueError: naming 'k' when it is outside [1, number of changeable factors].
  """

  def __init__(
    self,
    factor_sizes: Sequence[int],
    categorical: Optional[Sequence[bool]] = None,
    k: Optional[int] = None,
  ):
    self.factor_sizes = tuple(int(n) for n in factor_sizes)
    self.changeable = np.array([n > 1 for n in self.factor_sizes])
    n_free = int(self.changeable.sum())
    self.k_max = max(1, len(self.factor_sizes) - 1)
    if k is not None and not 1 <= k <= n_free:
      raise ValueError(f"argument 'k': expected 1 <= k <= {n_free}, got {k}")
    self.k = k

  def __call__(self, rng, f1):
    f1 = _check_factors(f1, self.factor_sizes)
    m, nf = f1.shape
    n_free = int(self.changeable.sum())
    k = (
      np.full(m, self.k)
      if self.k is not None
      else np.minimum(rng.integers(1, self.k_max + 1, m), n_free)
    )
    keys = rng.random((m, nf))
    keys[:, ~self.changeable] = np.inf
    order = np.argsort(keys, axis=1)
    chosen = np.zeros((m, nf), bool)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(nf)[None].repeat(m, 0), axis=1)
    chosen = ranks < k[:, None]
    sizes = np.asarray(self.factor_sizes)[None, :]
    offset = (rng.random((m, nf)) * (sizes - 1)).astype(np.int64) + 1  # 1..n-1
    f2 = np.where(chosen, (f1 + offset) % sizes, f1)
    return f2


class LocatelloTransitions:
  """LOC pairs of Locatello et al. 2020 (Sec. 4 of that paper): k' = 1 w.p. 1/2 else k' = k
  (k ~ U{1..F-1} unless fixed); k' factors are resampled uniformly from all values (may equal the old one)."""

  def __init__(self, factor_sizes, categorical=None, k=None):
    self.factor_sizes = tuple(int(n) for n in factor_sizes)
    self.k = k

  def __call__(self, rng, f1):
    f1 = _check_factors(f1, self.factor_sizes)
    m, nf = f1.shape
    k = np.full(m, self.k) if self.k is not None else rng.integers(1, nf, m)
    k = np.where(rng.random(m) < 0.5, 1, k)
    ranks = np.argsort(np.argsort(rng.random((m, nf)), axis=1), axis=1)
    chosen = ranks < k[:, None]
    new = (rng.random((m, nf)) * np.asarray(self.factor_sizes)[None]).astype(np.int64)
    return np.where(chosen, new, f1)


SAMPLERS = {"lap": LaplaceTransitions, "uni": UniformTransitions, "loc": LocatelloTransitions}


def make_sampler(name: str, factor_sizes, categorical, rate: float = 1.0, k: Optional[int] = None):
  """The transition sampler called ``name``.

  Args:
    name: 'lap' | 'lap_nc' | 'uni' | 'loc'.
    factor_sizes: the number of values of each factor.
    categorical: one flag per factor.
    rate: the LAP data rate (LAP samplers only).
    k: a fixed number of changing factors (UNI / LOC only; None draws it per pair).

  Returns:
    A sampler ``(rng, f1) -> f2``.

  Raises:
    ValueError: naming 'sampler' for an unknown name.
  """
  if name == "lap":
    return LaplaceTransitions(factor_sizes, categorical, rate, force_change=True)
  if name == "lap_nc":
    return LaplaceTransitions(factor_sizes, categorical, rate, force_change=False)
  if name == "uni":
    return UniformTransitions(factor_sizes, categorical, k)
  if name == "loc":
    return LocatelloTransitions(factor_sizes, categorical, k)
  raise ValueError(f"argument 'sampler': expected 'lap', 'lap_nc', 'uni' or 'loc', got {name!r}")


class PairData:
  """Training pairs from a ground-truth data set and a transition sampler.

  ``batch(seed, step, num_pairs)`` returns {'x1', 'x2': float32 (B, H, W, C), 'f1', 'f2': int (B, F)}:
  first frames uniform over the grid, second frames from the sampler.
  """

  def __init__(self, data, sampler):
    self.data = data
    self.sampler = sampler
    self.image_shape = tuple(data.image_shape)

  def sample_pairs(self, rng, num_pairs: int):
    rng = ground_truth.as_numpy_rng(rng)
    f1 = np.asarray(self.data.sample_factors(rng, num_pairs), np.int64)
    f2 = self.sampler(rng, f1)
    imgs = np.asarray(self.data.images_from_factors(np.concatenate([f1, f2], 0)), np.float32)
    return {"x1": imgs[:num_pairs], "x2": imgs[num_pairs:], "f1": f1, "f2": f2}

  def batch(self, seed: int, step: int, num_pairs: int):
    return self.sample_pairs(batching.step_rng(seed, step), num_pairs)
