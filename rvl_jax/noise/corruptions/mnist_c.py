"""MNIST-C (Mu & Gilmer 2019): 15 corruptions, each at one fixed severity (spec 7.2).

``CORRUPTIONS[name](key, images (N, 28, 28, 1), severity=1)``; every function also works for
other image sizes (geometry is defined about the image centre). 14 corruptions are pure jit
functions; ``canny_edges`` runs on the host through scikit-image. Motion blur is the portable
approximation of ImageMagick's (spec 12.15).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.noise.corruptions import ops
from rvl_jax.noise.corruptions.base import make_host_corruption, make_jit_corruption

ORDER = ('shot_noise', 'impulse_noise', 'glass_blur', 'motion_blur', 'shear', 'scale', 'rotate',
         'brightness', 'translate', 'stripe', 'fog', 'spatter', 'dotted_line', 'zigzag',
         'canny_edges')


def _shot(key, x, c):
  if c <= 60:  # inversion sampler (x <= 1 so lam <= c); exact up to a < 1e-9 tail
    return ops.poisson_small(key, x * c, float(c)) / c
  return jax.random.poisson(key, x * c).astype(x.dtype) / c


def _impulse(key, x, a):
  return ops.salt_and_pepper(key, x, a)


def _glass(key, x, p):
  sigma, d, iters, prob = p
  k1 = key
  y = ops.quantize_u8(ops.gaussian_filter(x, sigma, mode='nearest'))
  y = ops.glass_swaps(y, k1, d, iters, swap_prob=prob)
  return ops.gaussian_filter(y / 255.0, sigma, mode='nearest')


def _motion(key, x, p):
  radius, sigma = p
  return ops.motion_blur(x, key, radius, sigma, angle_range=(-45.0, 45.0))


def _center(x):
  h, w = x.shape[:2]
  return (w - 1) / 2.0, (h - 1) / 2.0


def _centered_affine(x, a):
  """skimage AffineTransform + MNIST-C centring: translation c (1 - row sum)."""
  cx, cy = _center(x)
  t0 = cx - (a[0, 0] * cx + a[0, 1] * cy)
  t1 = cy - (a[1, 0] * cx + a[1, 1] * cy)
  m = jnp.stack([jnp.stack([a[0, 0], a[0, 1], t0]), jnp.stack([a[1, 0], a[1, 1], t1])])
  return ops.affine_warp(x, m, mode='constant')


def _random_sign(key):
  return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)


def _shear(key, x, s):
  s = s * _random_sign(key)
  a = jnp.array([[1.0, 0.0], [0.0, 1.0]]).at[0, 1].set(-jnp.sin(s)).at[1, 1].set(jnp.cos(s))
  return _centered_affine(x, a)


def _scale(key, x, s):
  del key
  return _centered_affine(x, jnp.array([[s, 0.0], [0.0, s]]))


def _rotate(key, x, r):
  r = r * _random_sign(key)
  a = jnp.stack([jnp.stack([jnp.cos(r), -jnp.sin(r)]), jnp.stack([jnp.sin(r), jnp.cos(r)])])
  return _centered_affine(x, a)


def _brightness(key, x, c):
  del key
  return ops.adjust_value(x, c)


def _translate(key, x, c):
  signs = jnp.where(jax.random.bernoulli(key, shape=(2,)), 1.0, -1.0) * c
  m = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).at[0, 2].set(signs[0]).at[1, 2].set(signs[1])
  return ops.affine_warp(x, m, mode='constant')


def _stripe(key, x, width_frac):
  del key
  w = x.shape[1]
  k = int(round(w * width_frac))
  cols = np.arange(w)
  mask = jnp.asarray(((cols < k) | (cols >= w - k)).astype(np.float32))[None, :, None]
  return mask * (1 - x) + (1 - mask) * x


def _fog(key, x, p):
  t, decay, mapsize = p
  h, w = x.shape[:2]
  size = max(mapsize, ops.next_pow2(max(h, w)))
  f = ops.plasma_fractal(key, size, decay)[:h, :w, None]
  m = jnp.max(x)
  return (x + t * f) * m / (m + t)


def spatter_mud(key, x, p, color):
  mu, s, b, thr, k = p
  h, w = x.shape[:2]
  layer = mu + s * jax.random.normal(key, (h, w, 1))
  layer = ops.gaussian_filter(layer, b, mode='nearest')
  mask = (layer > thr).astype(x.dtype)
  m = ops.gaussian_filter(mask, k, mode='nearest')
  m = jnp.where(m < 0.8, 0.0, m)
  col = jnp.asarray(color, x.dtype)[: x.shape[-1]]
  if x.shape[-1] == 1:
    col = jnp.asarray([color[0]], x.dtype)
  return x * (1 - m) + m * col


def _spatter(key, x, p):
  return spatter_mud(key, x, p, (63 / 255.0, 63 / 255.0, 63 / 255.0))


def _line_intensity(d, width=2.3):
  d = jnp.minimum(d, width)
  return jnp.clip(1 + jnp.log(jnp.maximum(1 - d / width, 1e-12)), 0, 1)


def _dotted_line(key, x, p):
  del p
  h, w = x.shape[:2]
  r = jax.random.randint(key, (2,), 0, h - 1).astype(jnp.float32)
  cols = jnp.arange(w, dtype=jnp.float32)
  rows = jnp.arange(h, dtype=jnp.float32)
  y_line = r[0] + (r[1] - r[0]) * cols / (w - 1)
  d = jnp.abs(rows[:, None] - y_line[None, :])
  line = _line_intensity(d)
  keep = jnp.asarray(((np.arange(w) // 2) % 2 == 1).astype(np.float32))[None, :]
  return jnp.clip(x + (line * keep)[..., None], 0, 1)


def _segment_distance(px, py, ax, ay, bx, by):
  vx, vy = bx - ax, by - ay
  l2 = jnp.maximum(vx * vx + vy * vy, 1e-12)
  t = jnp.clip(((px - ax) * vx + (py - ay) * vy) / l2, 0, 1)
  return jnp.hypot(px - (ax + t * vx), py - (ay + t * vy))


def _zigzag(key, x, p):
  seg_len, amp = p
  h, w = x.shape[:2]
  k1, k2 = jax.random.split(key)
  r0 = jax.random.randint(k1, (), 0, h).astype(jnp.float32)
  r1 = r0 + jax.random.randint(k2, (), -5, 5).astype(jnp.float32)
  c0, c1 = 2.0 * w / 28, (w - 3) * 1.0
  length = jnp.hypot(c1 - c0, r1 - r0)
  ux, uy = (c1 - c0) / length, (r1 - r0) / length
  nx, ny = -uy, ux
  kmax = int(math.ceil(math.hypot(w, h) / seg_len)) + 2
  k = jnp.arange(kmax, dtype=jnp.float32)
  t = jnp.minimum(k * seg_len, length)
  sign = jnp.where(k % 2 == 0, -0.5, 0.5) * amp
  vx = c0 + t * ux + sign * nx
  vy = r0 + t * uy + sign * ny
  valid = (k[:-1] * seg_len) < length
  py, px = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing='ij')
  d = jax.vmap(lambda ax, ay, bx, by: _segment_distance(px, py, ax, ay, bx, by))(
      vx[:-1], vy[:-1], vx[1:], vy[1:])
  d = jnp.where(valid[:, None, None], d, 1e6).min(axis=0)
  return jnp.clip(x + _line_intensity(d)[..., None], 0, 1)


def _canny_host(rng, x, p):
  del rng
  from skimage import feature  # host-side step
  sigma = p
  chans = [feature.canny(x[..., c].astype(np.float64), sigma=sigma).astype(np.float32)
           for c in range(x.shape[-1])]
  return np.stack(chans, axis=-1)


# Fixed MNIST-C parameters (one severity each).
PARAMS = {
    'shot_noise': 3.0,
    'impulse_noise': 0.17,
    'glass_blur': (0.7, 1, 2, 0.5),
    'motion_blur': (10, 3.0),
    'shear': 0.4,
    'scale': 1 / 0.7,
    'rotate': 0.4,
    'brightness': 0.5,
    'translate': 3.0,
    'stripe': 7 / 28,
    'fog': (3.0, 1.4, 256),
    'spatter': (0.65, 0.3, 1.0, 0.65, 1.5),
    'dotted_line': None,
    'zigzag': (2.0, 2.0),
    'canny_edges': 1.0,
}

_PER_IMAGE = {
    'shot_noise': _shot, 'impulse_noise': _impulse, 'glass_blur': _glass, 'motion_blur': _motion,
    'shear': _shear, 'scale': _scale, 'rotate': _rotate, 'brightness': _brightness,
    'translate': _translate, 'stripe': _stripe, 'fog': _fog, 'spatter': _spatter,
    'dotted_line': _dotted_line, 'zigzag': _zigzag,
}

CORRUPTIONS = {name: make_jit_corruption(name, fn, (PARAMS[name],)) for name, fn in _PER_IMAGE.items()}
CORRUPTIONS['canny_edges'] = make_host_corruption('canny_edges', _canny_host, (PARAMS['canny_edges'],))
CORRUPTIONS = {name: CORRUPTIONS[name] for name in ORDER}
IS_JITTABLE = {name: fn.jittable for name, fn in CORRUPTIONS.items()}
HOLDOUT = {}
