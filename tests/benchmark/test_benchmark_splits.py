"""Exact split bookkeeping (Schott et al. 2022, Table 4) for every data set and split."""

import numpy as np
import pytest

from rvl_jax.benchmark import datasets, splits

# (train, test, one-OOD test images), Schott et al. 2022, Table 4.
EXPECTED = {
  ("dsprites", "random"): (240_000, 497_280, None),
  ("dsprites", "composition"): (192_312, 544_968, None),
  ("dsprites", "interpolation"): (240_000, 497_280, 314_400),
  ("dsprites", "extrapolation"): (240_000, 497_280, 314_400),
  ("shapes3d", "random"): (147_456, 332_544, None),
  ("shapes3d", "composition"): (153_408, 326_592, None),
  ("shapes3d", "interpolation"): (147_456, 332_544, 196_608),
  ("shapes3d", "extrapolation"): (147_456, 332_544, 196_608),
  ("mpi3d", "random"): (311_040, 725_760, None),
  ("mpi3d", "composition"): (287_712, 749_088, None),
  ("mpi3d", "interpolation"): (311_040, 725_760, 442_368),
  ("mpi3d", "extrapolation"): (311_040, 725_760, 442_368),
  ("celeb_glow", "random"): (64_000, 152_000, None),
  ("celeb_glow", "composition"): (91_000, 125_000, None),  # rvl default (42.1 %)
  ("celeb_glow", "interpolation"): (64_000, 152_000, 96_000),
  ("celeb_glow", "extrapolation"): (64_000, 152_000, 96_000),
  # [0, 90) orientation ablation (Schott et al. 2022, App. E).
  ("dsprites_90", "random"): (60_000, 124_320, None),
  ("dsprites_90", "composition"): (48_078, 136_242, None),
  ("dsprites_90", "interpolation"): (60_000, 124_320, 78_600),
  ("dsprites_90", "extrapolation"): (60_000, 124_320, 78_600),
}
PERCENT = {
  ("dsprites", "random"): 32.6,
  ("dsprites", "composition"): 26.1,
  ("shapes3d", "random"): 30.7,
  ("shapes3d", "composition"): 32.0,
  ("mpi3d", "random"): 30.0,
  ("mpi3d", "composition"): 27.8,
  ("celeb_glow", "random"): 29.6,
}


@pytest.mark.parametrize("name,variant", sorted(EXPECTED))
def test_counts_disjoint_complete(name, variant):
  spec = datasets.SPEC[name]
  split = splits.make_split(name, variant)
  n_train, n_test, n_one = EXPECTED[(name, variant)]
  assert (len(split.train), len(split.test)) == (n_train, n_test)
  assert len(split.train) + len(split.test) == spec.num_images
  occ_train = np.zeros(spec.num_images, bool)
  occ_test = np.zeros(spec.num_images, bool)
  occ_train[split.train] = True
  occ_test[split.test] = True
  assert (occ_train ^ occ_test).all()  # disjoint and complete
  assert len(np.unique(split.train)) == n_train
  if (name, variant) in PERCENT:
    assert round(100 * n_train / spec.num_images, 1) == PERCENT[(name, variant)]
  if name != "celeb_glow" or variant != "composition":
    assert round(n_train / spec.num_images, 1) == 0.3 and round(n_test / spec.num_images, 1) == 0.7
  one, factor = splits.one_ood(name, variant, split.test)
  if n_one is None:
    assert not one.any()
  else:
    assert one.sum() == n_one
    # every interpolation / extrapolation test image has at least one OOD factor
    assert splits.ood_mask(name, variant, split.test).any(1).all()
    assert (factor[one] >= 0).all() and (factor[~one] == -1).all()
    assert not splits.ood_mask(name, variant, split.train).any()


def test_dataset_sizes():
  sizes = {
    "dsprites": 737_280,
    "shapes3d": 480_000,
    "mpi3d": 1_036_800,
    "celeb_glow": 216_000,
    "dsprites_90": 184_320,
  }
  for name, n in sizes.items():
    spec = datasets.SPEC[name]
    assert spec.num_images == n
    assert len(spec.factor_names) == len(spec.factor_sizes) == len(spec.categorical)
  assert datasets.SPEC["dsprites"].channels == 1 and datasets.SPEC["mpi3d"].channels == 3


@pytest.mark.parametrize("name", ["dsprites", "shapes3d", "mpi3d", "celeb_glow"])
def test_composition_test_is_corner(name):
  spec = datasets.SPEC[name]
  split = splits.make_split(name, "composition")
  f = datasets.index_to_factors(spec.factor_sizes, split.test)
  table = splits.EXCLUSIVE_TRAIN[name]
  for j, fname in enumerate(spec.factor_names):
    if fname in table:
      assert not np.isin(f[:, j], table[fname]).any()
  expect = 1
  for fname, k in zip(spec.factor_names, spec.factor_sizes):
    expect *= k - len(table.get(fname, ()))
  assert len(split.test) == expect
  # every factor value occurs in training (composition has no OOD factor values)
  assert all(m.all() for m in splits.train_values(name, "composition"))


def test_celeb_glow_alternative_composition():
  split = splits.make_split("celeb_glow", "composition", celeb_variant="alt")
  assert len(split.train) == 66_000 and round(100 * len(split.train) / 216_000, 1) == 30.6


def test_random_split_seeded_and_deterministic():
  a = splits.make_split("dsprites", "random", seed=0)
  b = splits.train_mask("dsprites", "random", seed=0)
  c = splits.make_split("dsprites", "random", seed=1)
  np.testing.assert_array_equal(a.train, np.flatnonzero(b))
  assert len(c.train) == len(a.train) == len(splits.make_split("dsprites", "extrapolation").train)
  assert not np.array_equal(a.train, c.train)


def test_interpolation_values_verbatim():
  t = splits.EXCLUSIVE_TEST["dsprites"]["interpolation"]
  assert t["x-position"] == (2, 7, 11, 15, 20, 24, 29)
  seen = splits.train_values("dsprites", "interpolation")
  assert np.flatnonzero(~seen[3]).tolist() == [2, 7, 11, 15, 20, 24, 29]
  assert np.flatnonzero(~seen[2]).tolist() == [2, 7, 12, 17, 22, 27, 32, 37]


def test_grid_index_round_trip():
  rng = np.random.default_rng(0)
  for spec in datasets.SPEC.values():
    idx = rng.integers(0, spec.num_images, 1000)
    f = datasets.index_to_factors(spec.factor_sizes, idx)
    assert (f < np.asarray(spec.factor_sizes)).all()
    np.testing.assert_array_equal(datasets.factors_to_index(spec.factor_sizes, f), idx)
  # last factor varies fastest
  np.testing.assert_array_equal(
    datasets.index_to_factors((3, 4), [0, 1, 4]), [[0, 0], [0, 1], [1, 0]]
  )
  with pytest.raises(ValueError, match="argument 'index'"):
    datasets.index_to_factors((3, 4), [12])


def test_bad_arguments():
  with pytest.raises(ValueError, match="argument 'name'"):
    splits.make_split("cifar", "random")
  with pytest.raises(ValueError, match="argument 'variant'"):
    splits.make_split("dsprites", "mixed")
