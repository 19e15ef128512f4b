"""Severity parameters of the ImageNet-C and CIFAR-10-C corruptions (Hendrycks & Dietterich,
ICLR 2019), side by side.

``SEVERITIES[name] = (ImageNet-C's five severities, CIFAR-10-C's five severities)``; the
corruption functions of ``imagenet_c`` read one column (``IMAGENET_TABLES`` for 224x224 images,
``CIFAR_TABLES`` for 32x32 images).
"""

from __future__ import annotations

import numpy as np


def _zoom_factors(ends_and_steps):
  """Zoom blur: per severity the zoom factors ``arange(1, end, step)``."""
  return tuple(tuple(float(v) for v in np.arange(1, e, st)) for e, st in ends_and_steps)


def _elastic(size, fractions):
  """Elastic transform: (alpha, sigma, affine) constants given as fractions of the image size."""
  return tuple((size * a, size * s, size * m) for a, s, m in fractions)


# ImageNet-C's spatter severities; CIFAR-10-C uses the same ones.
_SPATTER = (
  (0.65, 0.3, 4, 0.69, 0.6, "water"),
  (0.65, 0.3, 3, 0.68, 0.6, "water"),
  (0.65, 0.3, 2, 0.68, 0.5, "water"),
  (0.65, 0.3, 1, 0.65, 1.5, "mud"),
  (0.67, 0.4, 1, 0.65, 1.5, "mud"),
)

SEVERITIES = {
  "gaussian_noise": ((0.08, 0.12, 0.18, 0.26, 0.38), (0.04, 0.06, 0.08, 0.09, 0.10)),
  "shot_noise": ((60, 25, 12, 5, 3), (500, 250, 100, 75, 50)),
  "impulse_noise": ((0.03, 0.06, 0.09, 0.17, 0.27), (0.01, 0.02, 0.03, 0.05, 0.07)),
  "defocus_blur": (
    ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
  ),
  "glass_blur": (
    ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
  ),
  "motion_blur": (
    ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
  ),
  "zoom_blur": (
    _zoom_factors(((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))),
    _zoom_factors((e, 0.01) for e in (1.06, 1.11, 1.16, 1.21, 1.26)),
  ),
  "snow": (
    (
      (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
      (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
      (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
      (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
      (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
    (
      (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
      (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
      (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
      (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
      (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
  ),
  "fog": (
    ((1.5, 2, 256), (2.0, 2, 256), (2.5, 1.7, 256), (2.5, 1.5, 256), (3.0, 1.4, 256)),
    ((0.2, 3, 32), (0.5, 3, 32), (0.75, 2.5, 32), (1, 2, 32), (1.5, 1.75, 32)),
  ),
  "brightness": ((0.1, 0.2, 0.3, 0.4, 0.5), (0.05, 0.1, 0.15, 0.2, 0.3)),
  "contrast": ((0.4, 0.3, 0.2, 0.1, 0.05), (0.75, 0.5, 0.4, 0.3, 0.15)),
  "elastic_transform": (
    # 244 is the upstream typo for 224, kept for fidelity.
    _elastic(
      244,
      ((2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)),
    ),
    _elastic(
      32,
      ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    ),
  ),
  "pixelate": ((0.6, 0.5, 0.4, 0.3, 0.25), (0.95, 0.9, 0.85, 0.75, 0.65)),
  "jpeg_compression": ((25, 18, 15, 10, 7), (80, 65, 58, 50, 40)),
  "speckle_noise": ((0.15, 0.2, 0.35, 0.45, 0.6), (0.06, 0.10, 0.12, 0.16, 0.20)),
  "gaussian_blur": ((1, 2, 3, 4, 6), (0.4, 0.6, 0.7, 0.8, 1.0)),
  "spatter": (_SPATTER, _SPATTER),
  "saturate": (
    ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
    ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
  ),
}

IMAGENET_TABLES = {name: both[0] for name, both in SEVERITIES.items()}
CIFAR_TABLES = {name: both[1] for name, both in SEVERITIES.items()}
