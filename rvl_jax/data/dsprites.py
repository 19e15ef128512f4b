"""dSprites: a jit-compiled procedural renderer (the offline default) and loaders for the real data.

The procedural renderer ("dSprites-procedural") draws binary 64x64 sprites on the exact factor grid of
dSprites: shape 3 (square, ellipse, heart) x scale 6 x orientation 40 x x-position 32 x y-position 32
= 737,280 images, each addressable by its row-major index and rendered on the fly. It is an
approximation of DeepMind's pixels, not a copy: results on it are labelled "dSprites-procedural" and
are not comparable with numbers on the official file.

Geometry (pixel centres at k + 0.5, row = y, column = x):
  centre   c = m + pos * (64 - 2 m) per axis, pos = index / 31, margin m = 13 px
  size     s = scale * 9 px, scale in linspace(0.5, 1, 6)
  angle    theta in linspace(0, 2 pi, 40) (both endpoints kept: index 0 and 39 coincide, as in the
           original data, which keeps the real orientation ambiguity)
  u = R(-theta) (p - c) / s, and the pixel is on when
    square   |u1| <= 1 and |u2| <= 1
    ellipse  (u1 / 1.25)^2 + (u2 / 0.62)^2 <= 1
    heart    a = u1 / 1.15, b = -u2 / 1.15 + 0.25, (a^2 + b^2 - 1)^3 - a^2 b^3 <= 0
Every sprite lies within 16 px of its centre, so each image is evaluated only on a 32x32 window
around its centre and pasted into the canvas (bit-identical to evaluating the full canvas).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation
from rvl_jax.data import ground_truth

FACTOR_NAMES = ("shape", "scale", "orientation", "x-position", "y-position")
FACTOR_SIZES = (3, 6, 40, 32, 32)
CATEGORICAL = (True, False, False, False, False)
SHAPES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64
WINDOW = 32
MARGIN = 13.0
BASE_SIZE = 9.0
OFFICIAL_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


def _inside(shape_id: jnp.ndarray, u1: jnp.ndarray, u2: jnp.ndarray) -> jnp.ndarray:
  square = (jnp.abs(u1) <= 1.0) & (jnp.abs(u2) <= 1.0)
  ellipse = (u1 / 1.25) ** 2 + (u2 / 0.62) ** 2 <= 1.0
  a = u1 / 1.15
  b = -u2 / 1.15 + 0.25
  heart = (a * a + b * b - 1.0) ** 3 - a * a * b**3 <= 0.0
  return jnp.where(shape_id == 0, square, jnp.where(shape_id == 1, ellipse, heart))


def _render_one(factors: jnp.ndarray) -> jnp.ndarray:
  shape_id, scale_i, orient_i, x_i, y_i = (factors[k] for k in range(5))
  scale = 0.5 + 0.1 * scale_i.astype(jnp.float32)
  theta = orient_i.astype(jnp.float32) * jnp.float32(2 * np.pi / 39)
  span = IMAGE_SIZE - 2 * MARGIN
  cx = MARGIN + x_i.astype(jnp.float32) / 31.0 * span
  cy = MARGIN + y_i.astype(jnp.float32) / 31.0 * span
  size = scale * BASE_SIZE
  # 32x32 window holding the whole sprite, clipped to the canvas.
  ox = jnp.clip(jnp.round(cx).astype(jnp.int32) - WINDOW // 2, 0, IMAGE_SIZE - WINDOW)
  oy = jnp.clip(jnp.round(cy).astype(jnp.int32) - WINDOW // 2, 0, IMAGE_SIZE - WINDOW)
  k = jnp.arange(WINDOW, dtype=jnp.float32) + 0.5
  dx = (ox.astype(jnp.float32) + k)[None, :] - cx
  dy = (oy.astype(jnp.float32) + k)[:, None] - cy
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  u1 = (cos * dx + sin * dy) / size
  u2 = (-sin * dx + cos * dy) / size
  window = _inside(shape_id, u1, u2).astype(jnp.float32)
  canvas = jnp.zeros((IMAGE_SIZE, IMAGE_SIZE), jnp.float32)
  return jax.lax.dynamic_update_slice(canvas, window, (oy, ox))


@jax.jit
def render(factors: jnp.ndarray) -> jnp.ndarray:
  """Renders factor indices (n, 5) int -> binary images (n, 64, 64, 1) float32. Jit-compiled.

  Inside jit only shapes are checked; use :class:`ProceduralDSprites` for validated host calls.

  Args:
    factors: (n, 5) integer indices on the dSprites grid, columns shape, scale, orientation,
      x-position, y-position (sizes ``FACTOR_SIZES``); values are not range-checked here.

  Returns:
    (n, 64, 64, 1) float32 images with values 0 or 1 (the geometry of the module docstring).
  """
  return jax.vmap(_render_one)(factors.astype(jnp.int32))[..., None]


def _bucket(n: int, max_batch: int) -> int:
  """Pads batch sizes to powers of two (>= 16) so repeated calls hit a few compiled shapes."""
  return min(max(16, 1 << (max(n, 1) - 1).bit_length()), max_batch)


class ProceduralDSprites(ground_truth.GroundTruthData):
  """Procedural dSprites on the full 737,280-image grid (see the module docstring).

  Args:
    orientation_range: 'full' (40 values over [0, 2 pi]) or 'quarter' (the benchmark's [0, 90)
      ablation: orientation indices 0-9 of the 40-value grid).
    max_batch: largest batch rendered in one jitted call (memory bound for big requests).
  """

  name = "dsprites-procedural"
  factor_names = FACTOR_NAMES
  categorical = CATEGORICAL
  image_shape = (IMAGE_SIZE, IMAGE_SIZE, 1)

  def __init__(self, orientation_range: str = "full", max_batch: int = 4096):
    if orientation_range not in ("full", "quarter"):
      raise ValueError(
        f"argument 'orientation_range': expected 'full' or 'quarter', got {orientation_range!r}"
      )
    self.orientation_range = orientation_range
    self.max_batch = max_batch
    if orientation_range == "full":
      self.factor_sizes = FACTOR_SIZES
    else:
      self.factor_sizes = (3, 6, 10, 32, 32)
      self.name = "dsprites-procedural-quarter"

  def _render_factors(self, factors: np.ndarray) -> np.ndarray:
    # The quarter variant keeps orientation indices 0-9 of the 40-value grid, so the same
    # renderer serves both.
    return np.asarray(render(jnp.asarray(factors, jnp.int32)))

  def images_from_factors(self, factors: Any) -> np.ndarray:
    factors = self.validate_factors(factors)
    n = factors.shape[0]
    out = np.empty((n,) + self.image_shape, np.float32)
    start = 0
    while start < n:
      chunk = factors[start : start + self.max_batch]
      size = _bucket(len(chunk), self.max_batch)
      padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), 0)], 0)
      out[start : start + len(chunk)] = self._render_factors(padded)[: len(chunk)]
      start += len(chunk)
    return out


def _check_file(path: str) -> str:
  if not path:
    raise ValueError(
      "argument 'path': expected the path of the dSprites .npz file, got an empty value"
    )
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"argument 'path': dSprites file not found at {path!r}; expected the official "
      f"'{OFFICIAL_FILENAME}' (keys 'imgs', 'latents_classes'). Use source='procedural' to render "
      "sprites offline instead."
    )
  return path


class DSpritesFile(ground_truth.ArrayGroundTruthData):
  """The official dSprites npz (or any npz with 'imgs' and 'latents_classes' on a full grid).

  The constant colour column of ``latents_classes`` is dropped; factor sizes are read from the file
  (the official file gives 3, 6, 40, 32, 32). Rows are re-ordered into row-major grid order if needed.

  Args:
    path: the npz file.

  Raises:
    FileNotFoundError, KeyError, ValueError: naming 'path' for a missing file, a missing array or
      an incomplete grid.
  """

  def __init__(self, path: str):
    data = np.load(_check_file(path), allow_pickle=False)
    for key in ("imgs", "latents_classes"):
      if key not in data.files:
        raise KeyError(f"argument 'path': {path!r} has no array '{key}' (found {data.files})")
    latents = np.asarray(data["latents_classes"]).astype(np.int64)
    if latents.ndim != 2 or latents.shape[1] not in (5, 6):
      raise ValueError(
        f"argument 'path': 'latents_classes' must have shape (N, 6) or (N, 5), got {latents.shape}"
      )
    if latents.shape[1] == 6:
      latents = latents[:, 1:]
    sizes = tuple(int(k) for k in latents.max(axis=0) + 1)
    images = data["imgs"]
    index = ground_truth.factors_to_index(sizes, latents)
    if not np.array_equal(index, np.arange(len(index))):
      if len(np.unique(index)) != int(np.prod(sizes)):
        raise ValueError(
          f"argument 'path': {path!r} is not a complete factor grid of sizes {sizes}"
        )
      images = np.asarray(images)[np.argsort(index)]
    super().__init__(images, sizes, FACTOR_NAMES, CATEGORICAL, name="dsprites", binary=True)


def load_dsprites(
  source: str = "auto", path: Optional[str] = None, data_dir: Optional[str] = None
) -> ground_truth.GroundTruthData:
  """One entry point for dSprites.

  Args:
    source: 'procedural' (offline renderer), 'file' (the official npz at ``path``), 'tfds'
      (tensorflow-datasets 'dsprites' prepared in ``data_dir``; never downloads), or 'auto':
      the file if ``path`` exists, else tfds if prepared, else procedural.
    path: the official npz file ('file', 'auto').
    data_dir: the tensorflow-datasets directory ('tfds', 'auto').

  Returns:
    A GroundTruthData whose ``name`` says which source was used.

  Raises:
    ValueError: naming 'source' for an unknown source.
    FileNotFoundError: naming 'path' or 'data_dir' when the requested source is missing.
  """
  validation.check_in_choices("source", source, ("auto", "procedural", "file", "tfds"))
  if source == "procedural":
    return ProceduralDSprites()
  if source == "file" or (source == "auto" and path and os.path.exists(path)):
    return DSpritesFile(path)
  if source in ("tfds", "auto"):
    try:
      return _load_tfds(data_dir)
    except FileNotFoundError:  # not prepared: 'auto' renders procedurally
      if source == "tfds":
        raise
  return ProceduralDSprites()


def _load_tfds(data_dir: Optional[str]) -> ground_truth.GroundTruthData:
  import tensorflow_datasets as tfds

  try:
    builder = tfds.builder("dsprites", data_dir=data_dir)
    if not builder.is_prepared():
      raise FileNotFoundError(
        f"argument 'data_dir': tfds 'dsprites' is not prepared in {builder.data_dir!r}; "
        "prepare it on a machine with internet (tfds build dsprites) or pass the official npz file"
      )
  except FileNotFoundError:
    raise
  except Exception as e:
    raise FileNotFoundError(f"argument 'data_dir': tfds 'dsprites' unavailable ({e})") from e
  ds = builder.as_data_source(split="train")
  keys = ("label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position")
  n = len(ds)
  images = np.zeros((n, 64, 64), np.uint8)
  latents = np.zeros((n, 5), np.int64)
  for i in range(n):
    example = ds[i]
    images[i] = np.asarray(example["image"])[..., 0]
    latents[i] = [int(example[k]) for k in keys]
  sizes = tuple(int(k) for k in latents.max(0) + 1)
  images = images[np.argsort(ground_truth.factors_to_index(sizes, latents))]
  return ground_truth.ArrayGroundTruthData(
    images, sizes, FACTOR_NAMES, CATEGORICAL, name="dsprites-tfds", binary=True
  )
