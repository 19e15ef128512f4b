"""Affine factors of a systematic split: rotation, scale and translation of 2-D images about
their centre, with a training range (interpolation: test values inside it) and values beyond it
(extrapolation), in the spirit of the in-domain generalization benchmark (Schott et al., ICLR
2022, section 3: test factor values outside the training range)."""

from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation

FACTORS = ("rotation", "scale", "translation")


@dataclasses.dataclass(frozen=True)
class AffineRanges:
  """Training range (inside) and the values beyond it (outside) of each affine factor.

  rotation: degrees, inside |r| <= rotation; outside |r| in rotation_out (either sign).
  scale: inside [scale[0], scale[1]]; outside in scale_out_low or scale_out_high.
  translation: pixels per axis, inside |t| <= translation; outside |t| in translation_out.
  """

  rotation: float = 15.0
  rotation_out: Tuple[float, float] = (30.0, 45.0)
  scale: Tuple[float, float] = (0.9, 1.1)
  scale_out_low: Tuple[float, float] = (0.6, 0.75)
  scale_out_high: Tuple[float, float] = (1.25, 1.4)
  translation: float = 2.0
  translation_out: Tuple[float, float] = (4.0, 6.0)


def sample_params(
  rng: np.random.Generator, n: int, ranges: AffineRanges, outside: str = ""
) -> np.ndarray:
  """(n, 4) [rotation deg, scale, tx, ty]: every factor inside its training range, except the
  factor named by ``outside`` ('rotation', 'scale' or 'translation'), drawn beyond it."""
  validation.check_in_choices("outside", outside, ("",) + FACTORS)
  rot = rng.uniform(-ranges.rotation, ranges.rotation, n)
  scale = rng.uniform(*ranges.scale, n)
  shift = rng.uniform(-ranges.translation, ranges.translation, (n, 2))
  sign = lambda shape: rng.choice([-1.0, 1.0], shape)  # noqa: E731
  if outside == "rotation":
    rot = sign(n) * rng.uniform(*ranges.rotation_out, n)
  elif outside == "scale":
    low = rng.uniform(*ranges.scale_out_low, n)
    high = rng.uniform(*ranges.scale_out_high, n)
    scale = np.where(rng.random(n) < 0.5, low, high)
  elif outside == "translation":
    # one axis beyond the range, the other inside it
    axis = rng.integers(0, 2, n)
    far = sign(n) * rng.uniform(*ranges.translation_out, n)
    shift[np.arange(n), axis] = far
  return np.concatenate([rot[:, None], scale[:, None], shift], axis=1).astype(np.float32)


def _warp_one(image, p):
  h, w = image.shape[:2]
  theta = jnp.deg2rad(p[0])
  c, s = jnp.cos(theta), jnp.sin(theta)
  yy, xx = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  # output pixel -> source pixel: inverse of (scale, rotate, then translate)
  u, v = xx - cx - p[2], yy - cy - p[3]
  src_x = (c * u + s * v) / p[1] + cx
  src_y = (-s * u + c * v) / p[1] + cy

  def channel(ch):
    return jax.scipy.ndimage.map_coordinates(ch, [src_y, src_x], order=1, mode="constant", cval=0.0)

  return jnp.stack([channel(image[..., k]) for k in range(image.shape[-1])], axis=-1)


@jax.jit
def warp(images, params):
  """Applies per-image affine params (n, 4) to images (n, H, W, C) (bilinear, zero fill)."""
  return jax.vmap(_warp_one)(jnp.asarray(images, jnp.float32), jnp.asarray(params, jnp.float32))


def transform(
  images, rng: np.random.Generator, ranges: AffineRanges, outside: str = "", batch_size: int = 1000
) -> np.ndarray:
  """Random affine copies of ``images`` (inside the training range, or beyond it in one
  factor)."""
  params = sample_params(rng, len(images), ranges, outside)
  out = [
    np.asarray(warp(images[i : i + batch_size], params[i : i + batch_size]))
    for i in range(0, len(images), batch_size)
  ]
  return np.concatenate(out) if out else np.asarray(images, np.float32)
