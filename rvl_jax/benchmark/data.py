"""Benchmark data sets and the framework-agnostic loader (``load_dataset``).

A :class:`BenchmarkDataset` is one (data set, split variant, mode) selection. Its images
come from one of three sources:

* ``'split_files'`` -- the authors' released split files in ``data_dir``,
* ``'grid'`` -- a full-grid file in ``data_dir`` (dSprites npz, Shapes3D h5, MPI3D npz/npy);
  the split is computed by the exact rules of :mod:`rvl_jax.benchmark.splits`,
* ``'procedural'`` -- an offline renderer (dSprites, its [0, 90) variant, shapes3d-like).

``'auto'`` picks the first available in that order. Missing data raises a clear error;
nothing is downloaded or faked.

Targets are factor indices divided by (K - 1) (float32 in [0, 1]); images are float32 in
[0, 1], NHWC by default (``layout='NCHW'`` gives the reference PyTorch layout).
"""

from __future__ import annotations

import functools
from typing import Callable, Iterator, Optional, Tuple

import numpy as np

from rvl_jax.benchmark import datasets, io, render, splits
from rvl_jax.core import validation

PROCEDURAL = ("dsprites", "dsprites_90", "shapes3d")
SOURCES = ("auto", "split_files", "grid", "procedural")


@functools.lru_cache(maxsize=2)
def _procedural_dsprites():
  from rvl_jax.data import dsprites  # pylint: disable=import-outside-toplevel

  return dsprites.ProceduralDSprites()


def procedural_image_fn(name: str) -> Callable[[np.ndarray], np.ndarray]:
  """Grid indices -> float32 NHWC images for the procedural data sets."""
  spec = datasets.get_spec(name)
  if name == "shapes3d":
    return lambda idx: render.shapes3d_like(datasets.index_to_factors(spec.factor_sizes, idx))
  if name in ("dsprites", "dsprites_90"):

    def fn(idx):
      # dsprites_90 factor indices are valid indices of the full grid (orientation < 10).
      factors = datasets.index_to_factors(spec.factor_sizes, idx)
      return np.asarray(_procedural_dsprites().images_from_factors(factors), np.float32)

    return fn
  raise ValueError(
    f"no procedural renderer for data set {name!r} (available: {PROCEDURAL}); "
    "pass data_dir with the split files or the full-grid file"
  )


class BenchmarkDataset:
  """One (data set, variant, mode) selection.

  Attributes: ``name, variant, mode, source, factor_names, factor_sizes, labels`` (int64
  factor indices (n, F)), ``grid_indices`` (int64 (n,)); ``normalized_targets`` is the
  whole grid / (K - 1) (used for the R^2 variance), ``variance`` its per-factor variance.

  Args:
    name: a data set of ``datasets.SPEC``.
    variant: the split ('random' | 'composition' | 'interpolation' | 'extrapolation').
    mode: 'train' | 'test'.
    labels: int64 factor indices (n, F) of the selected images.
    image_fn: grid indices (or dataset positions, for split files) -> images (n, H, W, C).
    source: where the images come from ('split_files' | 'grid' | 'procedural').
    grid_indices: the row-major grid index of each image (default: computed from ``labels``).
  """

  def __init__(self, name, variant, mode, *, labels, image_fn, source, grid_indices=None):
    self.spec = datasets.get_spec(name)
    self.name, self.variant, self.mode, self.source = name, variant, mode, source
    self.factor_names = list(self.spec.factor_names)
    self.factor_sizes = list(self.spec.factor_sizes)
    self.labels = np.asarray(labels, np.int64)
    if grid_indices is None:
      grid_indices = datasets.factors_to_index(self.spec.factor_sizes, self.labels)
    self.grid_indices = np.asarray(grid_indices, np.int64)
    self._image_fn = image_fn

  def __len__(self):
    return len(self.labels)

  @property
  def image_shape(self):
    return self.spec.image_shape

  @functools.cached_property
  def normalized_targets(self) -> np.ndarray:
    return datasets.normalize_factors(
      self.factor_sizes, datasets.full_grid_factors(self.factor_sizes)
    )

  @property
  def variance(self) -> np.ndarray:
    return datasets.grid_variance(self.factor_sizes)

  def images(self, positions) -> np.ndarray:
    """float32 NHWC images of the selected positions (0..len-1)."""
    return self._image_fn(np.asarray(positions, np.int64))

  def targets(self, positions) -> np.ndarray:
    return datasets.normalize_factors(
      self.factor_sizes, self.labels[np.asarray(positions, np.int64)]
    )

  def __getitem__(self, i):
    return self.images([i])[0], self.targets([i])[0]


def make_dataset(
  name: str,
  variant: str = "random",
  mode: str = "train",
  *,
  data_dir: Optional[str] = None,
  source: str = "auto",
  split_seed: int = 0,
  celeb_variant: str = "default",
) -> BenchmarkDataset:
  """Builds a :class:`BenchmarkDataset` (see the module docstring for ``source``).

  Args:
    name: a data set of ``datasets.SPEC``.
    variant: 'random' | 'composition' | 'interpolation' | 'extrapolation'.
    mode: 'train' | 'test'.
    data_dir: directory with split files or a full-grid file (None: procedural only).
    source: 'auto' | 'split_files' | 'grid' | 'procedural'.
    split_seed: seed of the random split's permutation.
    celeb_variant: CelebGlow composition table, 'default' | 'alt'.

  Returns:
    The selection, its images produced on demand.

  Raises:
    ValueError: naming 'name', 'variant', 'mode' or 'source' for an unknown value.
    FileNotFoundError: naming 'data_dir' when the data set has no procedural source and no file.
  """
  spec = datasets.get_spec(name)
  datasets.check_variant(variant)
  datasets.check_mode(mode)
  validation.check_in_choices("source", source, SOURCES)
  if source == "auto":
    if io.has_split_files(data_dir, name, variant, mode):
      source = "split_files"
    elif io.find_full_grid(data_dir, name):
      source = "grid"
    elif name in PROCEDURAL:
      source = "procedural"
    else:
      raise FileNotFoundError(
        f"data set {name!r}: no split files ({name}_{variant}_{mode}_images/labels.npz) and no "
        f"full-grid file {io.FULL_GRID_FILES.get(name, ())} in data_dir={data_dir!r}, and no "
        "procedural renderer exists for it"
      )
  if source == "split_files":
    images, labels = io.load_split_npz(data_dir, name, variant, mode)
    binary = images.dtype == np.uint8 and images.size > 0 and int(images.max()) <= 1
    fn = lambda pos: io.images_to_float(images[pos], binary=binary)
    return BenchmarkDataset(name, variant, mode, labels=labels, image_fn=fn, source=source)
  idx = splits.make_split(name, variant, seed=split_seed, celeb_variant=celeb_variant).indices(mode)
  labels = datasets.index_to_factors(spec.factor_sizes, idx)
  if source == "grid":
    path = io.find_full_grid(data_dir, name)
    if path is None:
      raise FileNotFoundError(
        f"data set {name!r}: no full-grid file {io.FULL_GRID_FILES.get(name)} "
        f"in data_dir={data_dir!r}"
      )
    grid = io.load_full_grid(name, path)
    fn = lambda pos: grid.images(idx[pos])
  else:
    render_fn = procedural_image_fn(name)
    fn = lambda pos: render_fn(idx[pos])
  return BenchmarkDataset(
    name, variant, mode, labels=labels, image_fn=fn, source=source, grid_indices=idx
  )


class DataLoader:
  """Iterates (images, targets) numpy batches over a :class:`BenchmarkDataset`.

  ``max_samples`` selects a fixed random subset (chosen with ``seed``); ``shuffle`` reshuffles
  every epoch (order from ``seed`` and the epoch number). ``layout`` is 'NHWC' or 'NCHW'.
  ``positions`` are the dataset positions actually iterated (in subset order).

  Args:
    dataset: the selection to iterate.
    batch_size: images per batch (>= 1).
    shuffle: reshuffle every epoch.
    seed: seed of the subset and the shuffling.
    layout: 'NHWC' or 'NCHW'.
    max_samples: size of a fixed random subset (None: every image).
    drop_last: drop a final incomplete batch.

  Raises:
    ValueError: naming 'layout' or 'batch_size' for a bad value.
  """

  def __init__(
    self,
    dataset: BenchmarkDataset,
    batch_size: int = 4,
    shuffle: bool = True,
    seed: int = 0,
    layout: str = "NHWC",
    max_samples: Optional[int] = None,
    drop_last: bool = False,
  ):
    if layout not in ("NHWC", "NCHW"):
      raise ValueError(f"argument 'layout': expected 'NHWC' or 'NCHW', got {layout!r}")
    if batch_size < 1:
      raise ValueError(f"argument 'batch_size': expected >= 1, got {batch_size}")
    self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), shuffle
    self.seed, self.layout, self.drop_last = int(seed), layout, drop_last
    positions = np.arange(len(dataset))
    if max_samples is not None and max_samples < len(dataset):
      rng = np.random.default_rng(self.seed)
      positions = np.sort(rng.choice(len(dataset), size=int(max_samples), replace=False))
    self.positions = positions
    self._epoch = 0

  def __len__(self):
    n = len(self.positions)
    return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

  def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    pos = self.positions
    if self.shuffle:
      pos = np.random.default_rng([self.seed, self._epoch]).permutation(pos)
    self._epoch += 1
    for b in range(len(self)):
      sel = pos[b * self.batch_size : (b + 1) * self.batch_size]
      images = self.dataset.images(sel)
      if self.layout == "NCHW":
        images = np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)))
      yield images, self.dataset.targets(sel)

  def batch_positions(self):
    """Dataset positions in the order of an unshuffled pass (for aligning predictions)."""
    return self.positions


def load_dataset(
  name: str,
  variant: str = "random",
  mode: str = "train",
  data_dir: Optional[str] = None,
  batch_size: int = 4,
  shuffle: bool = True,
  layout: str = "NHWC",
  seed: int = 0,
  max_samples: Optional[int] = None,
  source: str = "auto",
  split_seed: int = 0,
  celeb_variant: str = "default",
  dataset_path: Optional[str] = None,
) -> DataLoader:
  """The reference ``load_dataset``: a loader over one split of one data set.

  ``dataset_path`` is accepted as an alias of ``data_dir`` (reference argument name).

  Args:
    name: a data set of ``datasets.SPEC``.
    variant: 'random' | 'composition' | 'interpolation' | 'extrapolation'.
    mode: 'train' | 'test'.
    data_dir: directory with split files or a full-grid file (None: procedural only).
    batch_size: images per batch.
    shuffle: reshuffle every epoch.
    layout: 'NHWC' or 'NCHW'.
    seed: seed of the subset and the shuffling.
    max_samples: size of a fixed random subset (None: every image).
    source: 'auto' | 'split_files' | 'grid' | 'procedural'.
    split_seed: seed of the random split's permutation.
    celeb_variant: CelebGlow composition table, 'default' | 'alt'.
    dataset_path: alias of ``data_dir``.

  Returns:
    A :class:`DataLoader` yielding (images, targets) numpy batches; targets are factor indices
    / (K - 1).
  """
  data_dir = data_dir if data_dir is not None else dataset_path
  ds = make_dataset(
    name,
    variant,
    mode,
    data_dir=data_dir,
    source=source,
    split_seed=split_seed,
    celeb_variant=celeb_variant,
  )
  return DataLoader(
    ds, batch_size=batch_size, shuffle=shuffle, seed=seed, layout=layout, max_samples=max_samples
  )
