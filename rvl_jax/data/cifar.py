"""CIFAR-10 / CIFAR-100 from the files their authors distribute (Krizhevsky 2009), without
TensorFlow: the "python version" pickles (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``;
``cifar-100-python/train``, ``test``) or the "binary version" (``cifar-10-batches-bin/*.bin``;
``cifar-100-binary/train.bin``, ``test.bin``), or a prepared tensorflow-datasets directory read
through the input pipeline's ArrayRecord source. Never downloads.

Every loader returns ``{'train_images', 'train_labels', 'test_images', 'test_labels'}`` with uint8
NHWC images (N, 32, 32, 3) and int32 labels (CIFAR-100: the 100 fine labels).
"""

from __future__ import annotations

import os
import pickle
from typing import Dict, List, Optional

import numpy as np

_LAYOUT = {
  "cifar10": {
    "py": (
      "cifar-10-batches-py",
      [f"data_batch_{i}" for i in range(1, 6)],
      ["test_batch"],
      b"labels",
    ),
    "bin": (
      "cifar-10-batches-bin",
      [f"data_batch_{i}.bin" for i in range(1, 6)],
      ["test_batch.bin"],
      1,
    ),
  },
  "cifar100": {
    "py": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
    "bin": ("cifar-100-binary", ["train.bin"], ["test.bin"], 2),
  },
}


def _check_name(name: str) -> None:
  if name not in _LAYOUT:
    raise ValueError(f"argument 'name': expected 'cifar10' or 'cifar100', got {name!r}")


def _find(path: str, name: str):
  """(format, directory) of the files of ``name`` in ``path`` or its standard sub-folder."""
  for fmt, (sub, train, test, _) in _LAYOUT[name].items():
    for d in (path, os.path.join(path, sub)):
      if all(os.path.isfile(os.path.join(d, f)) for f in train + test):
        return fmt, d
  expected = "; ".join(
    f"{sub}/{{{', '.join(train + test)}}}" for sub, train, test, _ in _LAYOUT[name].values()
  )
  raise FileNotFoundError(
    f"argument 'path': expected the {name} files in {path!r} (one of: "
    f"{expected}), found none complete"
  )


def _read_py(files: List[str], label_key: bytes):
  images, labels = [], []
  for f in files:
    with open(f, "rb") as fh:
      try:
        d = pickle.load(fh, encoding="bytes")
        images.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(d[label_key], np.int32))
      except Exception as e:
        raise ValueError(
          f"argument 'path': {f!r} is not a CIFAR python batch ({type(e).__name__}: {e})"
        ) from None
  return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)


def _read_bin(files: List[str], label_bytes: int):
  images, labels = [], []
  row = label_bytes + 3072
  for f in files:
    raw = np.fromfile(f, np.uint8)
    if raw.size % row:
      raise ValueError(
        f"argument 'path': {f!r} is not a CIFAR binary batch ({raw.size} bytes is "
        f"not a multiple of the {row}-byte record)"
      )
    raw = raw.reshape(-1, row)
    labels.append(raw[:, label_bytes - 1].astype(np.int32))  # CIFAR-100: coarse, then fine
    images.append(raw[:, label_bytes:].reshape(-1, 3, 32, 32))
  return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)


def load_cifar_files(path: str, name: str = "cifar10") -> Dict[str, np.ndarray]:
  """Reads the distributed CIFAR files (python or binary version) found in ``path``.

  Args:
    path: a directory holding the files, directly or in their standard sub-folder (e.g.
      ``cifar-10-batches-py``).
    name: ``'cifar10'`` or ``'cifar100'``.

  Returns:
    ``{'train_images', 'train_labels', 'test_images', 'test_labels'}``: uint8 (N, 32, 32, 3)
    images and int32 labels (CIFAR-100: the fine labels).

  Raises:
    ValueError: an unknown ``name``, or a file that is not a CIFAR batch.
    FileNotFoundError: ``path`` is not a directory or holds no complete set of files.
  """
  _check_name(name)
  if not path or not os.path.isdir(path):
    raise FileNotFoundError(
      f"argument 'path': expected a directory with the {name} files, got {path!r}"
    )
  fmt, d = _find(path, name)
  _, train, test, label = _LAYOUT[name][fmt]
  read = _read_py if fmt == "py" else _read_bin
  out = {}
  for split, files in (("train", train), ("test", test)):
    out[f"{split}_images"], out[f"{split}_labels"] = read(
      [os.path.join(d, f) for f in files], label
    )
  return out


def load_cifar_tfds(
  name: str = "cifar10", data_dir: Optional[str] = None, num_threads: int = 4
) -> Dict[str, np.ndarray]:
  """A prepared tensorflow-datasets CIFAR, read through the input pipeline (no TensorFlow).

  Args:
    name: ``'cifar10'`` or ``'cifar100'`` (the tfds data set of that name).
    data_dir: the tensorflow-datasets directory (None: tfds' default).
    num_threads: reader threads of the input pipeline.

  Returns:
    The same dict as :func:`load_cifar_files`: uint8 (N, 32, 32, 3) train and test images and
    int32 labels.

  Raises:
    ValueError: an unknown ``name``.
  """
  from rvl_jax.data import pipeline as pl  # pylint: disable=g-import-not-at-top

  _check_name(name)
  out = {}
  for split in ("train", "test"):
    d = pl.load_all(
      pl.tfds_source(name, split, data_dir), [_uint8_example], num_threads=num_threads, chunk=1000
    )
    out[f"{split}_images"], out[f"{split}_labels"] = d["image"], d["label"]
  return out


def _uint8_example(record) -> Dict[str, np.ndarray]:
  return {"image": np.asarray(record["image"], np.uint8), "label": np.int32(record["label"])}
