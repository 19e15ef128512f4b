"""CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019): the ImageNet-C corruption functions with the
CIFAR-10-C parameter tables (32x32 RGB; ``CIFAR_TABLES``, defined next to ImageNet-C's in
``tables``)."""

from __future__ import annotations

from rvl_jax.noise.corruptions import imagenet_c
from rvl_jax.noise.corruptions.tables import CIFAR_TABLES

_ALL = imagenet_c.build(CIFAR_TABLES)
CORRUPTIONS = {n: _ALL[n] for n in imagenet_c.BENCHMARK}
HOLDOUT = {n: _ALL[n] for n in imagenet_c.HOLDOUT_NAMES}
ALL_CORRUPTIONS = dict(_ALL)
IS_JITTABLE = {n: f.jittable for n, f in _ALL.items()}
