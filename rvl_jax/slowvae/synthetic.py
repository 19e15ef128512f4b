"""Synthetic nonlinear-ICA pair source (the setting of Klindt et al. 2021, App. F.1).

z_{t-1} ~ N(0, I_D), z_t = z_{t-1} + Laplace(0, 1/rate) per dimension; a fixed random
leaky-ReLU MLP ``g`` (weights N(0, 1/fan_in)) mixes the sources to ``obs_dim`` dimensions,
and observations are standardised with statistics of a fixed reference sample.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np

from rvl_jax.data import batching, ground_truth


@dataclasses.dataclass
class NonlinearICAPairs:
  """Pairs (x_{t-1}, x_t) with sources (z_{t-1}, z_t).

  Attributes:
    num_sources: D (default 5).
    obs_dim: observed dimensionality (default 50).
    rate: Laplace rate of the innovations (scale = 1 / rate; default 6).
    num_layers: mixing layers (each Dense + leaky ReLU; default 2).
    negative_slope: leaky-ReLU slope (default 0.2).
    mixing_seed: seed of the fixed mixing network and the standardisation sample.
  """

  num_sources: int = 5
  obs_dim: int = 50
  rate: float = 6.0
  num_layers: int = 2
  negative_slope: float = 0.2
  mixing_seed: int = 0

  def __post_init__(self):
    rng = np.random.default_rng(self.mixing_seed)
    dims = [self.num_sources] + [self.obs_dim] * self.num_layers
    self.weights = [
      rng.normal(0.0, 1.0 / np.sqrt(dims[i]), (dims[i], dims[i + 1]))
      for i in range(self.num_layers)
    ]
    ref = self._mix(rng.normal(size=(100_000, self.num_sources)))
    self.mean = ref.mean(0)
    self.std = ref.std(0)
    self.image_shape = (self.obs_dim,)
    self.data_shape = (self.obs_dim,)

  def _mix(self, z):
    x = np.asarray(z, np.float64)
    for w in self.weights:
      x = x @ w
      x = np.where(x > 0, x, self.negative_slope * x)
    return x

  def mix(self, z: np.ndarray) -> np.ndarray:
    """Standardised observations g(z), float32 (n, obs_dim)."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != self.num_sources:
      raise ValueError(f"argument 'z': expected shape (n, {self.num_sources}), got {z.shape}")
    return ((self._mix(z) - self.mean) / self.std).astype(np.float32)

  def sample_sources(self, rng, n: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = ground_truth.as_numpy_rng(rng)
    z1 = rng.normal(size=(n, self.num_sources))
    z2 = z1 + rng.laplace(0.0, 1.0 / self.rate, size=(n, self.num_sources))
    return z1, z2

  def sample_pairs(self, rng, num_pairs: int):
    z1, z2 = self.sample_sources(rng, num_pairs)
    return {
      "x1": self.mix(z1),
      "x2": self.mix(z2),
      "f1": z1.astype(np.float32),
      "f2": z2.astype(np.float32),
    }

  def batch(self, seed: int, step: int, num_pairs: int):
    return self.sample_pairs(batching.step_rng(seed, step), num_pairs)

  def sample(self, rng, n: int):
    """(sources, observations) of i.i.d. first frames — for MCC evaluation."""
    rng = ground_truth.as_numpy_rng(rng)
    z = rng.normal(size=(n, self.num_sources))
    return z.astype(np.float32), self.mix(z)
