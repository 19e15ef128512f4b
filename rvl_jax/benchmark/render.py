"""Procedural renderers of the benchmark.

* :func:`shapes3d_like` -- the "shapes3d-procedural" renderer: an APPROXIMATION of the
  Shapes3D data set (same factor grid and semantics: floor / wall / object hue, object size,
  object type, azimuth on the 10x10x10x8x4x15 grid), rendered in closed form with signed
  distance functions and jit-compiled. It is deterministic and injective, and reproduces the
  structural property that makes the real Shapes3D easy (every colour factor is readable at
  a fixed image location), but absolute numbers are not comparable with the real data set.
  Label results "shapes3d-procedural".
* dSprites uses :class:`rvl_jax.data.dsprites.ProceduralDSprites` (the shared renderer); the
  [0, 90) orientation variant maps its 10 orientation indices onto the first 10 of the 40
  orientation values of the full grid (see :mod:`rvl_jax.benchmark.sources`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)
_SIZE = 64
_HORIZON = 35.0  # rows above are wall (~55 %), rows below are floor
_OBJ_CENTRE = (32.0, 44.0)
_BASE_RADIUS = 9.0


def hsv_to_rgb(h):
  """HSV(h, 1, 1) -> RGB for hue h in [0, 1). Works elementwise on jnp scalars/arrays."""
  k = jnp.array([5.0, 3.0, 1.0])
  h = jnp.asarray(h)[..., None]
  c = jnp.mod(k + h * 6.0, 6.0)
  return 1.0 - jnp.clip(jnp.minimum(c, 4.0 - c), 0.0, 1.0)


def _coverage(sd):
  """Anti-aliased coverage from a signed distance (negative inside) in pixels."""
  return jnp.clip(0.5 - sd, 0.0, 1.0)


def _box_sd(x, y, cx, cy, hx, hy):
  dx = jnp.abs(x - cx) - hx
  dy = jnp.abs(y - cy) - hy
  outside = jnp.sqrt(jnp.maximum(dx, 0.0) ** 2 + jnp.maximum(dy, 0.0) ** 2)
  return outside + jnp.minimum(jnp.maximum(dx, dy), 0.0)


def _circle_sd(x, y, cx, cy, r):
  return jnp.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _ellipse_sd(x, y, cx, cy, ax, ay):
  # First-order approximation of the distance to an ellipse (good enough for coverage).
  q = jnp.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
  return (q - 1.0) * jnp.minimum(ax, ay)


def _segment_sd(x, y, cx, y0, y1, r):
  py = jnp.clip(y, y0, y1)
  return jnp.sqrt((x - cx) ** 2 + (y - py) ** 2) - r


def _over(img, colour, alpha):
  return img * (1.0 - alpha[..., None]) + colour * alpha[..., None]


def _render_one(f):
  f = f.astype(jnp.float32)
  floor_rgb = hsv_to_rgb(f[0] / 10.0)
  wall_rgb = hsv_to_rgb(f[1] / 10.0)
  obj_rgb = hsv_to_rgb(f[2] / 10.0)
  scale = 0.75 + f[3] * (0.5 / 7.0)
  obj_type = f[4].astype(jnp.int32)
  theta_deg = -30.0 + f[5] * (60.0 / 14.0)
  theta = jnp.deg2rad(theta_deg)

  ys, xs = jnp.meshgrid(
    jnp.arange(_SIZE, dtype=jnp.float32) + 0.5,
    jnp.arange(_SIZE, dtype=jnp.float32) + 0.5,
    indexing="ij",
  )
  # Room: wall with a vertical corner line that moves with the azimuth; two wall halves are
  # shaded differently.
  x_corner = 32.0 + 0.6 * theta_deg
  right = jnp.clip(xs - x_corner + 0.5, 0.0, 1.0)
  wall = wall_rgb * (0.9 * (1.0 - right) + 0.72 * right)[..., None]
  # Floor with perspective edge lines radiating from the corner on the horizon, tilted by
  # the azimuth.
  depth = jnp.maximum(ys - _HORIZON, 0.5)
  u = (xs - x_corner) / depth + jnp.tan(theta) * 0.8
  spacing = 1.6
  dist_px = jnp.abs(jnp.mod(u / spacing + 0.5, 1.0) - 0.5) * spacing * depth
  line = jnp.clip(1.0 - dist_px, 0.0, 1.0) * 0.3 * jnp.clip((ys - _HORIZON) / 8.0, 0.0, 1.0)
  floor = floor_rgb * (0.8 * (1.0 - line))[..., None]
  below = jnp.clip(ys - _HORIZON + 0.5, 0.0, 1.0)
  img = wall * (1.0 - below[..., None]) + floor * below[..., None]

  cx, cy = _OBJ_CENTRE
  r = _BASE_RADIUS * scale
  lighter = obj_rgb * 0.75 + 0.25

  # cube: front face, side face (width ~ |sin(theta + 45 deg)|) and a lighter top face.
  h = 0.85 * r
  w = 0.6 * h * jnp.abs(jnp.sin(theta + jnp.pi / 4))
  d = 0.45 * h
  cube = _over(img, obj_rgb * 0.9, _coverage(_box_sd(xs, ys, cx, cy, h, h)))
  cube = _over(
    cube, obj_rgb * 0.6, _coverage(_box_sd(xs, ys, cx + h + w / 2, cy - d / 2, w / 2, h + d / 2))
  )
  cube = _over(
    cube, lighter, _coverage(_box_sd(xs, ys, cx + w / 2, cy - h - d / 2, h + w / 2, d / 2))
  )
  # cylinder: body (rectangle + elliptical bottom) with horizontal shading, elliptical top.
  hw = 0.8 * r
  body_sd = jnp.minimum(
    _box_sd(xs, ys, cx, cy, hw, r), _ellipse_sd(xs, ys, cx, cy + r, hw, 0.3 * r)
  )
  side_shade = 1.0 - 0.4 * jnp.clip((xs - cx) / (2 * hw) + 0.5, 0.0, 1.0)
  cyl = _over(img, obj_rgb * side_shade[..., None], _coverage(body_sd))
  cyl = _over(cyl, lighter, _coverage(_ellipse_sd(xs, ys, cx, cy - r, hw, 0.3 * r)))
  # sphere: disk with radial shading from a light at the upper left.
  rad = jnp.sqrt((xs - cx + 0.35 * r) ** 2 + (ys - cy + 0.35 * r) ** 2) / (1.6 * r)
  sph = _over(
    img,
    obj_rgb * (1.0 - 0.45 * jnp.clip(rad, 0.0, 1.0))[..., None],
    _coverage(_circle_sd(xs, ys, cx, cy, r)),
  )
  # capsule: vertical stadium with horizontal shading.
  cr = 0.6 * r
  cap = _over(
    img,
    obj_rgb * side_shade[..., None],
    _coverage(_segment_sd(xs, ys, cx, cy - 0.6 * r, cy + 0.6 * r, cr)),
  )

  out = jnp.select([obj_type == 0, obj_type == 1, obj_type == 2], [cube, cyl, sph], cap)
  return jnp.clip(out, 0.0, 1.0)


@jax.jit
def _render_batch(factors):
  return jax.vmap(_render_one)(factors)


def shapes3d_like(factors) -> np.ndarray:
  """Render shapes3d-procedural images from factor indices (n, 6) -> float32 (n, 64, 64, 3).

  Batches are padded to a power of two (>= 8) so that jit compiles only a few shapes.
  """
  factors = np.asarray(factors)
  if factors.ndim != 2 or factors.shape[1] != 6:
    raise ValueError(f"argument 'factors': expected shape (n, 6), got {factors.shape}")
  if (factors < 0).any() or (factors >= np.asarray(SHAPES3D_SIZES)[None]).any():
    raise ValueError(f"argument 'factors': expected indices below {SHAPES3D_SIZES}")
  n = len(factors)
  if n == 0:
    return np.zeros((0, _SIZE, _SIZE, 3), np.float32)
  padded = max(8, 1 << (n - 1).bit_length())
  pad = np.zeros((padded, 6), np.int32)
  pad[:n] = factors
  return np.asarray(_render_batch(jnp.asarray(pad)))[:n]
