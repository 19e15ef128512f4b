"""Throughput of the jit-compiled procedural dSprites renderer.

    python -m experiments.speed.dsprites_render [--batch_size=256] [--batches=50]

Prints the time of the first (compiling) call and images/s after compilation, measured against a
NumPy implementation of the same geometry on the full canvas (the naive baseline) in the same run.
"""

import time

import numpy as np
from absl import app, flags

from rvl_jax.data import dsprites

_BATCH = flags.DEFINE_integer("batch_size", 256, "Images per call.")
_BATCHES = flags.DEFINE_integer("batches", 50, "Timed calls after compilation.")


def numpy_render(factors: np.ndarray) -> np.ndarray:
  """Full-canvas, all-shapes NumPy renderer of the same geometry (the baseline)."""
  f = factors.astype(np.float64)
  scale = 0.5 + 0.1 * f[:, 1]
  theta = f[:, 2] * 2 * np.pi / 39
  span = 64 - 2 * dsprites.MARGIN
  cx = dsprites.MARGIN + f[:, 3] / 31 * span
  cy = dsprites.MARGIN + f[:, 4] / 31 * span
  k = np.arange(64) + 0.5
  dx = k[None, None, :] - cx[:, None, None]
  dy = k[None, :, None] - cy[:, None, None]
  c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
  size = (scale * dsprites.BASE_SIZE)[:, None, None]
  u1 = (c * dx + s * dy) / size
  u2 = (-s * dx + c * dy) / size
  square = (np.abs(u1) <= 1) & (np.abs(u2) <= 1)
  ellipse = (u1 / 1.25) ** 2 + (u2 / 0.62) ** 2 <= 1
  a, b = u1 / 1.15, -u2 / 1.15 + 0.25
  heart = (a * a + b * b - 1) ** 3 - a * a * b**3 <= 0
  shape = factors[:, 0][:, None, None]
  return np.where(shape == 0, square, np.where(shape == 1, ellipse, heart)).astype(np.float32)


def main(argv):
  del argv
  data = dsprites.ProceduralDSprites()
  batch = _BATCH.value
  factor_batches = [data.sample_factors(i, batch) for i in range(_BATCHES.value + 1)]
  t0 = time.perf_counter()
  data.images_from_factors(factor_batches[0])
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  for f in factor_batches[1:]:
    data.images_from_factors(f)
  jit_rate = batch * _BATCHES.value / (time.perf_counter() - t0)
  n_np = max(2, _BATCHES.value // 10)
  t0 = time.perf_counter()
  for f in factor_batches[1 : n_np + 1]:
    numpy_render(f)
  np_rate = batch * n_np / (time.perf_counter() - t0)
  agree = np.mean(
    data.images_from_factors(factor_batches[1])[..., 0] == numpy_render(factor_batches[1])
  )
  print(f"dSprites-procedural renderer, batch {batch}")
  print(f"  first call (compile + render): {first:.3f} s")
  print(f"  jit renderer:    {jit_rate:,.0f} images/s")
  print(f"  numpy baseline:  {np_rate:,.0f} images/s (full canvas, all shapes, float64)")
  print(f"  speed-up: {jit_rate / np_rate:.1f}x; pixel agreement with the baseline: {agree:.6f}")


if __name__ == "__main__":
  app.run(main)
