"""Image-free oracle representations on a factor grid (spec 9.1 item 6).

`FactorGrid` is a GroundTruthData whose "images" are the factor indices themselves (shape
(n, 1, 1, F)), so metrics can be checked on the dSprites factor grid without rendering.
`oracle_representation` maps those to d codes: the F factor indices standardised to unit variance
(optionally mixed by a random F x F rotation) plus d - F dimensions of small Gaussian noise. The
noise is a fixed function of the grid point (a seeded per-index table), so the representation is a
deterministic function of its input, like an encoder.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rvl_jax.data import dsprites
from rvl_jax.data import ground_truth

DSPRITES_FACTOR_SIZES = tuple(dsprites.FACTOR_SIZES)
DSPRITES_FACTOR_NAMES = tuple(dsprites.FACTOR_NAMES)


class FactorGrid(ground_truth.GroundTruthData):
  """A factor grid whose observations are the factor indices, float32 of shape (n, 1, 1, F)."""

  def __init__(self, factor_sizes: Sequence[int] = DSPRITES_FACTOR_SIZES,
               factor_names: Sequence[str] | None = None,
               categorical: Sequence[bool] | None = None, name: str = 'factor_grid'):
    self.factor_sizes = tuple(int(k) for k in factor_sizes)
    if factor_names is None:
      factor_names = (DSPRITES_FACTOR_NAMES if self.factor_sizes == DSPRITES_FACTOR_SIZES
                      else tuple(f'factor_{i}' for i in range(len(self.factor_sizes))))
    self.factor_names = tuple(factor_names)
    if categorical is None:
      categorical = (tuple(dsprites.CATEGORICAL) if self.factor_sizes == DSPRITES_FACTOR_SIZES
                     else (False,) * len(self.factor_sizes))
    self.categorical = tuple(categorical)
    self.image_shape = (1, 1, len(self.factor_sizes))
    self.name = name

  def images_from_factors(self, factors) -> np.ndarray:
    factors = self.validate_factors(np.atleast_2d(factors))
    return factors.astype(np.float32).reshape((-1,) + self.image_shape)


def random_rotation(dim: int, seed: int = 0) -> np.ndarray:
  """A Haar-random orthogonal (dim, dim) matrix with determinant +1."""
  rng = np.random.default_rng(seed)
  q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
  q = q * np.sign(np.diag(r))[None, :]
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]
  return q


def oracle_representation(grid: FactorGrid, *, num_codes: int = 10, noise_std: float = 0.01,
                          rotation: np.ndarray | None = None, seed: int = 0):
  """images (n, 1, 1, F) of `grid` -> codes (n, num_codes) (numpy; evaluate with jit=False).

  Codes [0, F): standardised factor indices (exact grid mean and std), times ``rotation`` if given.
  Codes [F, num_codes): N(0, noise_std^2) noise, fixed per grid point.
  """
  sizes = np.asarray(grid.factor_sizes, dtype=np.float64)
  f = sizes.size
  if num_codes < f:
    raise ValueError(f"argument 'num_codes': expected >= {f} (the number of factors), got {num_codes}")
  mean = (sizes - 1.0) / 2.0
  std = np.sqrt((sizes ** 2 - 1.0) / 12.0)
  std = np.where(std > 0, std, 1.0)
  if rotation is not None:
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (f, f):
      raise ValueError(f"argument 'rotation': expected shape ({f}, {f}), got {rotation.shape}")
  noise_dims = num_codes - f
  table = (np.random.default_rng(seed).standard_normal((grid.num_images, noise_dims))
           .astype(np.float32) * noise_std) if noise_dims else None

  def representation_fn(images):
    x = np.asarray(images, dtype=np.float64).reshape(-1, f)
    z = (x - mean) / std
    if rotation is not None:
      z = z @ rotation
    if table is None:
      return z
    idx = grid.factors_to_index(np.rint(x).astype(np.int64))
    return np.concatenate([z, table[idx].astype(np.float64)], axis=1)

  return representation_fn
