"""CIFAR-10-C parameter tables (Hendrycks & Dietterich, ICLR 2019) on the ImageNet-C corruption
functions (32x32 RGB)."""

from __future__ import annotations

import numpy as np

from rvl_jax.noise.corruptions import imagenet_c

CIFAR_TABLES = {
  "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
  "shot_noise": (500, 250, 100, 75, 50),
  "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
  "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
  "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
  "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
  "zoom_blur": tuple(
    tuple(float(v) for v in np.arange(1, e, 0.01)) for e in (1.06, 1.11, 1.16, 1.21, 1.26)
  ),
  "snow": (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
  ),
  "fog": ((0.2, 3, 32), (0.5, 3, 32), (0.75, 2.5, 32), (1, 2, 32), (1.5, 1.75, 32)),
  "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
  "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
  "elastic_transform": tuple(
    (32 * a, 32 * s, 32 * m)
    for a, s, m in (
      (0, 0, 0.08),
      (0.05, 0.2, 0.07),
      (0.08, 0.06, 0.06),
      (0.1, 0.04, 0.05),
      (0.1, 0.03, 0.03),
    )
  ),
  "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
  "jpeg_compression": (80, 65, 58, 50, 40),
  "speckle_noise": (0.06, 0.10, 0.12, 0.16, 0.20),
  "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
  "spatter": imagenet_c.IMAGENET_TABLES["spatter"],
  "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}

_ALL = imagenet_c.build(CIFAR_TABLES)
CORRUPTIONS = {n: _ALL[n] for n in imagenet_c.BENCHMARK}
HOLDOUT = {n: _ALL[n] for n in imagenet_c.HOLDOUT_NAMES}
ALL_CORRUPTIONS = dict(_ALL)
IS_JITTABLE = {n: f.jittable for n, f in _ALL.items()}
