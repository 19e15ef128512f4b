"""The four systematic splits of the benchmark (random, composition, interpolation,
extrapolation), exact, for every data set, plus the one-OOD subset.

Rules (Schott et al. 2022, Sec. 4.2 and App. H.2):
* interpolation / extrapolation: a grid point is *test* iff at least one factor value lies
  in that factor's exclusive-test set E_i; train is the complement.
* composition: a grid point is *train* iff at least one factor value lies in that factor's
  exclusive-train set T_i; test is the complement (the unseen corner).
* random: a uniform random permutation of the grid with a fixed seed; the first
  ``n_train`` indices (the train size of the extrapolation split) are train.

Only index arrays are stored (sorted int64 grid indices), never image copies.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Dict, Sequence, Tuple

import numpy as np

from rvl_jax.benchmark import datasets

_r = lambda a, b: tuple(range(a, b + 1))


def _dsprites(scale, orientation, position) -> Dict[str, Tuple[int, ...]]:
  """The dSprites values of one variant (x- and y-position share their values)."""
  return {
    "scale": scale,
    "orientation": orientation,
    "x-position": position,
    "y-position": position,
  }


_DSPRITES_INTERPOLATION = (2, 7, 11, 15, 20, 24, 29)  # x- and y-position
_SHAPES3D_COLORS = ("floor color", "wall color", "object color")

# Exclusive-test values E_i (Schott et al. 2022, App. H.2, Table 2), keyed by data set, then
# variant, then factor.
EXCLUSIVE_TEST: Dict[str, Dict[str, Dict[str, Tuple[int, ...]]]] = {
  "dsprites": {
    "interpolation": _dsprites((1, 4), (2, 7, 12, 17, 22, 27, 32, 37), _DSPRITES_INTERPOLATION),
    "extrapolation": _dsprites((4, 5), _r(32, 39), _r(25, 31)),
  },
  # Non-ambiguous [0, 90) dSprites ablation (Schott et al. 2022, App. E): other orientations.
  "dsprites_90": {
    "interpolation": _dsprites((1, 4), (2, 7), _DSPRITES_INTERPOLATION),
    "extrapolation": _dsprites((4, 5), (8, 9), _r(25, 31)),
  },
  "shapes3d": {  # the three colour factors share their values
    "interpolation": {
      **dict.fromkeys(_SHAPES3D_COLORS, (2, 7)),
      "object size": (2, 5),
      "azimuth": (2, 7, 12),
    },
    "extrapolation": {
      **dict.fromkeys(_SHAPES3D_COLORS, (8, 9)),
      "object size": (6, 7),
      "azimuth": (12, 13, 14),
    },
  },
  "mpi3d": {
    "interpolation": {
      "color": (3,),
      "height": (1,),
      "bg color": (1,),
      "x-axis": (5, 15, 24, 34),
      "y-axis": (5, 15, 24, 34),
    },
    "extrapolation": {
      "color": (5,),
      "height": (2,),
      "bg color": (2,),
      "x-axis": _r(36, 39),
      "y-axis": _r(36, 39),
    },
  },
  "celeb_glow": {
    "interpolation": {"smile": (1, 4), "blond": (1, 4), "age": (1, 4)},
    "extrapolation": {"smile": (4, 5), "blond": (4, 5), "age": (4, 5)},
  },
}

# Exclusive-train values T_i of the composition split (Schott et al. 2022, App. H.2, Table 3).
EXCLUSIVE_TRAIN: Dict[str, Dict[str, Tuple[int, ...]]] = {
  "dsprites": {"orientation": (0, 1, 2, 3), "x-position": (0, 1, 2), "y-position": (0, 1, 2)},
  "dsprites_90": {"orientation": (0,), "x-position": (0, 1, 2), "y-position": (0, 1, 2)},
  "shapes3d": {"floor color": (0,), "wall color": (0,), "object color": (0,), "azimuth": (0,)},
  "mpi3d": {"x-axis": _r(0, 5), "y-axis": _r(0, 5)},
  # Not published: rvl default (42.1 % train) and the alternative closer to 30 % (30.6 %).
  "celeb_glow": {"smile": (0,), "blond": (0,), "age": (0,)},
}
CELEB_GLOW_COMPOSITION_ALT = {"smile": (0,), "blond": (0,)}

RANDOM_SPLIT_SEED = 0


@dataclasses.dataclass(frozen=True)
class Split:
  """Train and test grid indices (sorted, int64) of one split."""

  dataset: str
  variant: str
  train: np.ndarray
  test: np.ndarray

  def indices(self, mode: str) -> np.ndarray:
    return self.train if datasets.check_mode(mode) == "train" else self.test


def _value_masks(spec: datasets.DatasetSpec, table: Dict[str, Sequence[int]]):
  """Per-factor boolean masks over values, from {factor name: values}."""
  masks = []
  for name, k in zip(spec.factor_names, spec.factor_sizes):
    m = np.zeros(k, bool)
    m[list(table.get(name, ()))] = True
    masks.append(m)
  unknown = set(table) - set(spec.factor_names)
  if unknown:
    raise ValueError(f"unknown factor names {sorted(unknown)} for data set {spec.name!r}")
  return masks


def _any_in(spec, factors, masks) -> np.ndarray:
  hit = np.zeros(len(factors), bool)
  for i, m in enumerate(masks):
    hit |= m[factors[:, i]]
  return hit


def exclusive_train_table(name: str, celeb_variant: str = "default"):
  if name == "celeb_glow" and celeb_variant == "alt":
    return CELEB_GLOW_COMPOSITION_ALT
  if celeb_variant not in ("default", "alt"):
    raise ValueError(
      f"argument 'celeb_variant': expected 'default' or 'alt', got {celeb_variant!r}"
    )
  return EXCLUSIVE_TRAIN[name]


@functools.lru_cache(maxsize=16)
def _grid(name: str) -> np.ndarray:
  spec = datasets.get_spec(name)
  return datasets.full_grid_factors(spec.factor_sizes)


def train_mask(
  name: str, variant: str, *, seed: int = RANDOM_SPLIT_SEED, celeb_variant: str = "default"
) -> np.ndarray:
  """Boolean occupancy mask of the train set over the full grid (N,)."""
  spec = datasets.get_spec(name)
  datasets.check_variant(variant)
  if variant == "random":
    n_train = int(train_mask(name, "extrapolation").sum())
    perm = np.random.default_rng(seed).permutation(spec.num_images)
    mask = np.zeros(spec.num_images, bool)
    mask[perm[:n_train]] = True
    return mask
  grid = _grid(name)
  if variant == "composition":
    return _any_in(spec, grid, _value_masks(spec, exclusive_train_table(name, celeb_variant)))
  return ~_any_in(spec, grid, _value_masks(spec, EXCLUSIVE_TEST[name][variant]))


@functools.lru_cache(maxsize=32)
def _cached_split(name, variant, seed, celeb_variant):
  mask = train_mask(name, variant, seed=seed, celeb_variant=celeb_variant)
  train = np.flatnonzero(mask).astype(np.int64)
  test = np.flatnonzero(~mask).astype(np.int64)
  train.setflags(write=False)
  test.setflags(write=False)
  return Split(name, variant, train, test)


def make_split(
  name: str, variant: str, seed: int = RANDOM_SPLIT_SEED, celeb_variant: str = "default"
) -> Split:
  """The exact split of data set ``name`` (see the module docstring). Results are cached.

  Args:
    name: a data set of ``datasets.SPEC``.
    variant: 'random' | 'composition' | 'interpolation' | 'extrapolation'.
    seed: permutation seed of the random split (ignored by the other variants).
    celeb_variant: CelebGlow composition table, 'default' | 'alt'.

  Returns:
    A ``Split`` with sorted int64 grid indices ``train`` and ``test``.

  Raises:
    ValueError: naming 'name' or 'variant' for an unknown value.
  """
  datasets.get_spec(name)
  datasets.check_variant(variant)
  seed = int(seed) if variant == "random" else RANDOM_SPLIT_SEED
  return _cached_split(name, variant, seed, celeb_variant)


def train_values(name: str, variant: str, **kw):
  """For each factor, the boolean mask of values that occur in the train split."""
  spec = datasets.get_spec(name)
  split = make_split(name, variant, **kw)
  factors = datasets.index_to_factors(spec.factor_sizes, split.train)
  out = []
  for i, k in enumerate(spec.factor_sizes):
    m = np.zeros(k, bool)
    m[np.unique(factors[:, i])] = True
    out.append(m)
  return out


def ood_mask(name: str, variant: str, indices, **kw) -> np.ndarray:
  """Per image and factor: True where the factor value never occurs in the train split.

  Args:
    name: a data set of ``datasets.SPEC``.
    variant: the split.
    indices: grid indices of the images.
    **kw: passed to :func:`make_split`.

  Returns:
    bool (n, F). For composition and random splits it is all False.
  """
  spec = datasets.get_spec(name)
  factors = datasets.index_to_factors(spec.factor_sizes, indices)
  seen = train_values(name, variant, **kw)
  return np.stack([~seen[i][factors[:, i]] for i in range(spec.num_factors)], axis=1)


def one_ood(name: str, variant: str, indices, **kw) -> Tuple[np.ndarray, np.ndarray]:
  """D_one-ood membership and OOD factor of each image (Schott et al. 2022, Sec. 5.2).

  Args:
    name: a data set of ``datasets.SPEC``.
    variant: the split.
    indices: grid indices of the images.
    **kw: passed to :func:`make_split`.

  Returns:
    ``(is_one_ood bool (n,), ood_factor int64 (n,))`` with ood_factor = -1 where the image does
    not have exactly one OOD factor.
  """
  mask = ood_mask(name, variant, indices, **kw)
  one = mask.sum(1) == 1
  factor = np.where(one, mask.argmax(1), -1).astype(np.int64)
  return one, factor


def train_mean(name: str, variant: str, **kw) -> np.ndarray:
  """Mean of each normalised factor over the train split (float64, (F,))."""
  spec = datasets.get_spec(name)
  split = make_split(name, variant, **kw)
  f = datasets.index_to_factors(spec.factor_sizes, split.train)
  return datasets.normalize_factors(spec.factor_sizes, f).astype(np.float64).mean(0)


def summary(name: str, variant: str, **kw) -> dict:
  """Train / test / one-OOD image counts of one split (Schott et al. 2022, Table 4)."""
  split = make_split(name, variant, **kw)
  n = len(split.train) + len(split.test)
  out = dict(
    train=len(split.train), test=len(split.test), train_percent=100.0 * len(split.train) / n
  )
  if variant in ("interpolation", "extrapolation"):
    out["one_ood"] = int(one_ood(name, variant, split.test, **kw)[0].sum())
  return out
