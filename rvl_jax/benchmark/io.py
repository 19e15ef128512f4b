"""Reading and writing benchmark files.

* The authors' split files: ``{dataset}_{variant}_{mode}_images.npz`` and
  ``{dataset}_{variant}_{mode}_labels.npz``, each with the array under key ``arr_0``; images
  channel-first (N, C, 64, 64), labels integer factor indices (N, n_factors).
  Image dtype rule on reading: uint8 with max <= 1 -> {0, 1}; other uint8 -> / 255;
  floats unchanged. :func:`save_split_npz` writes uint8 0..255 CHW so the reference
  PyTorch loader reads the files unchanged.
* Full-grid files: the original dSprites npz, Shapes3D ``3dshapes.h5``
  (needs the optional ``h5py`` package) and MPI3D ``mpi3d_real.npz`` (or a ``.npy``
  array, which is memory-mapped).

Nothing here downloads anything: all paths are user-provided.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from rvl_jax.benchmark import datasets
from rvl_jax.core import io as rio

FULL_GRID_FILES = {
  "dsprites": ("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",),
  "shapes3d": ("3dshapes.h5", "3dshapes.npy"),
  "mpi3d": ("mpi3d_real.npy", "mpi3d_real.npz"),
}


def split_file_paths(directory: str, name: str, variant: str, mode: str) -> Tuple[str, str]:
  stem = os.path.join(directory, f"{name}_{variant}_{mode}")
  return stem + "_images.npz", stem + "_labels.npz"


def has_split_files(directory: Optional[str], name: str, variant: str, mode: str) -> bool:
  if not directory:
    return False
  return all(os.path.exists(p) for p in split_file_paths(directory, name, variant, mode))


def images_to_float(images: np.ndarray, binary: Optional[bool] = None) -> np.ndarray:
  """Apply the dtype rule of the authors' loader to an image array (any layout).

  ``binary`` (for uint8 input) says whether values are {0, 1}; None decides from this
  array's maximum (decide once per file and pass it for per-batch conversion).
  """
  images = np.asarray(images)
  if images.dtype == np.uint8:
    if binary is None:
      binary = bool(images.size) and int(images.max()) <= 1
    if binary:
      return images.astype(np.float32)
    return images.astype(np.float32) / 255.0
  if np.issubdtype(images.dtype, np.floating):
    return images.astype(np.float32)
  if images.dtype == bool:
    return images.astype(np.float32)
  raise TypeError(f"images: expected uint8, bool or float dtype, got {images.dtype}")


def load_split_npz(directory: str, name: str, variant: str, mode: str):
  """Read one pair of reference split files.

  Returns ``(images, labels)``: images as stored, converted to NHWC (uint8 stays uint8 so
  large files stay compact; use :func:`images_to_float` per batch), labels int64 (N, F).
  """
  spec = datasets.get_spec(name)
  img_path, lab_path = split_file_paths(directory, name, variant, mode)
  for p in (img_path, lab_path):
    if not os.path.exists(p):
      raise FileNotFoundError(f"split file not found: {p}")
  with np.load(img_path) as z:
    images = z["arr_0"]
  with np.load(lab_path) as z:
    labels = np.asarray(z["arr_0"])
  if images.ndim == 3:  # (N, H, W) single channel
    images = images[:, None]
  if images.ndim != 4 or images.shape[1] != spec.channels:
    raise ValueError(f"{img_path}: expected images (N, {spec.channels}, H, W), got {images.shape}")
  if labels.shape != (images.shape[0], spec.num_factors):
    raise ValueError(
      f"{lab_path}: expected labels ({images.shape[0]}, {spec.num_factors}), got {labels.shape}"
    )
  if np.issubdtype(labels.dtype, np.floating):
    if not np.allclose(labels, np.round(labels)):
      raise ValueError(f"{lab_path}: expected integer factor indices, got non-integer floats")
  labels = np.round(labels).astype(np.int64)
  return np.transpose(images, (0, 2, 3, 1)), labels


def _atomic_savez(path: str, array: np.ndarray):
  with rio.atomic_write(path, "wb") as f:
    np.savez_compressed(f, array)


def save_split_npz(directory: str, name: str, variant: str, mode: str, images, labels):
  """Write a split file pair in the reference format.

  Args:
    images: NHWC float in [0, 1] or uint8 (stored as uint8 0..255, channel-first).
    labels: integer factor indices (N, F).
  """
  spec = datasets.get_spec(name)
  images = np.asarray(images)
  labels = np.asarray(labels)
  if images.ndim != 4 or images.shape[-1] != spec.channels:
    raise ValueError(f"argument 'images': expected (N, H, W, {spec.channels}), got {images.shape}")
  if labels.shape != (len(images), spec.num_factors):
    raise ValueError(
      f"argument 'labels': expected ({len(images)}, {spec.num_factors}), got {labels.shape}"
    )
  if images.dtype != np.uint8:
    images = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
  img_path, lab_path = split_file_paths(directory, name, variant, mode)
  _atomic_savez(img_path, np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))))
  _atomic_savez(lab_path, labels.astype(np.int64))
  return img_path, lab_path


def find_full_grid(directory: Optional[str], name: str) -> Optional[str]:
  if not directory:
    return None
  for fname in FULL_GRID_FILES.get(name, ()):
    p = os.path.join(directory, fname)
    if os.path.exists(p):
      return p
  return None


class FullGrid:
  """Lazy access to a full-grid image array in row-major factor order.

  ``images(indices) -> float32 NHWC`` reads only the requested rows where the format allows
  (``.npy`` memory-mapped, ``.h5`` via h5py); ``.npz`` files are loaded once into memory.
  """

  def __init__(self, name: str, path: str):
    self.spec = datasets.get_spec(name)
    self.path = path
    self._h5 = None
    if path.endswith(".h5"):
      try:
        import h5py  # pylint: disable=import-outside-toplevel
      except ImportError as e:
        raise ImportError(
          "reading Shapes3D .h5 files needs the optional package h5py (pip install h5py)"
        ) from e
      self._h5 = h5py.File(path, "r")
      self._array = self._h5["images"]
    elif path.endswith(".npy"):
      self._array = np.load(path, mmap_mode="r")
    elif path.endswith(".npz"):
      with np.load(path) as z:
        key = "imgs" if "imgs" in z.files else ("images" if "images" in z.files else z.files[0])
        self._array = z[key]
        if name == "dsprites" and "latents_classes" in z.files:
          lat = np.asarray(z["latents_classes"])[:, 1:]  # drop the constant colour column
          expect = datasets.full_grid_factors(self.spec.factor_sizes)
          if lat.shape != expect.shape or not np.array_equal(lat, expect):
            raise ValueError(f"{path}: latents_classes are not in row-major grid order")
    else:
      raise ValueError(f"argument 'path': expected a .npz, .npy or .h5 file, got {path!r}")
    if self._array.shape[0] != self.spec.num_images:
      raise ValueError(
        f"{path}: expected {self.spec.num_images} images, got {self._array.shape[0]}"
      )

  def images(self, indices) -> np.ndarray:
    indices = np.asarray(indices, np.int64)
    if self._h5 is not None:  # h5py needs increasing, unique indices
      uniq, inv = np.unique(indices, return_inverse=True)
      raw = np.asarray(self._array[uniq])[inv]
    else:
      raw = np.asarray(self._array[indices])
    if raw.ndim == 3:
      raw = raw[..., None]
    return images_to_float(raw, binary=self.spec.name.startswith("dsprites"))


def load_full_grid(name: str, path: str) -> FullGrid:
  return FullGrid(name, path)
