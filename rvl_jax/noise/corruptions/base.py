"""Wrappers turning per-image corruption functions into batched corruption functions.

Every corruption is exposed as ``fn(key, images, severity) -> images`` for a batch (N, H, W, C)
of float images in [0, 1]. Jit corruptions are compiled once per (image shape, severity)
(the severity is static); host corruptions (JPEG, Canny, spatter-water) run in NumPy/Pillow/
scikit-image and are marked with ``fn.jittable = False``.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation


def _validate(name: str, images, severity, num_severities: int):
  validation.check_images(f'images ({name})', images)
  if not isinstance(severity, (int, np.integer)) or not 1 <= int(severity) <= num_severities:
    raise ValueError(f"argument 'severity': expected an integer in [1, {num_severities}] for "
                     f"{name!r}, got {severity!r}")


def make_jit_corruption(name: str, per_image: Callable, table: Sequence) -> Callable:
  """``per_image(key, image (H, W, C), params) -> image``; ``table[s - 1]`` = params of severity s."""
  table = tuple(table)

  @functools.partial(jax.jit, static_argnames=('severity',))
  def run(key, images, severity: int):
    params = table[severity - 1]
    keys = jax.random.split(key, images.shape[0])
    out = jax.vmap(lambda k, im: per_image(k, im, params))(keys, images)
    return jnp.clip(out, 0.0, 1.0).astype(images.dtype)

  def fn(key, images, severity: int = 1):
    _validate(name, images, severity, len(table))
    return run(key, jnp.asarray(images, jnp.float32), severity=int(severity))

  fn.__name__ = name
  fn.__doc__ = f'{name} corruption (jit): fn(key, images (N,H,W,C) in [0,1], severity 1..{len(table)}).'
  fn.jittable = True
  fn.num_severities = len(table)
  fn.params = table
  fn.compiled = run
  return fn


def numpy_rng(key) -> np.random.Generator:
  """A numpy Generator seeded from a jax PRNG key (host corruptions)."""
  if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  return np.random.default_rng(np.asarray(key, np.uint32).tolist())


def make_host_corruption(name: str, per_image: Callable, table: Sequence) -> Callable:
  """``per_image(rng: np.random.Generator, image (H, W, C) np.float32, params) -> image`` (host)."""
  table = tuple(table)

  def fn(key, images, severity: int = 1):
    _validate(name, images, severity, len(table))
    rng = numpy_rng(key)
    imgs = np.asarray(images, np.float32)
    out = np.stack([per_image(rng, im, table[int(severity) - 1]) for im in imgs]) if len(imgs) else imgs
    return np.clip(out, 0.0, 1.0).astype(np.float32)

  fn.__name__ = name
  fn.__doc__ = f'{name} corruption (host, NumPy): fn(key, images, severity 1..{len(table)}).'
  fn.jittable = False
  fn.num_severities = len(table)
  fn.params = table
  return fn
