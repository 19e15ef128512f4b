"""ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) as jit functions.

``CORRUPTIONS[name](key, images (N, H, W, C), severity 1..5, faithful=True)`` with the ImageNet-C
parameter tables (defined for 224x224; the spatial constants of elastic follow the image size as
``imagecorruptions`` does; fog crops a 256x256 fractal like ImageNet-C's generator, larger only
for images above 256 px). 13 benchmark corruptions are pure jit functions,
JPEG runs on the host through Pillow, frost needs user-supplied texture images
(``make_frost``). Hold-out: speckle_noise, gaussian_blur, spatter (mud severities jit; water
severities host), saturate.

``faithful=True`` reproduces the reference generator that made the released data, including
three places where its code does something else than it evidently meant; ``faithful=False``
gives the intended behaviour there (glass blur, pixelate, spatter; see each function).
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.noise.corruptions import ops
from rvl_jax.noise.corruptions.base import make_host_corruption, make_jit_corruption
from rvl_jax.noise.corruptions.tables import IMAGENET_TABLES

# ----------------------------------------------------------------------------------------
# Noise


def gaussian_noise(key, x, sigma):
  return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def shot_noise(key, x, c):
  if c <= 60:  # inversion sampler (x <= 1 so lam <= c); exact up to a < 1e-9 tail
    return ops.poisson_small(key, x * c, float(c)) / c
  return jax.random.poisson(key, x * c).astype(x.dtype) / c


def impulse_noise(key, x, a):
  return ops.salt_and_pepper(key, x, a)


def speckle_noise(key, x, c):
  return x + x * c * jax.random.normal(key, x.shape, x.dtype)


# ----------------------------------------------------------------------------------------
# Blur


def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
  """Aliased disk (x^2 + y^2 <= r^2) normalised, then a 3x3 (r <= 8) / 5x5 Gaussian blur."""
  if radius <= 8:
    coords = np.arange(-8, 9)
    ksize = 3
  else:
    coords = np.arange(-int(radius), int(radius) + 1)
    ksize = 5
  xx, yy = np.meshgrid(coords, coords)
  disk = ((xx**2 + yy**2) <= radius**2).astype(np.float64)
  disk /= disk.sum()
  r = ksize // 2
  g = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * alias_blur**2))
  g /= g.sum()
  n = disk.shape[0]
  idx = ops.extend_index(np.arange(-r, n + r), n, "reflect101")
  padded = disk[idx][:, idx]
  tmp = sum(g[k] * padded[k : k + n, :] for k in range(ksize))
  out = sum(g[k] * tmp[:, k : k + n] for k in range(ksize))
  return out.astype(np.float32)


def defocus_blur(key, x, p):
  del key
  radius, alias_blur = p
  return ops.correlate2d(x, _disk_kernel(radius, alias_blur), mode="reflect101")


def glass_blur(key, x, p, copy: bool = True):
  """Blur, quantise to uint8, shuffle pixels locally, blur again.

  Faithful (``copy=True``): the reference's tuple "swap" of two pixels of an RGB array copies
  (h', w') onto (h, w) and leaves (h', w') unchanged (``ops.glass_shuffle``), so pixel values
  are duplicated and lost rather than permuted; the intended version swaps them.
  """
  sigma, d, iters = p
  y = ops.quantize_u8(ops.gaussian_filter(x, sigma, mode="nearest"))
  y = ops.glass_swaps(y, key, int(d), int(iters), copy=copy)
  return ops.gaussian_filter(y / 255.0, sigma, mode="nearest")


def glass_blur_intended(key, x, p):
  return glass_blur(key, x, p, copy=False)


def motion_blur(key, x, p):
  radius, sigma = p
  return ops.motion_blur(x, key, radius, sigma, angle_range=(-45.0, 45.0))


def zoom_blur(key, x, factors):
  del key
  out = x
  for z in factors:
    out = out + ops.clipped_zoom(x, z)
  return out / (len(factors) + 1)


def gaussian_blur(key, x, sigma):
  del key
  return ops.gaussian_filter(x, sigma, mode="nearest", truncate=4.0)


# ----------------------------------------------------------------------------------------
# Weather


def snow(key, x, p):
  mu, s, zoom, thr, radius, sigma, mix = p
  h, w = x.shape[:2]
  k1, k2 = jax.random.split(key)
  layer = mu + s * jax.random.normal(k1, (h, w, 1))
  layer = ops.clipped_zoom(layer, zoom)
  layer = jnp.where(layer < thr, 0.0, layer)
  layer = ops.quantize_u8(layer) / 255.0
  layer = ops.motion_blur(layer, k2, radius, sigma, angle_range=(-135.0, -45.0))
  layer = jnp.round(jnp.clip(layer, 0, 1) * 255.0) / 255.0
  gray = ops.rgb_to_gray(x)
  base = mix * x + (1 - mix) * jnp.maximum(x, gray * 1.5 + 0.5)
  return base + layer + jnp.rot90(layer, 2, axes=(0, 1))


def fog(key, x, p):
  t, decay, mapsize = p
  h, w = x.shape[:2]
  size = mapsize if mapsize else ops.next_pow2(max(h, w))
  size = max(size, ops.next_pow2(max(h, w)))
  f = ops.plasma_fractal(key, size, decay)[:h, :w, None]
  m = jnp.max(x)
  return (x + t * f) * m / (m + t)


def brightness(key, x, c):
  del key
  return ops.adjust_value(x, c)


def saturate(key, x, p):
  del key
  return ops.adjust_saturation(x, p[0], p[1])


def make_frost(textures, table=((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))):
  """Frost from user-supplied texture images (list of (Ht, Wt, 3) float arrays in [0, 1], each
  at least as large as the images): ``a x + b F`` with F a random crop of a random texture.
  Returns a jit corruption ``fn(key, images, severity)``."""
  hmin = min(t.shape[0] for t in textures)
  wmin = min(t.shape[1] for t in textures)
  stack = jnp.asarray(np.stack([np.asarray(t, np.float32)[:hmin, :wmin] for t in textures]))

  def per_image(key, x, p):
    a, b = p
    h, w, c = x.shape
    k1, k2, k3 = jax.random.split(key, 3)
    i = jax.random.randint(k1, (), 0, stack.shape[0])
    r0 = jax.random.randint(k2, (), 0, hmin - h + 1)
    c0 = jax.random.randint(k3, (), 0, wmin - w + 1)
    crop = jax.lax.dynamic_slice(stack[i], (r0, c0, 0), (h, w, stack.shape[-1]))
    crop = crop[..., :c] if c <= stack.shape[-1] else jnp.repeat(crop[..., :1], c, -1)
    return a * x + b * crop

  return make_jit_corruption("frost", per_image, table)


# ----------------------------------------------------------------------------------------
# Digital


def contrast(key, x, c):
  del key
  means = jnp.mean(x, axis=(0, 1), keepdims=True)
  return (x - means) * c + means


def _affine_from_points(src, dst):
  """2x3 matrix M with dst = M @ [src; 1] (cv2.getAffineTransform)."""
  a = jnp.concatenate([src, jnp.ones((3, 1), src.dtype)], axis=1)
  return jnp.linalg.solve(a, dst).T


def _invert_affine(m):
  lin = m[:, :2]
  inv = jnp.linalg.inv(lin)
  return jnp.concatenate([inv, -(inv @ m[:, 2:])], axis=1)


def elastic_transform(key, x, p):
  """ImageNet-C elastic: random 3-point affine (reflect-101) then a smoothed displacement field."""
  alpha, sigma, amax = p
  h, w, _ = x.shape
  k1, k2, k3 = jax.random.split(key, 3)
  cs = np.float32([h, w])[::-1] // 2  # cv2 points are (x, y)
  sq = min(h, w) // 3
  pts1 = np.float32([cs + sq, [cs[0] + sq, cs[1] - sq], cs - sq])
  pts2 = jnp.asarray(pts1) + jax.random.uniform(k1, (3, 2), minval=-amax, maxval=amax)
  m = _affine_from_points(jnp.asarray(pts1), pts2)
  x = ops.affine_warp(x, _invert_affine(m), mode="reflect101")
  if alpha == 0:
    return x
  dx = jax.random.uniform(k2, (h, w, 1), minval=-1.0, maxval=1.0)
  dy = jax.random.uniform(k3, (h, w, 1), minval=-1.0, maxval=1.0)
  dx = ops.gaussian_filter(dx, sigma, mode="reflect", truncate=3.0)[..., 0] * alpha
  dy = ops.gaussian_filter(dy, sigma, mode="reflect", truncate=3.0)[..., 0] * alpha
  rows, cols = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  return ops.sample_bilinear(x, rows + dy, cols + dx, mode="reflect")


def pixelate(key, x, c):
  """Faithful: the reference resizes a uint8 PIL image, so the BOX-downsampled image is rounded
  to uint8 (after each of PIL's two passes) before the upsampling, which picks one pixel per
  output pixel (BOX and NEAREST coincide when enlarging); output values are multiples of 1/255.
  Input values are first rounded to the nearest 1/255, as the reference reads uint8 images."""
  del key
  h, w = x.shape[:2]
  small = ops.resize_box_u8(jnp.round(jnp.clip(x, 0, 1) * 255.0), int(h * c), int(w * c))
  return ops.resize_box(small.astype(jnp.float32), h, w) / 255.0


def pixelate_intended(key, x, c):
  """The same resampling on float images, without the uint8 rounding."""
  del key
  h, w = x.shape[:2]
  small = ops.resize_box(x, int(h * c), int(w * c))
  return ops.resize_box(small, h, w)


def _jpeg_host(rng, x, quality):
  del rng
  from PIL import Image

  arr = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
  img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
  buf = io.BytesIO()
  img.save(buf, "JPEG", quality=int(quality))
  out = np.asarray(Image.open(io.BytesIO(buf.getvalue())), np.float32) / 255.0
  return out.reshape(x.shape)


def jpeg_roundtrip(images, quality: int = 85):
  """JPEG quality-``quality`` round trip of a batch (to mimic the released IN-C files)."""
  imgs = np.asarray(images, np.float32)
  return np.stack([_jpeg_host(None, im, quality) for im in imgs]) if len(imgs) else imgs


def spatter_mud(key, x, p):
  from rvl_jax.noise.corruptions.mnist_c import spatter_mud as _mud

  mu, s, b, thr, k, _ = p
  return _mud(key, x, (mu, s, b, thr, k), (63 / 255.0, 42 / 255.0, 20 / 255.0))


# Water colour: the reference builds the tuple (175, 238, 238) and declares it BGR in its
# cvtColor calls, but the image it adds it to is RGB, so channel 0 (red) gets 175: the released
# images carry pale turquoise (175, 238, 238) in RGB. Read as the declared BGR the colour would
# be (238, 238, 175) in RGB (the intended variant).
_WATER_RGB = (np.array([175, 238, 238]) / 255.0).astype(np.float32)
_WATER_RGB_INTENDED = _WATER_RGB[::-1].copy()
# Gray images: the reference's single-channel branch adds rgb2gray(colour) (scikit-image
# luminance weights on channels 0, 1, 2).
_GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], np.float32)


def water_mask(layer_u8: np.ndarray) -> np.ndarray:
  """The reference's liquid mask from the thresholded uint8 liquid layer (float32, max 1):
  Canny edges (50, 150) -> distance to the nearest edge (DIST_L2, 5x5 chamfer) truncated at 20
  -> 3x3 box blur -> uint8 -> histogram equalisation -> 3x3 emboss filter (uint8, saturated) ->
  3x3 box blur; the mask is layer * dist normalised to a maximum of 1. Every step reproduces
  OpenCV's arithmetic (``opencv_numerics``)."""
  from rvl_jax.noise.corruptions import opencv_numerics as cvn

  dist = cvn.distance_transform_l2_mask5(255 - cvn.canny(layer_u8, 50, 150))
  dist = np.minimum(dist, np.float32(20.0))
  dist = cvn.box3(dist).astype(np.uint8)
  dist = cvn.equalize_hist(dist)
  dist = cvn.filter2d_u8(dist, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
  dist = cvn.box3(dist).astype(np.float32)
  m = layer_u8.astype(np.float32) * dist
  peak = m.max()
  return m / peak if peak > 0 else m  # the reference divides by 0 (NaN) on an empty layer


def water_layer(rng, shape, p) -> np.ndarray:
  """The thresholded uint8 liquid layer: N(mu, s^2) -> Gaussian blur (std b, nearest border)
  -> zero below thr -> uint8 (truncation, as ``(layer * 255).astype(np.uint8)``)."""
  from scipy import ndimage

  mu, s, b, thr = p[:4]
  layer = rng.normal(mu, s, size=shape)
  layer = ndimage.gaussian_filter(layer, b, mode="nearest", truncate=4.0)
  layer[layer < thr] = 0
  return (np.clip(layer, 0, 1) * 255).astype(np.uint8)


def spatter_water(x: np.ndarray, layer_u8: np.ndarray, k: float, faithful: bool = True):
  """Water spatter of one image (H, W, C) float32 given its uint8 liquid layer (host)."""
  colour = _WATER_RGB if faithful else _WATER_RGB_INTENDED
  m = water_mask(layer_u8) * np.float32(k)
  if x.shape[-1] == 3:
    add = m[..., None] * colour
  else:
    add = (m * np.float32(np.dot(_GRAY_WEIGHTS, colour)))[..., None]
  return np.clip(x + add, 0, 1).astype(np.float32)


def _spatter_water_host(rng, x, p, faithful=True):
  """Water severities of spatter (host, NumPy; OpenCV's arithmetic reproduced exactly)."""
  return spatter_water(x, water_layer(rng, x.shape[:2], p), p[4], faithful)


def _spatter_water_intended(rng, x, p):
  return _spatter_water_host(rng, x, p, faithful=False)


def make_spatter(table):
  """Spatter with mud severities in jit and water severities on the host."""
  jit_fn = make_jit_corruption("spatter", spatter_mud, table)
  host_fn = make_host_corruption(
    "spatter", _spatter_water_host, table, intended=_spatter_water_intended
  )

  def fn(key, images, severity: int = 1, faithful: bool = True):
    if table[int(severity) - 1][5] == "water":
      return host_fn(key, images, severity, faithful)
    return jit_fn(key, images, severity, faithful)

  fn.__name__ = "spatter"
  fn.jittable = "partial"  # mud severities jit, water severities host
  fn.num_severities = len(table)
  fn.params = tuple(table)
  fn.has_intended = True
  fn.jit_severities = tuple(i + 1 for i, p in enumerate(table) if p[5] != "water")
  fn.compiled = jit_fn.compiled
  return fn


_PER_IMAGE = {
  "gaussian_noise": gaussian_noise,
  "shot_noise": shot_noise,
  "impulse_noise": impulse_noise,
  "defocus_blur": defocus_blur,
  "glass_blur": glass_blur,
  "motion_blur": motion_blur,
  "zoom_blur": zoom_blur,
  "snow": snow,
  "fog": fog,
  "brightness": brightness,
  "contrast": contrast,
  "elastic_transform": elastic_transform,
  "pixelate": pixelate,
  "speckle_noise": speckle_noise,
  "gaussian_blur": gaussian_blur,
  "saturate": saturate,
}

BENCHMARK = (
  "gaussian_noise",
  "shot_noise",
  "impulse_noise",
  "defocus_blur",
  "glass_blur",
  "motion_blur",
  "zoom_blur",
  "snow",
  "fog",
  "brightness",
  "contrast",
  "elastic_transform",
  "pixelate",
  "jpeg_compression",
)  # frost: make_frost(textures)
HOLDOUT_NAMES = ("speckle_noise", "gaussian_blur", "spatter", "saturate")


def scaled_tables(tables, height: int, width: int, reference: int = 224):
  """Scales the elastic constants for non-224 images (imagecorruptions-style size scaling)."""
  f = min(height, width) / reference
  out = dict(tables)
  out["elastic_transform"] = tuple(tuple(v * f for v in p) for p in tables["elastic_transform"])
  return out


# Corruptions whose reference code differs from its evident intent: faithful=False uses these.
_INTENDED = {"glass_blur": glass_blur_intended, "pixelate": pixelate_intended}


def build(tables, per_image=None):
  per_image = _PER_IMAGE if per_image is None else per_image
  out = {}
  for name, table in tables.items():
    if name == "jpeg_compression":
      out[name] = make_host_corruption(name, _jpeg_host, table)
    elif name == "spatter":
      out[name] = make_spatter(table)
    elif name in per_image:
      out[name] = make_jit_corruption(name, per_image[name], table, intended=_INTENDED.get(name))
  return out


_ALL = build(IMAGENET_TABLES)
CORRUPTIONS = {n: _ALL[n] for n in BENCHMARK}
HOLDOUT = {n: _ALL[n] for n in HOLDOUT_NAMES}
ALL_CORRUPTIONS = dict(_ALL)
IS_JITTABLE = {n: f.jittable for n, f in _ALL.items()}


def for_image_size(height: int, width: int):
  """Corruption dict (benchmark + hold-out) with size-scaled spatial constants."""
  if (height, width) == (224, 224):
    return dict(_ALL)
  return build(scaled_tables(IMAGENET_TABLES, height, width))
