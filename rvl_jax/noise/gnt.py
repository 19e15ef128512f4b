"""Gaussian / Speckle noise training batches and the epsilon(sigma) closed form (Rusak et al.
2020, Sec. 3.1 and 3.2).

All noise is added in raw [0, 1] pixel space and clipped before any normalisation.
The batch builders perturb only a fraction of each batch: positions [0, round(B * p_clean))
stay clean (bit-identical), the remaining positions are noisy (reference-code order).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import jax.scipy.stats as jstats
import numpy as np

from rvl_jax.core import batched, validation

GAUSS_MULT_SIGMAS = (0.08, 0.12, 0.18, 0.26, 0.38)  # ImageNet-C Gaussian severities
SPECKLE_SCALES = (0.15, 0.20, 0.35, 0.45, 0.60)  # ImageNet-C speckle severities
NOISE_MODES = ("clean", "gaussian", "gaussian_mult", "speckle")


def num_clean(batch_size: int, p_clean: float = 0.5) -> int:
  """Number of clean images at the front of a batch (Python ``round`` like the reference).

  Args:
    batch_size: images per batch.
    p_clean: fraction of clean images.

  Returns:
    ``round(batch_size * p_clean)``.
  """
  return int(round(batch_size * p_clean))


def _split(images, p_clean):
  n = num_clean(images.shape[0], p_clean)
  return images[:n], images[n:]


def gaussian_noise_batch(key, images, sigma: float, p_clean: float = 0.5):
  """GNT with one sigma (Rusak et al. 2020, Sec. 3.1): clean front part, ``clip(x + sigma z)``
  for the rest.

  Args:
    key: PRNG key of the noise.
    images: (B, H, W, C) images in [0, 1].
    sigma: the noise's standard deviation.
    p_clean: fraction of clean images.

  Returns:
    The batch, same shape as ``images``.
  """
  clean, rest = _split(images, p_clean)
  z = jax.random.normal(key, rest.shape, rest.dtype)
  return jnp.concatenate([clean, jnp.clip(rest + sigma * z, 0.0, 1.0)], axis=0)


def _per_image_noise_batch(key, images, values, p_clean, return_values, perturb):
  """Clean front part; every later image draws one of ``values`` uniformly and is replaced by
  ``clip(perturb(x, value, z))`` with standard normal z. Returns the batch (and the values)."""
  clean, rest = _split(images, p_clean)
  k1, k2 = jax.random.split(key)
  n = rest.shape[0]
  vals = jnp.asarray(values, rest.dtype)
  v = vals[jax.random.randint(k1, (n,), 0, vals.shape[0])].reshape((n,) + (1,) * (rest.ndim - 1))
  z = jax.random.normal(k2, rest.shape, rest.dtype)
  out = jnp.concatenate([clean, jnp.clip(perturb(rest, v, z), 0.0, 1.0)], axis=0)
  return (out, v.reshape(-1)) if return_values else out


def multi_sigma_noise_batch(
  key,
  images,
  sigmas: Sequence[float] = GAUSS_MULT_SIGMAS,
  p_clean: float = 0.5,
  return_sigmas: bool = False,
):
  """GNT with several sigmas (Rusak et al. 2020, Sec. 3.1): each noisy image draws its sigma
  uniformly from ``sigmas``.

  Args:
    key: PRNG key of the draws and the noise.
    images: (B, H, W, C) images in [0, 1].
    sigmas: the candidate standard deviations.
    p_clean: fraction of clean images.
    return_sigmas: also return the sigma of every noisy image.

  Returns:
    The batch (and the (B - num_clean,) sigmas when ``return_sigmas``).
  """
  return _per_image_noise_batch(
    key, images, sigmas, p_clean, return_sigmas, lambda x, s, z: x + s * z
  )


def speckle_noise_batch(
  key,
  images,
  scales: Sequence[float] = SPECKLE_SCALES,
  p_clean: float = 0.5,
  return_scales: bool = False,
):
  """Speckle noise training: ``clip(x + x c z)`` with c drawn per noisy image from ``scales``.

  The arguments and the result are those of `multi_sigma_noise_batch`, with the candidate
  scales c (``scales``, ``return_scales``) in place of the sigmas.
  """
  return _per_image_noise_batch(
    key, images, scales, p_clean, return_scales, lambda x, c, z: x + x * c * z
  )


def noise_batch(
  key,
  images,
  mode: str,
  *,
  sigma: float = 0.5,
  sigmas: Sequence[float] = GAUSS_MULT_SIGMAS,
  scales: Sequence[float] = SPECKLE_SCALES,
  p_clean: float = 0.5,
):
  """A training batch of one of the noise modes.

  Args:
    key: PRNG key.
    images: (B, H, W, C) images in [0, 1].
    mode: one of `NOISE_MODES`: 'clean' (unchanged), 'gaussian', 'gaussian_mult', 'speckle'.
    sigma: sigma of 'gaussian'.
    sigmas: sigmas of 'gaussian_mult'.
    scales: scales of 'speckle'.
    p_clean: fraction of clean images.

  Returns:
    The batch, same shape as ``images``.

  Raises:
    ValueError: an unknown ``mode``.
  """
  validation.check_in_choices("mode", mode, NOISE_MODES)
  if mode == "clean":
    return images
  if mode == "gaussian":
    return gaussian_noise_batch(key, images, sigma, p_clean)
  if mode == "gaussian_mult":
    return multi_sigma_noise_batch(key, images, sigmas, p_clean)
  return speckle_noise_batch(key, images, scales, p_clean)


# ----------------------------------------------------------------------------------------
# epsilon(sigma): expected L2 norm of the *clipped* Gaussian perturbation (sets
# ANT's radius; Rusak et al. 2020, Sec. 3.2)


def expected_clipped_sq_displacement(x, sigma):
  """g(x, sigma) = E[(clip(x + sigma z, 0, 1) - x)^2] per element (closed form).

  Args:
    x: pixel values in [0, 1] (any shape).
    sigma: the noise's standard deviation.

  Returns:
    g, float32 with the shape of ``x``.
  """
  x = jnp.asarray(x, jnp.float32)
  sigma = jnp.asarray(sigma, jnp.float32)
  a = -x / sigma
  b = (1.0 - x) / sigma
  cdf = jstats.norm.cdf
  pdf = jstats.norm.pdf
  inner = sigma**2 * ((cdf(b) - cdf(a)) - (b * pdf(b) - a * pdf(a)))
  return inner + x**2 * cdf(a) + (1.0 - x) ** 2 * (1.0 - cdf(b))


@jax.jit
def expected_clipped_noise_norm(images, sigma):
  """The expected L2 norm of clipped Gaussian noise, ``sqrt(sum_i g(x_i, sigma))`` per image,
  with ``g`` the closed-form ``E (clip(x + sigma z, 0, 1) - x)^2`` of one pixel.

  Args:
    images: (B, ...) in [0, 1].
    sigma: the noise's standard deviation.

  Returns:
    (B,) norms.
  """
  b = images.shape[0]
  g = expected_clipped_sq_displacement(images.reshape(b, -1), sigma)
  return jnp.sqrt(jnp.sum(g, axis=1))


def epsilon_for_sigma(images, sigma: float, batch_size: int = 1024) -> float:
  """epsilon(sigma) averaged over ``images``: the ANT radius matching GNT sigma (Rusak et al.
  2020 match ANT's eps to the norm of the Gaussian noise it replaces).

  Args:
    images: (N, H, W, C) in [0, 1].
    sigma: GNT's sigma.
    batch_size: images per evaluation of the closed form.

  Returns:
    The mean over images of ``expected_clipped_noise_norm``.
  """
  images = np.asarray(images, np.float32)
  norms = batched.batched_apply(
    lambda x: expected_clipped_noise_norm(x, sigma), images, min(batch_size, len(images))
  )
  return float(np.mean(norms))


def monte_carlo_clipped_noise_norm(key, images, sigma: float, num_samples: int = 16):
  """Monte-Carlo estimate of the per-image sqrt(E ||clip(x + sigma z) - x||^2).

  Args:
    key: PRNG key of the samples.
    images: (B, ...) images in [0, 1].
    sigma: the noise's standard deviation.
    num_samples: noise samples per image.

  Returns:
    (B,) estimated norms.
  """
  b = images.shape[0]
  x = jnp.asarray(images, jnp.float32).reshape(b, -1)

  def one(k):
    z = jax.random.normal(k, x.shape)
    return jnp.sum(jnp.square(jnp.clip(x + sigma * z, 0, 1) - x), axis=1)

  sq = jax.lax.map(one, jax.random.split(key, num_samples))
  return jnp.sqrt(jnp.mean(sq, axis=0))
