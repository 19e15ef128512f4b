"""Factor metadata of the benchmark data sets and the row-major grid index.

Every data set of the benchmark is a complete grid: one image per combination of
discrete factor values. The factor order below is the order of the target vector and of
the row-major grid index (``index = sum_i y_i * prod_{k>i} K_k``; last factor fastest).

``dsprites_90`` is the non-ambiguous dSprites ablation (paper App. E): orientation is
restricted to the first 10 of the 40 orientation values, i.e. [0, 90) degrees.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Sequence, Tuple

import numpy as np

from rvl_jax.core import validation

# The grid index lives once, in rvl_jax.data.ground_truth; re-exported for the benchmark modules.
from rvl_jax.data.ground_truth import (
  FactorGridSize,
  factors_to_index,  # noqa: F401
  full_grid_factors,  # noqa: F401
  index_to_factors,  # noqa: F401
  normalize_factors,  # noqa: F401
)


@dataclasses.dataclass(frozen=True)
class DatasetSpec(FactorGridSize):
  """Static description of one benchmark data set."""

  name: str
  factor_names: Tuple[str, ...]
  factor_sizes: Tuple[int, ...]
  categorical: Tuple[bool, ...]
  channels: int
  image_size: int = 64

  @property
  def image_shape(self) -> Tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)

  @property
  def splittable(self) -> Tuple[bool, ...]:
    """Factors along which splits may be made (not categorical, more than 2 values)."""
    return tuple((not c) and k > 2 for c, k in zip(self.categorical, self.factor_sizes))


SPEC: Dict[str, DatasetSpec] = {
  "dsprites": DatasetSpec(
    "dsprites",
    ("shape", "scale", "orientation", "x-position", "y-position"),
    (3, 6, 40, 32, 32),
    (True, False, False, False, False),
    1,
  ),
  "dsprites_90": DatasetSpec(
    "dsprites_90",
    ("shape", "scale", "orientation", "x-position", "y-position"),
    (3, 6, 10, 32, 32),
    (True, False, False, False, False),
    1,
  ),
  "shapes3d": DatasetSpec(
    "shapes3d",
    ("floor color", "wall color", "object color", "object size", "object type", "azimuth"),
    (10, 10, 10, 8, 4, 15),
    (False, False, False, False, True, False),
    3,
  ),
  "mpi3d": DatasetSpec(
    "mpi3d",
    ("color", "shape", "size", "height", "bg color", "x-axis", "y-axis"),
    (6, 6, 2, 3, 3, 40, 40),
    (False, True, True, False, False, False, False),
    3,
  ),
  "celeb_glow": DatasetSpec(
    "celeb_glow",
    ("person", "smile", "blond", "age"),
    (1000, 6, 6, 6),
    (True, False, False, False),
    3,
  ),
}

DATASET_NAMES = tuple(SPEC)
VARIANTS = ("random", "composition", "interpolation", "extrapolation")
MODES = ("train", "test")


def get_spec(name: str) -> DatasetSpec:
  validation.check_in_choices("name", name, sorted(SPEC))
  return SPEC[name]


def check_variant(variant: str) -> str:
  validation.check_in_choices("variant", variant, VARIANTS)
  return variant


def check_mode(mode: str) -> str:
  validation.check_in_choices("mode", mode, MODES)
  return mode


def grid_variance(sizes: Sequence[int]) -> np.ndarray:
  """Per-factor variance of the normalised targets over the full grid, float64 (F,).

  The grid is a Cartesian product, so each marginal is uniform over its K values and the
  variance is (K + 1) / (12 (K - 1)).
  """
  return np.array([np.var(np.arange(k, dtype=np.float64) / max(k - 1, 1)) for k in sizes])
