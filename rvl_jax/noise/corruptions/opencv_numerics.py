"""NumPy ports of the OpenCV image operations used by ImageNet-C's spatter (water severities).

The released ImageNet-C spatter images were made with OpenCV calls (``Canny``,
``distanceTransform``, ``threshold``, ``blur``, ``equalizeHist``, ``filter2D``); these
functions reproduce their integer / fixed-point arithmetic so that the corruption does not need
OpenCV at run time. Each function documents the OpenCV semantics it follows. All of them work
on 2-D arrays on the host (the water spatter is a host corruption).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rvl_jax.noise.corruptions.ops import extend_index


def _pad(img: np.ndarray, r: int, mode: str) -> np.ndarray:
  h, w = img.shape
  ih = extend_index(np.arange(-r, h + r), h, mode)
  iw = extend_index(np.arange(-r, w + r), w, mode)
  return img[ih][:, iw]


def _window_sum(padded: np.ndarray, kernel: np.ndarray, h: int, w: int, dtype) -> np.ndarray:
  """Correlation of a border-extended image with a small kernel (exact in ``dtype``)."""
  kh, kw = kernel.shape
  out = np.zeros((h, w), dtype)
  for i in range(kh):
    for j in range(kw):
      if kernel[i, j]:
        out += kernel[i, j] * padded[i : i + h, j : j + w].astype(dtype)
  return out


def box3(img: np.ndarray) -> np.ndarray:
  """``cv2.blur(img, (3, 3))`` with the default border (reflect-101).

  uint8 in: the 3x3 sum divided by 9 and rounded to nearest (uint8 out). float32 in: OpenCV sums
  float inputs in double precision and rounds the mean once to float32, reproduced here.
  """
  h, w = img.shape
  padded = _pad(img, 1, "reflect101")
  if img.dtype == np.uint8:
    s = _window_sum(padded, np.ones((3, 3), np.int64), h, w, np.int64)
    return ((2 * s + 9) // 18).astype(np.uint8)  # round half up: s / 9 is never exactly x.5
  s = _window_sum(padded, np.ones((3, 3), np.float64), h, w, np.float64)
  return (s * (1.0 / 9.0)).astype(np.float32)


def filter2d_u8(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """``cv2.filter2D(img_u8, cv2.CV_8U, kernel)`` for a small integer kernel: correlation with
  reflect-101 borders, saturated to [0, 255]."""
  kernel = np.asarray(kernel, np.int64)
  h, w = img.shape
  padded = _pad(img, kernel.shape[0] // 2, "reflect101")
  return np.clip(_window_sum(padded, kernel, h, w, np.int64), 0, 255).astype(np.uint8)


def equalize_hist(img: np.ndarray) -> np.ndarray:
  """``cv2.equalizeHist``: the lowest occupied level maps to 0, level i to
  round(cumsum(i) * 255 / (N - count(lowest))) computed in float32 (cvRound: half to even)."""
  hist = np.bincount(img.ravel(), minlength=256).astype(np.int64)
  first = int(np.flatnonzero(hist)[0])
  total = img.size
  if hist[first] == total:
    return np.full_like(img, first)
  scale = np.float32(255.0) / np.float32(total - hist[first])
  cum = np.cumsum(hist) - hist[first]
  lut = np.rint(cum.astype(np.float32) * scale)
  lut[: first + 1] = 0
  return np.clip(lut, 0, 255).astype(np.uint8)[img]


# cv2.distanceTransform(DIST_L2, mask 5): 5x5 chamfer distance with the weights 1 (horizontal /
# vertical step), 1.4 (diagonal) and 2.1969 (knight's move), accumulated in float32 along a
# forward and a backward raster pass (the form OpenCV's optimised path computes; the released
# data were made with it). Values >= 21 all truncate to 20 in spatter, so they are capped at
# _CAP, which keeps every value below 21 exact and bounds the in-row relaxation below.
_HV = np.float32(1.0)
_DIAG = np.float32(1.4)
_LONG = np.float32(2.1969)
_CAP = np.float32(64.0)


def _row_scan(cand: np.ndarray) -> np.ndarray:
  """t[j] = min(cand[j], t[j - 1] + 1) in float32 (the in-row dependency of a raster pass),
  solved by relaxation: each sweep moves information one pixel, and a chain of improvements
  grows by 1 per pixel from >= 0 up to the cap, so it stops after at most _CAP + 1 sweeps."""
  t = cand
  while True:
    prev = np.concatenate([[_CAP], t[:-1]]).astype(np.float32)
    new = np.minimum(cand, prev + _HV)
    if np.array_equal(new, t):
      return t
    t = new


def distance_transform_l2_mask5(src: np.ndarray) -> np.ndarray:
  """``cv2.distanceTransform(src, cv2.DIST_L2, 5)`` for distances below 21 (larger values are
  returned as 64): float32 chamfer distance of every pixel to the nearest zero pixel; pixels
  outside the image never count as zero."""
  h, w = src.shape
  b = 2
  tmp = np.full((h + 2 * b, w + 2 * b), _CAP, np.float32)
  zero = src == 0
  for i in range(h):
    r = i + b
    up2, up1 = tmp[r - 2], tmp[r - 1]
    cand = np.minimum.reduce(
      [
        up2[b - 1 : b - 1 + w] + _LONG,
        up2[b + 1 : b + 1 + w] + _LONG,
        up1[b - 2 : b - 2 + w] + _LONG,
        up1[b - 1 : b - 1 + w] + _DIAG,
        up1[b : b + w] + _HV,
        up1[b + 1 : b + 1 + w] + _DIAG,
        up1[b + 2 : b + 2 + w] + _LONG,
        np.full(w, _CAP),
      ]
    )
    cand = np.where(zero[i], np.float32(0), cand)
    tmp[r, b : b + w] = _row_scan(cand)
  for i in range(h - 1, -1, -1):
    r = i + b
    dn2, dn1 = tmp[r + 2], tmp[r + 1]
    cand = np.minimum.reduce(
      [
        tmp[r, b : b + w],
        dn2[b + 1 : b + 1 + w] + _LONG,
        dn2[b - 1 : b - 1 + w] + _LONG,
        dn1[b + 2 : b + 2 + w] + _LONG,
        dn1[b + 1 : b + 1 + w] + _DIAG,
        dn1[b : b + w] + _HV,
        dn1[b - 1 : b - 1 + w] + _DIAG,
        dn1[b - 2 : b - 2 + w] + _LONG,
      ]
    )
    tmp[r, b : b + w] = _row_scan(cand[::-1])[::-1]
  return tmp[b : b + h, b : b + w].copy()


_TG22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)


def canny(img: np.ndarray, low: float, high: float) -> np.ndarray:
  """``cv2.Canny(img_u8, low, high)`` (aperture 3, L1 gradient): uint8 edge map (255 = edge).

  3x3 Sobel derivatives with replicated borders, magnitude |dx| + |dy|, non-maximum suppression
  in four directions quantised with tan(22.5 deg) in 15-bit fixed point (neighbours outside the
  image count as 0), then hysteresis: pixels above ``low`` that survive suppression are edges
  when 8-connected to one above ``high``.
  """
  h, w = img.shape
  p = _pad(img.astype(np.int64), 1, "nearest")
  sob = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.int64)
  dx = _window_sum(p, sob, h, w, np.int64)
  dy = _window_sum(p, sob.T, h, w, np.int64)
  mag = np.abs(dx) + np.abs(dy)
  mp = np.zeros((h + 2, w + 2), np.int64)
  mp[1:-1, 1:-1] = mag

  def nb(di, dj):
    return mp[1 + di : 1 + di + h, 1 + dj : 1 + dj + w]

  lo, hi = int(np.floor(low)), int(np.floor(high))
  ax = np.abs(dx)
  ay = np.abs(dy) << 15
  tg22x = ax * _TG22
  tg67x = tg22x + (ax << 16)
  horiz = ay < tg22x
  vert = ~horiz & (ay > tg67x)
  diag = ~horiz & ~vert
  s = np.where((dx ^ dy) < 0, -1, 1)
  keep_h = (mag > nb(0, -1)) & (mag >= nb(0, 1))
  keep_v = (mag > nb(-1, 0)) & (mag >= nb(1, 0))
  keep_d = np.where(
    s == 1, (mag > nb(-1, -1)) & (mag > nb(1, 1)), (mag > nb(-1, 1)) & (mag > nb(1, -1))
  )
  cand = (mag > lo) & ((horiz & keep_h) | (vert & keep_v) | (diag & keep_d))
  strong = cand & (mag > hi)
  labels, n = ndimage.label(cand, structure=np.ones((3, 3), bool))
  hit = np.zeros(n + 1, bool)
  hit[np.unique(labels[strong])] = True
  hit[0] = False
  return np.where(hit[labels], 255, 0).astype(np.uint8)
