"""Image operations shared by the corruption suites (pure jax.numpy, per image (H, W, C)).

Static quantities (filter kernels, interpolation indices/weights, resampling matrices) are
built with NumPy at trace time, so every corruption compiles to a fixed XLA graph for a given
image size and severity.
"""

from __future__ import annotations

import functools
import math
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation

BOUNDARY_MODES = ("nearest", "reflect", "mirror", "reflect101", "wrap")

# ----------------------------------------------------------------------------------------
# Boundary handling


def _extend_index(xp, idx, n: int, mode: str):
  """``extend_index`` written once for an array module ``xp`` (NumPy or jax.numpy)."""
  validation.check_in_choices("mode", mode, BOUNDARY_MODES)
  if mode == "nearest":
    return xp.clip(idx, 0, n - 1)
  if mode == "wrap":
    return xp.mod(idx, n)
  if mode == "reflect":
    p = 2 * n
    i = xp.mod(idx, p)
    return xp.where(i < n, i, p - 1 - i)
  if n == 1:  # 'mirror' / 'reflect101' of a single sample
    return xp.zeros_like(idx)
  p = 2 * n - 2
  i = xp.mod(idx, p)
  return xp.where(i < n, i, p - i)


def extend_index(idx: np.ndarray, n: int, mode: str) -> np.ndarray:
  """Maps (possibly out-of-range) integer indices into [0, n) for a boundary ``mode``.

  'nearest' (edge replication), 'reflect' (scipy: d c b a | a b c d | d c b a),
  'mirror' / 'reflect101' (OpenCV default: d c b | a b c d | c b a), 'wrap'.
  """
  return _extend_index(np, np.asarray(idx), n, mode)


def extend_index_jnp(idx, n: int, mode: str):
  """jax.numpy version of ``extend_index`` (for data-dependent indices)."""
  return _extend_index(jnp, idx, n, mode)


# ----------------------------------------------------------------------------------------
# Separable filtering


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
  """scipy.ndimage-style 1-D Gaussian weights (radius ``int(truncate * sigma + 0.5)``)."""
  radius = int(truncate * float(sigma) + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  w = np.exp(-0.5 * x**2 / float(sigma) ** 2)
  return w / w.sum()


@functools.lru_cache(maxsize=None)
def _filter_matrix(n: int, weights: Tuple[float, ...], mode: str) -> np.ndarray:
  w = np.asarray(weights)
  r = (len(w) - 1) // 2
  m = np.zeros((n, n), np.float64)
  rows = np.arange(n)
  for k in range(-r, r + 1):
    np.add.at(m, (rows, extend_index(rows + k, n, mode)), w[k + r])
  return m.astype(np.float32)


def filter1d(x, weights: np.ndarray, axis: int, mode: str):
  """Correlates ``x`` along ``axis`` with odd-length ``weights`` under boundary ``mode``."""
  n = x.shape[axis]
  w = np.asarray(weights, np.float64)
  r = (len(w) - 1) // 2
  if 2 * r + 1 > n:  # very wide kernels: exact dense n x n operator
    m = jnp.asarray(_filter_matrix(n, tuple(w.tolist()), mode))
    return jnp.moveaxis(jnp.tensordot(m, jnp.moveaxis(x, axis, 0), axes=(1, 0)), 0, axis)
  idx = extend_index(np.arange(-r, n + r), n, mode)
  xp = jnp.take(x, jnp.asarray(idx), axis=axis)
  out = 0.0
  for k in range(2 * r + 1):
    out = out + float(w[k]) * jax.lax.slice_in_dim(xp, k, k + n, axis=axis)
  return out


def gaussian_filter(img, sigma: float, mode: str = "nearest", truncate: float = 4.0):
  """scipy.ndimage.gaussian_filter over the two spatial axes of an (H, W, C) image."""
  if sigma <= 0:
    return img
  w = gaussian_kernel1d(sigma, truncate)
  return filter1d(filter1d(img, w, 0, mode), w, 1, mode)


def correlate2d(img, kernel: np.ndarray, mode: str = "reflect101"):
  """Per-channel 2-D correlation (cv2.filter2D semantics) of an (H, W, C) image.

  Kernels larger than 7x7 use an FFT of the border-extended image (exact linear correlation on
  the valid region, float32 round-off ~1e-6); small ones a grouped convolution.
  """
  kh, kw = kernel.shape
  rh, rw = kh // 2, kw // 2
  h, w, c = img.shape
  ih = extend_index(np.arange(-rh, h + rh), h, mode)
  iw = extend_index(np.arange(-rw, w + rw), w, mode)
  xp = jnp.take(jnp.take(img, jnp.asarray(ih), axis=0), jnp.asarray(iw), axis=1)
  if kh * kw > 49:
    ph, pw = xp.shape[0], xp.shape[1]
    kflip = np.zeros((ph, pw), np.float32)
    kflip[:kh, :kw] = kernel[::-1, ::-1]  # convolution with the flipped kernel = correlation
    spec = jnp.fft.rfft2(xp, axes=(0, 1)) * jnp.asarray(np.fft.rfft2(kflip))[..., None]
    full = jnp.fft.irfft2(spec, s=(ph, pw), axes=(0, 1))
    return full[kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w].astype(img.dtype)
  k = jnp.asarray(np.tile(kernel[:, :, None, None], (1, 1, 1, c)), img.dtype)
  out = jax.lax.conv_general_dilated(
    xp[None], k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c
  )
  return out[0]


# ----------------------------------------------------------------------------------------
# Interpolation


def sample_bilinear(img, rows, cols, mode: str = "constant", cval: float = 0.0):
  """Bilinear sampling of an (H, W, C) image at float coordinates ``rows``/``cols`` (any shape).

  'constant': neighbours outside the image contribute ``cval`` (skimage ``warp`` semantics);
  other modes map neighbour indices with ``extend_index_jnp``.
  """
  h, w, _ = img.shape
  r0 = jnp.floor(rows)
  c0 = jnp.floor(cols)
  fr = (rows - r0)[..., None]
  fc = (cols - c0)[..., None]
  r0 = r0.astype(jnp.int32)
  c0 = c0.astype(jnp.int32)

  def get(r, c):
    if mode == "constant":
      inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
      v = img[jnp.clip(r, 0, h - 1), jnp.clip(c, 0, w - 1)]
      return jnp.where(inside[..., None], v, cval)
    return img[extend_index_jnp(r, h, mode), extend_index_jnp(c, w, mode)]

  return (
    (1 - fr) * (1 - fc) * get(r0, c0)
    + (1 - fr) * fc * get(r0, c0 + 1)
    + fr * (1 - fc) * get(r0 + 1, c0)
    + fr * fc * get(r0 + 1, c0 + 1)
  )


def affine_warp(img, matrix, mode: str = "constant", cval: float = 0.0):
  """Output pixel (x=col, y=row) samples the input at ``matrix @ (x, y, 1)`` (2x3, inverse map)."""
  h, w, _ = img.shape
  yy, xx = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  src_x = matrix[0, 0] * xx + matrix[0, 1] * yy + matrix[0, 2]
  src_y = matrix[1, 0] * xx + matrix[1, 1] * yy + matrix[1, 2]
  return sample_bilinear(img, src_y, src_x, mode=mode, cval=cval)


@functools.lru_cache(maxsize=None)
def _zoom_axis(n: int, factor: float):
  """Indices/weights of scipy-style ``clipped_zoom`` along one axis (crop, zoom order 1, trim)."""
  ch = int(math.ceil(n / factor))
  top = (n - ch) // 2
  out_len = int(round(ch * factor))
  o = np.arange(out_len, dtype=np.float64)
  coords = o * (ch - 1) / (out_len - 1) if out_len > 1 else np.zeros_like(o)
  trim = (out_len - n) // 2
  coords = coords[trim : trim + n] + top
  i0 = np.clip(np.floor(coords).astype(np.int64), 0, n - 1)
  i1 = np.clip(i0 + 1, 0, n - 1)
  frac = (coords - np.floor(coords)).astype(np.float32)
  return i0, i1, frac


def interp_axis(x, i0, i1, frac, axis: int):
  shape = [1] * x.ndim
  shape[axis] = -1
  f = jnp.asarray(frac).reshape(shape)
  return (1 - f) * jnp.take(x, jnp.asarray(i0), axis=axis) + f * jnp.take(
    x, jnp.asarray(i1), axis=axis
  )


def clipped_zoom(img, factor: float):
  """Centre zoom by ``factor`` keeping the size (ImageNet-C ``clipped_zoom``)."""
  h, w = img.shape[:2]
  out = interp_axis(img, *_zoom_axis(h, float(factor)), axis=0)
  return interp_axis(out, *_zoom_axis(w, float(factor)), axis=1)


# ----------------------------------------------------------------------------------------
# Resampling (PIL BOX semantics)


@functools.lru_cache(maxsize=None)
def _box_weights(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) float64 weights of PIL's ``resize(..., BOX)`` along one axis."""
  scale = n_in / n_out
  fscale = max(scale, 1.0)
  support = 0.5 * fscale
  m = np.zeros((n_out, n_in), np.float64)
  for i in range(n_out):
    center = (i + 0.5) * scale
    lo = max(int(center - support + 0.5), 0)
    hi = min(int(center + support + 0.5), n_in)
    for j in range(lo, hi):
      t = (j - center + 0.5) / fscale
      if -0.5 < t <= 0.5:
        m[i, j] = 1.0
    s = m[i].sum()
    if s > 0:
      m[i] /= s
  return m


def box_resample_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) weights of PIL's ``resize(..., BOX)`` along one axis (float32)."""
  return _box_weights(n_in, n_out).astype(np.float32)


_PIL_PRECISION_BITS = 22  # Pillow's 8-bit resampling: 32 - 8 - 2 fractional bits


def resize_box_u8(img_u8, out_h: int, out_w: int):
  """PIL's ``Image.resize((out_w, out_h), BOX)`` of an 8-bit image, bit-exact.

  Pillow rounds every normalised weight to 22-bit fixed point, accumulates integer products
  from a rounding offset of 2**21, shifts and clips to uint8, horizontally first and then
  vertically (the intermediate image is uint8 too). ``img_u8``: integer-valued (H, W, C) in
  0..255; returns int32 values in 0..255.
  """
  h, w = img_u8.shape[:2]
  one = 1 << _PIL_PRECISION_BITS

  def fixed(n_in, n_out):
    return jnp.asarray(np.floor(0.5 + _box_weights(n_in, n_out) * one).astype(np.int32))

  def shift_clip(acc):
    return jnp.clip((acc + (one >> 1)) >> _PIL_PRECISION_BITS, 0, 255)

  x = jnp.asarray(img_u8, jnp.int32)
  x = shift_clip(jnp.einsum("jw,hwc->hjc", fixed(w, out_w), x))
  return shift_clip(jnp.einsum("ih,hjc->ijc", fixed(h, out_h), x))


def resize_box(img, out_h: int, out_w: int):
  h, w = img.shape[:2]
  mh = jnp.asarray(box_resample_matrix(h, out_h))
  mw = jnp.asarray(box_resample_matrix(w, out_w))
  out = jnp.einsum("ih,hwc->iwc", mh, img)
  return jnp.einsum("jw,iwc->ijc", mw, out)


# ----------------------------------------------------------------------------------------
# Noise maps and colour


def plasma_fractal(key, mapsize: int = 256, wibbledecay: float = 3.0):
  """Diamond-square plasma fractal in [0, 1] (ImageNet-C fog), shape (mapsize, mapsize).

  Level by level the coarse grid of corners is refined: square centres get the mean of their
  four corners, edge midpoints the mean of their four neighbours (periodic), each plus
  ``wibble * U(-wibble, wibble)`` (the upstream generator's scaling); the grids are then
  interleaved with reshapes instead of strided scatters.
  """
  if mapsize < 2 or mapsize & (mapsize - 1):
    raise ValueError(f"argument 'mapsize': expected a power of two >= 2, got {mapsize}")
  grid = jnp.zeros((1, 1), jnp.float32)
  wibble = 100.0
  sizes = []
  n = 1
  while n < mapsize:
    sizes.append(n)
    n *= 2
  # One uniform draw for all levels (a single RNG kernel keeps compilation cheap).
  u = jax.random.uniform(key, (3 * sum(n * n for n in sizes),), minval=-1.0, maxval=1.0)
  offset = 0
  for n in sizes:

    def wibbled_mean(arr, wib=wibble):
      nonlocal offset
      noise = u[offset : offset + n * n].reshape(n, n)
      offset += n * n
      return arr / 4 + wib * wib * noise

    acc = grid + jnp.roll(grid, -1, axis=0)
    squares = wibbled_mean(acc + jnp.roll(acc, -1, axis=1))
    d_top = wibbled_mean(squares + jnp.roll(squares, 1, axis=0) + grid + jnp.roll(grid, -1, axis=1))
    d_left = wibbled_mean(
      squares + jnp.roll(squares, 1, axis=1) + grid + jnp.roll(grid, -1, axis=0)
    )
    even = jnp.stack([grid, d_top], axis=-1).reshape(n, 2 * n)
    odd = jnp.stack([d_left, squares], axis=-1).reshape(n, 2 * n)
    grid = jnp.stack([even, odd], axis=1).reshape(2 * n, 2 * n)
    wibble /= wibbledecay
  grid = grid - grid.min()
  return grid / grid.max()


def next_pow2(n: int) -> int:
  return 1 << max(int(n) - 1, 1).bit_length()


def rgb_to_gray(img):
  """OpenCV RGB2GRAY weights; gray images are returned unchanged. Shape (H, W, 1)."""
  if img.shape[-1] == 1:
    return img
  return 0.299 * img[..., 0:1] + 0.587 * img[..., 1:2] + 0.114 * img[..., 2:3]


def adjust_value(img, delta: float):
  """HSV round trip with V <- clip(V + delta) (exact; gray images: clip(x + delta))."""
  if img.shape[-1] == 1:
    return jnp.clip(img + delta, 0, 1)
  v = jnp.max(img, axis=-1, keepdims=True)
  v_new = jnp.clip(v + delta, 0, 1)
  safe_v = jnp.where(v > 0, v, 1.0)
  return jnp.where(v > 0, img * v_new / safe_v, v_new)


def adjust_saturation(img, scale: float, shift: float):
  """HSV round trip with S <- clip(S * scale + shift) (exact, skimage hue 0 for gray pixels)."""
  if img.shape[-1] == 1:
    return img
  v = jnp.max(img, axis=-1, keepdims=True)
  mn = jnp.min(img, axis=-1, keepdims=True)
  safe_v = jnp.where(v > 0, v, 1.0)
  s = jnp.where(v > 0, (v - mn) / safe_v, 0.0)
  s_new = jnp.clip(s * scale + shift, 0, 1)
  safe_s = jnp.where(s > 0, s, 1.0)
  colored = v - (v - img) * s_new / safe_s
  gray_case = jnp.concatenate([v, v * (1 - s_new), v * (1 - s_new)], axis=-1)
  return jnp.where(s > 0, colored, gray_case)


def motion_blur(
  img, key_or_angle, radius: int, sigma: float, angle_range=(-45.0, 45.0), angle=None
):
  """Portable motion blur (imagecorruptions): one-sided Gaussian taps along a random angle,
  edge-replicating shifts. Approximates ImageMagick's ``motion_blur``."""
  h, w, _ = img.shape
  width = 2 * int(radius) + 1
  i = np.arange(width, dtype=np.float64)
  k = np.exp(-(i**2) / (2 * float(sigma) ** 2))
  k = k / k.sum()
  if angle is None:
    angle = jax.random.uniform(key_or_angle, (), minval=angle_range[0], maxval=angle_range[1])
  rad = jnp.deg2rad(angle)
  ii = jnp.asarray(i, jnp.float32)
  dy = -jnp.ceil(ii * jnp.sin(rad) - 0.5).astype(jnp.int32)
  dx = -jnp.ceil(ii * jnp.cos(rad) - 0.5).astype(jnp.int32)
  ok = jnp.cumprod(((jnp.abs(dy) < h) & (jnp.abs(dx) < w)).astype(jnp.float32))
  weights = jnp.asarray(k, jnp.float32) * ok
  # Edge-replicated shift by (dy, dx) = a contiguous window of the edge-padded image: with a
  # pad of P >= |shift| the window at (P - dy, P - dx) equals img[clip(i - dy), clip(j - dx)]
  # exactly, and a dynamic slice is far cheaper than two gathers per tap.
  pad = width
  padded = jnp.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
  acc = jnp.zeros_like(img)
  for t in range(width):
    r0 = jnp.clip(pad - dy[t], 0, 2 * pad)
    c0 = jnp.clip(pad - dx[t], 0, 2 * pad)
    shifted = jax.lax.dynamic_slice(padded, (r0, c0, 0), img.shape)
    acc = acc + weights[t] * shifted
  return acc


def glass_swaps(img_u8, key, d: int, iters: int, swap_prob: float = 1.0, copy: bool = False):
  """The sequential local pixel shuffle of glass blur (exact loop order, ``lax.fori_loop``).

  For h from H-d down to d+1, w from W-d down to d+1 (descending), the pixel (h, w) is
  exchanged with (h+dy, w+dx), dx, dy uniform integers in [-d, d-1]; with ``swap_prob`` < 1
  each exchange happens only with that probability (MNIST-C). See ``glass_shuffle`` for
  ``copy``.
  """
  h, w, _ = img_u8.shape
  n = iters * max(h - 2 * d, 0) * max(w - 2 * d, 0)
  if n == 0:
    return img_u8
  k1, k2 = jax.random.split(key)
  off = jax.random.randint(k1, (n, 2), -d, d)
  do = jax.random.uniform(k2, (n,)) < swap_prob
  return glass_shuffle(img_u8, off, do, d, iters, copy=copy)


def glass_shuffle(img, offsets, do, d: int, iters: int, copy: bool = False):
  """Glass blur's pixel loop with given random draws: ``offsets[t] = (dy, dx)`` and ``do[t]``
  (whether step t acts) for the t-th position of the loop order of ``glass_swaps``.

  ``copy=False`` swaps the two pixels. ``copy=True`` is what ImageNet-C's code does to an
  (H, W, 3) array: ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` evaluates the right side to two
  NumPy views, so the first assignment overwrites (h, w) with (h', w') and the second writes
  (h', w') back onto itself: (h, w) receives a copy and (h', w') keeps its value.
  """
  h, w, c = img.shape
  hs = np.arange(h - d, d, -1)
  ws = np.arange(w - d, d, -1)
  hh, ww = np.meshgrid(hs, ws, indexing="ij")
  hh = jnp.asarray(np.tile(hh.reshape(-1), iters), jnp.int32)
  ww = jnp.asarray(np.tile(ww.reshape(-1), iters), jnp.int32)
  flat = img.reshape(h * w, c)
  src = hh * w + ww
  dst = (hh + offsets[:, 0]) * w + (ww + offsets[:, 1])

  def body(t, f):
    a = f[src[t]]
    b = f[dst[t]]
    f = f.at[src[t]].set(jnp.where(do[t], b, a))
    if copy:
      return f
    return f.at[dst[t]].set(jnp.where(do[t], a, b))

  return jax.lax.fori_loop(0, hh.shape[0], body, flat).reshape(h, w, c)


def poisson_small(key, lam, lam_max: float):
  """Poisson(lam) samples by inversion with one uniform per element, for lam <= lam_max <= 60.

  The CDF is accumulated over K = lam_max + 6 sqrt(lam_max) + 10 terms (truncated tail mass
  < 1e-9), far cheaper on CPU than rejection loops.
  """
  k_terms = int(np.ceil(lam_max + 6 * np.sqrt(lam_max) + 10))
  u = jax.random.uniform(key, lam.shape, lam.dtype)
  p = jnp.exp(-lam)
  cdf = p
  count = jnp.zeros_like(lam)
  # Unrolled on purpose: XLA fuses all terms into one elementwise kernel (the carry stays in
  # registers) instead of K passes over the whole batch.
  for k in range(1, k_terms + 1):
    count = count + (u > cdf).astype(lam.dtype)
    p = p * lam / k
    cdf = cdf + p
  return count


def quantize_u8(x):
  """Like ``np.uint8(x * 255)`` on [0, 1] floats (truncation), returned as float in 0..255."""
  return jnp.floor(jnp.clip(x, 0, 1) * 255.0)


# ----------------------------------------------------------------------------------------
# Salt and pepper


def salt_and_pepper(key, x, amount: float):
  """skimage ``random_noise(mode='s&p', amount, salt_vs_pepper=0.5)`` semantics from ONE draw.

  A uniform 32-bit integer u per element: u < amount * 2**32 replaces the element (probability
  ``amount``), and among those u < amount * 2**31 sets it to 1 (salt), the rest to 0 (pepper):
  given replacement, salt has probability 1/2 independently of everything else, exactly as
  with two independent uniforms, at half the random-number cost.
  """
  u = jax.random.bits(key, x.shape, jnp.uint32)
  flip_thr = min(int(round(float(amount) * 2.0**32)), 2**32 - 1)
  flip = u < jnp.uint32(flip_thr)
  salt = u < jnp.uint32(flip_thr // 2)
  return jnp.where(flip, salt.astype(x.dtype), x)
