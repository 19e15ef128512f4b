"""MNIST-C (Mu & Gilmer 2019): 15 corruptions, each at one fixed severity.

``CORRUPTIONS[name](key, images (N, 28, 28, 1), severity=1, faithful=True)``; every function
also works for other image sizes (geometry is defined about the image centre). 14 corruptions
are pure jit functions; ``canny_edges`` runs on the host through scikit-image. Motion blur is
the portable approximation of ImageMagick's.

``faithful=True`` reproduces the MNIST-C generator that made the released data set;
``faithful=False`` gives the intended behaviour where its code does something else (glass
blur, dotted line, zigzag; see each function).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.noise.corruptions import imagenet_c, ops
from rvl_jax.noise.corruptions.base import make_host_corruption, make_jit_corruption

ORDER = (
  "shot_noise",
  "impulse_noise",
  "glass_blur",
  "motion_blur",
  "shear",
  "scale",
  "rotate",
  "brightness",
  "translate",
  "stripe",
  "fog",
  "spatter",
  "dotted_line",
  "zigzag",
  "canny_edges",
)


def _glass(key, x, p, rows_only: bool = True):
  """Blur, quantise to uint8, swap pixels locally (each swap with probability 1/2), blur again.

  Faithful (``rows_only=True``): MNIST-C calls scikit-image's ``gaussian(..., multichannel=True)``
  on a 2-D (28, 28) digit, which takes the last axis for colour channels, so both blurs act
  along axis 0 only (each column is blurred over the rows). Intended: blur both axes. The swaps
  of a 2-D array are real swaps (scalar elements, unlike ImageNet-C's RGB views).
  """
  sigma, d, iters, prob = p
  if rows_only:
    blur = lambda im: ops.filter1d(im, ops.gaussian_kernel1d(sigma), 0, "nearest")  # noqa: E731
  else:
    blur = lambda im: ops.gaussian_filter(im, sigma, mode="nearest")  # noqa: E731
  y = ops.glass_swaps(ops.quantize_u8(blur(x)), key, d, iters, swap_prob=prob)
  return blur(y / 255.0)


def _glass_intended(key, x, p):
  return _glass(key, x, p, rows_only=False)


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
  return ops.affine_warp(x, m, mode="constant")


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
  return ops.affine_warp(x, m, mode="constant")


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
  layer = ops.gaussian_filter(layer, b, mode="nearest")
  mask = (layer > thr).astype(x.dtype)
  m = ops.gaussian_filter(mask, k, mode="nearest")
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


def _dotted_line(key, x, p, zero_last_column: bool = True):
  """Line from (column 0, row r0) to (column W-1, row r1), r0, r1 uniform in [0, H-1), with the
  intensity profile of ``_line_intensity`` over the vertical distance to the line; column pairs
  [0, 2), [4, 6), ... are blanked.

  Faithful: MNIST-C's line helper blanks the columns from ceil(c1) = W-1 on, so the last
  column never carries the line; intended: it does.
  """
  del p
  h, w = x.shape[:2]
  r = jax.random.randint(key, (2,), 0, h - 1).astype(jnp.float32)
  cols = jnp.arange(w, dtype=jnp.float32)
  rows = jnp.arange(h, dtype=jnp.float32)
  y_line = r[0] + (r[1] - r[0]) * cols / (w - 1)
  d = jnp.abs(rows[:, None] - y_line[None, :])
  line = _line_intensity(d)
  keep = (np.arange(w) // 2) % 2 == 1
  if zero_last_column:
    keep &= np.arange(w) < w - 1
  return jnp.clip(x + (line * jnp.asarray(keep.astype(np.float32))[None, :])[..., None], 0, 1)


def _dotted_line_intended(key, x, p):
  return _dotted_line(key, x, p, zero_last_column=False)


def _zigzag_segments(w: int, seg_len: float, amp: float):
  """MNIST-C's zigzag polyline for each rise r1 - r0 in [-5, 5), relative to (c0, r0), as
  segment tables: start column, slope, start row, first and past-the-last drawn column.

  The reference draws a straight line from column c0 = 2 to c1 = 25 (28 px; scaled with the
  width here), lays zig points (2i+1) a at heights +-b along it, ends it at its length d with
  height r_last / (2 (d - 4 floor(d / 4))) (its own formula), rotates by the rise angle and
  draws each piece with its line helper: vertical distance to the infinite line through the two
  points, columns floor(start) .. ceil(end) - 1. Host-side NumPy (float64) at trace time.
  """
  c0, c1 = 2.0 * w / 28, w - 3.0
  a, b = float(seg_len), float(amp)
  tables = []
  for rise in range(-5, 5):
    theta = np.arctan(rise / (c1 - c0))
    d = (c1 - c0) / np.cos(theta)
    pts = [(0.0, 0.0)]
    r_i = 0.0
    for i in range(int((d - a) // (2 * a)) + 1):
      r_i = (-1) ** i * b
      pts.append(((2 * i + 1) * a, r_i))
    max_c = (2 * a) * (d // (2 * a))
    if d != max_c:
      pts.append((d, r_i / (2 * (d - max_c))))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cs, rs = rot @ np.array(pts).T
    cs = cs + c0
    segs = []
    for i in range(1, len(cs)):
      if cs[i] == cs[i - 1]:
        continue  # the helper returns an empty line
      slope = (rs[i] - rs[i - 1]) / (cs[i] - cs[i - 1])
      segs.append((cs[i - 1], slope, rs[i - 1], np.floor(cs[i - 1]), np.ceil(cs[i])))
    tables.append(segs)
  n = max(len(t) for t in tables)
  out = np.zeros((len(tables), n, 5), np.float64)
  for k, t in enumerate(tables):
    out[k, : len(t)] = t
    out[k, len(t) :, 3:] = 0.0  # empty column range: padding draws nothing
  return out


def _zigzag(key, x, p):
  """Faithful MNIST-C zigzag (``_zigzag_segments``): r0 uniform in [0, H-1), rise uniform in
  [-5, 5); pieces are summed with clipping. Its vertical-distance profile makes the 45-degree
  pieces thinner than perpendicular distance would (``_zigzag_intended``)."""
  seg_len, amp = p
  h, w = x.shape[:2]
  k1, k2 = jax.random.split(key)
  r0 = jax.random.randint(k1, (), 0, h - 1).astype(jnp.float32)
  rise = jax.random.randint(k2, (), -5, 5)
  segs = jnp.asarray(_zigzag_segments(w, seg_len, amp), jnp.float32)[rise + 5]
  cols = jnp.arange(w, dtype=jnp.float32)[None, None, :]
  rows = jnp.arange(h, dtype=jnp.float32)[None, :, None]
  c_start, slope, r_start, lo, hi = (segs[:, i, None, None] for i in range(5))
  d = jnp.abs(rows - (slope * (cols - c_start) + r_start + r0))
  inside = (cols >= lo) & (cols < hi)
  lines = jnp.where(inside, _line_intensity(d), 0.0).sum(axis=0)
  return jnp.clip(x + lines[..., None], 0, 1)


def _segment_distance(px, py, ax, ay, bx, by):
  vx, vy = bx - ax, by - ay
  l2 = jnp.maximum(vx * vx + vy * vy, 1e-12)
  t = jnp.clip(((px - ax) * vx + (py - ay) * vy) / l2, 0, 1)
  return jnp.hypot(px - (ax + t * vx), py - (ay + t * vy))


def _zigzag_intended(key, x, p):
  """Zig-zag polyline of segment length a and peak-to-peak amplitude b along a random line,
  rendered with the perpendicular distance to each segment (uniform stroke width)."""
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
  py, px = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  d = jax.vmap(lambda ax, ay, bx, by: _segment_distance(px, py, ax, ay, bx, by))(
    vx[:-1], vy[:-1], vx[1:], vy[1:]
  )
  d = jnp.where(valid[:, None, None], d, 1e6).min(axis=0)
  return jnp.clip(x + _line_intensity(d)[..., None], 0, 1)


def _canny_host(rng, x, p):
  del rng
  from skimage import feature  # host-side step

  sigma = p
  chans = [
    feature.canny(x[..., c].astype(np.float64), sigma=sigma).astype(np.float32)
    for c in range(x.shape[-1])
  ]
  return np.stack(chans, axis=-1)


# Fixed MNIST-C parameters (one severity each).
PARAMS = {
  "shot_noise": 3.0,
  "impulse_noise": 0.17,
  "glass_blur": (0.7, 1, 2, 0.5),
  "motion_blur": (10, 3.0),
  "shear": 0.4,
  "scale": 1 / 0.7,
  "rotate": 0.4,
  "brightness": 0.5,
  "translate": 3.0,
  "stripe": 7 / 28,
  "fog": (3.0, 1.4, 256),
  "spatter": (0.65, 0.3, 1.0, 0.65, 1.5),
  "dotted_line": None,
  "zigzag": (2.0, 2.0),
  "canny_edges": 1.0,
}

_PER_IMAGE = {
  "shot_noise": imagenet_c.shot_noise,  # the same per-image noise as ImageNet-C
  "impulse_noise": imagenet_c.impulse_noise,
  "glass_blur": _glass,
  "motion_blur": _motion,
  "shear": _shear,
  "scale": _scale,
  "rotate": _rotate,
  "brightness": _brightness,
  "translate": _translate,
  "stripe": _stripe,
  "fog": _fog,
  "spatter": _spatter,
  "dotted_line": _dotted_line,
  "zigzag": _zigzag,
}

_INTENDED = {
  "glass_blur": _glass_intended,
  "dotted_line": _dotted_line_intended,
  "zigzag": _zigzag_intended,
}

CORRUPTIONS = {
  name: make_jit_corruption(name, fn, (PARAMS[name],), intended=_INTENDED.get(name))
  for name, fn in _PER_IMAGE.items()
}
CORRUPTIONS["canny_edges"] = make_host_corruption(
  "canny_edges", _canny_host, (PARAMS["canny_edges"],)
)
CORRUPTIONS = {name: CORRUPTIONS[name] for name in ORDER}
IS_JITTABLE = {name: fn.jittable for name, fn in CORRUPTIONS.items()}
HOLDOUT = {}
