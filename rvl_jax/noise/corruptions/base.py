"""Wrappers turning per-image corruption functions into batched corruption functions.

Every corruption is exposed as ``fn(key, images, severity) -> images`` for a batch (N, H, W, C)
of float images in [0, 1]. Jit corruptions are compiled once per (image shape, severity)
(the severity is static); host corruptions (JPEG, Canny, spatter-water) run in NumPy/Pillow/
scikit-image and are marked with ``fn.jittable = False``.

``faithful`` (default True) selects what the reference code that made the released data sets
actually computes; where that differs from what the code evidently meant (a NumPy view turning
a swap into a copy, a colour-order slip, a blur along one axis only), ``faithful=False`` gives
the intended behaviour. ``fn.has_intended`` says whether a corruption has such a variant; the
differences are documented per corruption and in docs/noise.md.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation


def _validate(name: str, images, severity, num_severities: int):
  validation.check_images(f"images ({name})", images)
  if not isinstance(severity, (int, np.integer)) or not 1 <= int(severity) <= num_severities:
    raise ValueError(
      f"argument 'severity': expected an integer in [1, {num_severities}] for "
      f"{name!r}, got {severity!r}"
    )


def _check_faithful(faithful):
  if not isinstance(faithful, (bool, np.bool_)):
    raise TypeError(f"argument 'faithful': expected a bool, got {faithful!r}")
  return bool(faithful)


def _attach(fn, name: str, table: tuple, jittable, intended, kind: str):
  fn.__name__ = name
  fn.__doc__ = (
    f"{name} corruption ({kind}): fn(key, images (N,H,W,C) in [0,1], severity "
    f"1..{len(table)}, faithful=True)."
  )
  fn.jittable = jittable
  fn.num_severities = len(table)
  fn.params = table
  fn.has_intended = intended is not None
  return fn


def make_jit_corruption(
  name: str, per_image: Callable, table: Sequence, intended: Optional[Callable] = None
) -> Callable:
  """``per_image(key, image (H, W, C), params) -> image``; ``table[s - 1]`` = params of severity s.

  ``intended``: the same signature, used with ``faithful=False`` (None: no such variant).
  """
  table = tuple(table)

  @functools.partial(jax.jit, static_argnames=("severity", "faithful"))
  def run(key, images, severity: int, faithful: bool = True):
    params = table[severity - 1]
    f = per_image if faithful or intended is None else intended
    keys = jax.random.split(key, images.shape[0])
    out = jax.vmap(lambda k, im: f(k, im, params))(keys, images)
    return jnp.clip(out, 0.0, 1.0).astype(images.dtype)

  def fn(key, images, severity: int = 1, faithful: bool = True):
    _validate(name, images, severity, len(table))
    return run(
      key,
      jnp.asarray(images, jnp.float32),
      severity=int(severity),
      faithful=_check_faithful(faithful),
    )

  fn.compiled = run
  return _attach(fn, name, table, True, intended, "jit")


def numpy_rng(key) -> np.random.Generator:
  """A numpy Generator seeded from a jax PRNG key (host corruptions)."""
  if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  return np.random.default_rng(np.asarray(key, np.uint32).tolist())


def make_host_corruption(
  name: str, per_image: Callable, table: Sequence, intended: Optional[Callable] = None
) -> Callable:
  """``per_image(rng: np.random.Generator, image (H, W, C) np.float32, params) -> image`` (host).

  ``intended``: the same signature, used with ``faithful=False`` (None: no such variant).
  """
  table = tuple(table)

  def fn(key, images, severity: int = 1, faithful: bool = True):
    _validate(name, images, severity, len(table))
    f = per_image if _check_faithful(faithful) or intended is None else intended
    rng = numpy_rng(key)
    imgs = np.asarray(images, np.float32)
    out = np.stack([f(rng, im, table[int(severity) - 1]) for im in imgs]) if len(imgs) else imgs
    return np.clip(out, 0.0, 1.0).astype(np.float32)

  return _attach(fn, name, table, False, intended, "host, NumPy")
