"""Small-image geometric augmentation as pure JAX functions (jit- and vmap-friendly).

``elastic_affine`` draws, per image, a random rotation and isotropic scaling about the image
centre plus a smooth elastic displacement field (Simard et al., 2003: uniform noise in [-1, 1]
smoothed by a Gaussian of width ``sigma`` and scaled by ``alpha`` pixels), and resamples the
image bilinearly with zero fill. It is off unless a caller asks for it; the ABS VAEs use it only
as a labelled deviation for training on a few hundred images per class.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class ElasticAffine:
  """Strengths of the random affine + elastic augmentation (Simard et al. 2003, Sec. 2).

  Each transformed image gets a rotation, an isotropic scale and a shift drawn uniformly from the
  ranges below, followed by an elastic displacement: a uniform random field in [-1, 1] per pixel
  and axis, smoothed with a Gaussian of width ``sigma`` and scaled by ``alpha``.

  Attributes:
    max_rotation_deg: Rotation drawn uniformly from [-max_rotation_deg, max_rotation_deg] degrees.
    max_scale: Scale factor drawn from [1 - max_scale, 1 + max_scale]; must be below 1.
    max_shift: Shift in pixels drawn from [-max_shift, max_shift] per axis.
    alpha: Amplitude of the elastic displacement (pixels, before smoothing).
    sigma: Width in pixels of the Gaussian that smooths the displacement field.
    probability: Chance that an image is transformed at all (the others pass unchanged).

  Raises:
    ValueError: naming the field, when a strength is negative, ``max_scale >= 1`` or
      ``probability`` lies outside [0, 1].
  """

  max_rotation_deg: float = 8.0
  max_scale: float = 0.08  # scale factor drawn from [1 - max_scale, 1 + max_scale]
  max_shift: float = 0.0  # pixels, uniform in [-max_shift, max_shift] per axis
  alpha: float = 20.0  # elastic displacement amplitude (pixels before smoothing)
  sigma: float = 4.0  # Gaussian width of the displacement field (pixels)
  probability: float = 1.0

  def __post_init__(self):
    for name in ("max_rotation_deg", "max_scale", "max_shift", "alpha", "sigma"):
      if getattr(self, name) < 0:
        raise ValueError(f"argument '{name}': expected >= 0, got {getattr(self, name)}")
    if not 0.0 <= self.probability <= 1.0:
      raise ValueError(
        f"argument 'probability': expected a value in [0, 1], got {self.probability}"
      )
    if self.max_scale >= 1:
      raise ValueError(f"argument 'max_scale': expected < 1, got {self.max_scale}")


def _gaussian_kernel(sigma: float) -> jnp.ndarray:
  radius = max(1, int(math.ceil(3 * sigma)))
  t = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  k = jnp.exp(-0.5 * (t / max(sigma, 1e-6)) ** 2)
  return k / jnp.sum(k)


def _smooth(field: jnp.ndarray, sigma: float) -> jnp.ndarray:
  """Separable Gaussian blur of an (H, W) field with zero padding."""
  k = _gaussian_kernel(sigma)
  field = jax.vmap(lambda r: jnp.convolve(r, k, mode="same"))(field)
  return jax.vmap(lambda c: jnp.convolve(c, k, mode="same"), in_axes=1, out_axes=1)(field)


def _one(key, image, cfg: ElasticAffine):
  h, w, ch = image.shape
  k_rot, k_scale, k_shift, k_dx, k_dy, k_apply = jax.random.split(key, 6)
  theta = jnp.deg2rad(cfg.max_rotation_deg) * jax.random.uniform(k_rot, (), minval=-1.0, maxval=1.0)
  scale = 1.0 + cfg.max_scale * jax.random.uniform(k_scale, (), minval=-1.0, maxval=1.0)
  shift = cfg.max_shift * jax.random.uniform(k_shift, (2,), minval=-1.0, maxval=1.0)
  rows, cols = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  # Output pixel (r, c) samples the input at the inverse-transformed location.
  y, x = (rows - cy - shift[0]) / scale, (cols - cx - shift[1]) / scale
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  src_r = cos * y - sin * x + cy
  src_c = sin * y + cos * x + cx
  if cfg.alpha > 0:
    src_r = src_r + cfg.alpha * _smooth(
      jax.random.uniform(k_dy, (h, w), minval=-1.0, maxval=1.0), cfg.sigma
    )
    src_c = src_c + cfg.alpha * _smooth(
      jax.random.uniform(k_dx, (h, w), minval=-1.0, maxval=1.0), cfg.sigma
    )
  sample = lambda chan: jax.scipy.ndimage.map_coordinates(
    chan, [src_r, src_c], order=1, mode="constant", cval=0.0
  )
  out = jnp.stack([sample(image[..., i]) for i in range(ch)], axis=-1)
  apply = jax.random.uniform(k_apply, ()) < cfg.probability
  return jnp.where(apply, out, image).astype(image.dtype)


def elastic_affine(key: jax.Array, images: jnp.ndarray, cfg: ElasticAffine = ElasticAffine()):
  """Augments a batch (N, H, W, C); one independent transform per image. Values are
  interpolated, so images in [0, 1] stay in [0, 1].

  Args:
    key: a JAX PRNG key; it is split into one key per image.
    images: the batch, (N, H, W, C).
    cfg: the augmentation strengths (rotation, scaling, shift, elastic ``alpha``/``sigma`` as in
      Simard et al. 2003, and the chance ``probability`` that an image is transformed at all).

  Returns:
    The augmented batch, same shape and dtype as ``images``: each image rotated and scaled about
    its centre, shifted, elastically displaced and resampled bilinearly with zero fill (or left
    as it was, with chance ``1 - probability``).

  Raises:
    ValueError: ``images`` is not 4-D.
  """
  if images.ndim != 4:
    raise ValueError(f"argument 'images': expected shape (N, H, W, C), got {images.shape}")
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(lambda k, im: _one(k, im, cfg))(keys, images)
