"""The ground-truth-factor data interface shared by SlowVAE, the benchmark and the metrics.

A data set is a complete Cartesian grid of discrete factor values with one image per grid point,
stored in row-major (mixed-radix) order: ``index = sum_i f_i * prod_{j > i} n_j`` (first factor
slowest, last fastest). Subclasses implement :meth:`images_from_factors`; everything else
(index <-> factor conversion, uniform sampling, validation) lives here. The module-level grid
functions (``index_to_factors``, ``factors_to_index``, ``full_grid_factors``,
``normalize_factors``) are the one implementation of the grid index, also used on bare factor sizes
by the generalization benchmark.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from rvl_jax.core import validation


def as_numpy_rng(rng: Any) -> np.random.Generator:
  """Accepts a numpy Generator, an int seed, or a jax PRNG key; returns a numpy Generator.

  Args:
    rng: a ``np.random.Generator`` (returned as is), an int seed, a legacy
      ``np.random.RandomState`` (one draw of it seeds the Generator), or a jax PRNG key (raw
      uint32 or typed; its key data seed the Generator).

  Returns:
    A ``np.random.Generator``, deterministic in ``rng``.

  Raises:
    TypeError: ``rng`` is none of these.
  """
  if isinstance(rng, np.random.Generator):
    return rng
  if isinstance(rng, (int, np.integer)):
    return np.random.default_rng(int(rng))
  if isinstance(rng, np.random.RandomState):
    return np.random.default_rng(rng.randint(0, 2**31 - 1))
  try:
    import jax

    data = rng
    if hasattr(rng, "dtype") and jax.numpy.issubdtype(rng.dtype, jax.dtypes.prng_key):
      data = jax.random.key_data(rng)
    return np.random.default_rng(np.asarray(data, dtype=np.uint32).ravel().tolist())
  except Exception as e:
    raise TypeError(
      f"argument 'rng': expected a numpy Generator, an int seed or a jax PRNG key, "
      f"got {type(rng).__name__}"
    ) from e


def row_major_strides(sizes: Sequence[int]) -> np.ndarray:
  """Strides of the row-major grid index.

  Args:
    sizes: the number of values of each factor.

  Returns:
    int64 (F,) strides: ``index = factors @ strides`` (last factor fastest).
  """
  sizes = np.asarray(sizes, np.int64)
  return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)


def index_to_factors(sizes: Sequence[int], index: Any) -> np.ndarray:
  """Row-major grid index -> factor indices.

  Args:
    sizes: the number of values of each factor.
    index: grid indices (any shape; flattened).

  Returns:
    int64 (n, F) factor indices.

  Raises:
    ValueError: naming 'index' when an index lies outside [0, prod(sizes)).
  """
  index = np.asarray(index, np.int64).reshape(-1)
  total = int(np.prod(sizes, dtype=np.int64))
  if index.size and (index.min() < 0 or index.max() >= total):
    raise ValueError(
      f"argument 'index': expected values in [0, {total}), got range [{index.min()}, {index.max()}]"
    )
  strides = row_major_strides(sizes)
  return (index[:, None] // strides[None, :]) % np.asarray(sizes, np.int64)[None, :]


def factors_to_index(sizes: Sequence[int], factors: Any) -> np.ndarray:
  """Factor indices -> row-major grid index.

  Args:
    sizes: the number of values of each factor.
    factors: integer factor indices, shape (n, F).

  Returns:
    int64 (n,) grid indices.

  Raises:
    ValueError: naming 'factors' for a wrong shape or an index outside [0, K).
  """
  factors = np.asarray(factors, np.int64)
  if factors.ndim != 2 or factors.shape[1] != len(sizes):
    raise ValueError(f"argument 'factors': expected shape (n, {len(sizes)}), got {factors.shape}")
  if factors.size and ((factors < 0).any() or (factors >= np.asarray(sizes)[None]).any()):
    raise ValueError(f"argument 'factors': expected indices in [0, K) with K={tuple(sizes)}")
  return factors @ row_major_strides(sizes)


def full_grid_factors(sizes: Sequence[int]) -> np.ndarray:
  """Every factor combination in row-major order.

  Args:
    sizes: the number of values of each factor.

  Returns:
    int64 (prod(sizes), F) factor indices; row i is grid point i.
  """
  return index_to_factors(sizes, np.arange(int(np.prod(sizes, dtype=np.int64))))


def normalize_factors(sizes: Sequence[int], factors: Any) -> np.ndarray:
  """Factor indices -> values in [0, 1] (index / (K - 1); a one-valued factor gives 0).

  Args:
    sizes: the number of values K of each factor.
    factors: factor indices, shape (n, F).

  Returns:
    float32 (n, F) normalised factors (the regression targets of the benchmark).
  """
  denom = np.maximum(np.asarray(sizes, np.float64) - 1.0, 1.0)
  return (np.asarray(factors, np.float64) / denom).astype(np.float32)


class FactorGridSize:
  """``num_factors`` and ``num_images`` of a complete factor grid, from its ``factor_sizes``.

  A mixin shared by the data sets and the benchmark's static data set descriptions.

  Attributes:
    factor_sizes: Number of values of each factor of variation; the grid is their product.
  """

  factor_sizes: Tuple[int, ...]

  @property
  def num_factors(self) -> int:
    return len(self.factor_sizes)

  @property
  def num_images(self) -> int:
    return int(np.prod(self.factor_sizes, dtype=np.int64))


class GroundTruthData(FactorGridSize):
  """Base class for factor-grid data sets.

  Subclasses set ``name``, ``factor_names``, ``factor_sizes``, ``categorical`` and
  ``image_shape`` and implement ``images_from_factors``; the base class takes no constructor
  arguments. The interface follows disentanglement_lib's ``GroundTruthData`` (Locatello et al.
  2019): factors are integer indices into each factor's grid of values.

  Attributes:
    name: Short name of the data set (used in logs and cache keys).
    factor_names: Name of each factor of variation.
    factor_sizes: Number of values of each factor.
    categorical: Whether each factor is categorical (e.g. shape) rather than ordinal.
    image_shape: ``(height, width, channels)`` of one image.
  """

  name: str = "ground_truth"
  factor_names: Tuple[str, ...] = ()
  factor_sizes: Tuple[int, ...] = ()
  categorical: Tuple[bool, ...] = ()
  image_shape: Tuple[int, int, int] = (64, 64, 1)

  def validate_factors(self, factors: Any, name: str = "factors") -> np.ndarray:
    factors = np.asarray(factors)
    validation.check_array(name, factors, shape=(None, self.num_factors))
    if not np.issubdtype(factors.dtype, np.integer):
      if np.issubdtype(factors.dtype, np.floating) and np.all(np.mod(factors, 1) == 0):
        factors = factors.astype(np.int64)
      else:
        raise TypeError(
          f"argument '{name}': expected integer factor indices, got dtype "
          f"{factors.dtype} with non-integer values"
        )
    sizes = np.asarray(self.factor_sizes)
    bad = (factors < 0) | (factors >= sizes)
    if np.any(bad):
      row, col = np.argwhere(bad)[0]
      raise ValueError(
        f"argument '{name}': factor '{self.factor_names[col]}' (column {col}) must be in "
        f"[0, {sizes[col] - 1}], got {int(factors[row, col])} in row {row}"
      )
    return factors.astype(np.int64)

  def validate_indices(self, indices: Any, name: str = "indices") -> np.ndarray:
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
      raise TypeError(f"argument '{name}': expected integer indices, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= self.num_images):
      raise ValueError(
        f"argument '{name}': expected indices in [0, {self.num_images - 1}], got "
        f"range [{int(indices.min())}, {int(indices.max())}]"
      )
    return indices.astype(np.int64)

  def index_to_factors(self, indices: Any) -> np.ndarray:
    """Grid index -> factor indices (n, F), row-major (last factor fastest)."""
    return index_to_factors(self.factor_sizes, self.validate_indices(np.atleast_1d(indices)))

  def factors_to_index(self, factors: Any) -> np.ndarray:
    """Factor indices (n, F) -> grid index (n,)."""
    return factors_to_index(self.factor_sizes, self.validate_factors(np.atleast_2d(factors)))

  def sample_factors(self, rng: Any, n: int) -> np.ndarray:
    """n factor vectors drawn uniformly from the grid."""
    rng = as_numpy_rng(rng)
    return np.stack([rng.integers(0, k, size=n) for k in self.factor_sizes], axis=1).astype(
      np.int64
    )

  def images_from_factors(self, factors: Any) -> np.ndarray:
    """Images (n, H, W, C) float32 in [0, 1] for factor indices (n, F)."""
    raise NotImplementedError

  def images_from_indices(self, indices: Any) -> np.ndarray:
    return self.images_from_factors(self.index_to_factors(indices))

  def sample(self, rng: Any, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(factors, images) for n uniformly drawn grid points."""
    factors = self.sample_factors(rng, n)
    return factors, self.images_from_factors(factors)

  def __repr__(self) -> str:
    parts = ", ".join(f"{n}={k}" for n, k in zip(self.factor_names, self.factor_sizes))
    return f"{type(self).__name__}({self.name}: {parts}; image {self.image_shape})"


class ArrayGroundTruthData(GroundTruthData):
  """A factor grid backed by an image array in row-major grid order (uint8 or float).

  Used for user-provided files (real dSprites, Shapes3D, ...). The array may be memory-mapped;
  only requested rows are converted to float32.

  Args:
    images: ``(N, H, W)`` or ``(N, H, W, C)`` array with ``N = prod(factor_sizes)``; row ``i`` is
      the image of the ``i``-th factor combination in row-major (C) order.
    factor_sizes: Number of values of each factor.
    factor_names: Name of each factor (same length as ``factor_sizes``).
    categorical: Whether each factor is categorical; default all ordinal.
    name: Short name of the data set.
    binary: Images are 0/1 (as dSprites); uint8 arrays are then not divided by 255.

  Raises:
    ValueError: naming the argument, when the image count or shape does not fit the grid.
  """

  def __init__(
    self,
    images: np.ndarray,
    factor_sizes: Sequence[int],
    factor_names: Sequence[str],
    categorical: Optional[Sequence[bool]] = None,
    name: str = "array",
    binary: bool = False,
  ):
    sizes = tuple(int(k) for k in factor_sizes)
    expected = int(np.prod(sizes))
    if images.shape[0] != expected:
      raise ValueError(
        f"argument 'images': expected {expected} images for factor sizes {sizes}, "
        f"got {images.shape[0]}"
      )
    if images.ndim == 3:
      self.image_shape = (images.shape[1], images.shape[2], 1)
    elif images.ndim == 4:
      self.image_shape = tuple(images.shape[1:])
    else:
      raise ValueError(
        f"argument 'images': expected shape (N, H, W) or (N, H, W, C), got {images.shape}"
      )
    self._images = images
    self._binary = binary
    self.factor_sizes = sizes
    self.factor_names = tuple(factor_names)
    self.categorical = tuple(categorical) if categorical is not None else (False,) * len(sizes)
    self.name = name

  def images_from_factors(self, factors: Any) -> np.ndarray:
    idx = self.factors_to_index(factors)
    order = np.argsort(idx)  # sorted reads are much faster on memory-mapped files
    raw = np.asarray(self._images[idx[order]])
    out = np.empty_like(raw)
    out[order] = raw
    out = out.reshape((len(idx),) + self.image_shape)
    if self._binary or out.dtype == np.bool_:
      return out.astype(np.float32)
    if np.issubdtype(out.dtype, np.integer):
      return out.astype(np.float32) / 255.0
    return out.astype(np.float32)
