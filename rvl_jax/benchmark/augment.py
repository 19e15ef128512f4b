"""Training augmentations of the paper's App. F ablation (random erasing, Gaussian noise,
small shear, blur; no shifts, which would alias the position factors). numpy, per batch.

``spec`` is a comma-separated subset of {'erase', 'noise', 'shear', 'blur'}.
"""

from __future__ import annotations

import numpy as np

KINDS = ("erase", "noise", "shear", "blur")


def _erase(x, rng, p=0.5):
  b, h, w, _ = x.shape
  for i in np.flatnonzero(rng.random(b) < p):
    eh, ew = rng.integers(h // 8, h // 3 + 1), rng.integers(w // 8, w // 3 + 1)
    y0, x0 = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
    x[i, y0 : y0 + eh, x0 : x0 + ew] = rng.random()
  return x


def _shear(x, rng, max_shear=0.1):
  b, h, w, _ = x.shape
  out = np.empty_like(x)
  rows = np.arange(h)[:, None] - (h - 1) / 2
  cols = np.arange(w)[None, :]
  for i in range(b):
    s = rng.uniform(-max_shear, max_shear)
    src = np.clip(np.round(cols + s * rows).astype(int), 0, w - 1)
    out[i] = np.take_along_axis(x[i], np.broadcast_to(src[..., None], x[i].shape), axis=1)
  return out


def _blur(x, rng, p=0.5):
  pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  blurred = (
    sum(pad[:, dy : dy + x.shape[1], dx : dx + x.shape[2]] for dy in range(3) for dx in range(3))
    / 9
  )
  sel = (rng.random(len(x)) < p)[:, None, None, None]
  return np.where(sel, blurred, x)


def apply(images, spec: str, rng: np.random.Generator) -> np.ndarray:
  kinds = [k.strip() for k in spec.split(",") if k.strip()]
  bad = set(kinds) - set(KINDS)
  if bad:
    raise ValueError(f"argument 'augment': expected a subset of {KINDS}, got {sorted(bad)}")
  x = np.array(images, np.float32, copy=True)
  if "shear" in kinds:
    x = _shear(x, rng)
  if "blur" in kinds:
    x = _blur(x, rng)
  if "erase" in kinds:
    x = _erase(x, rng)
  if "noise" in kinds:
    x = x + rng.normal(0.0, 0.05, x.shape).astype(np.float32)
  return np.clip(x, 0.0, 1.0)
