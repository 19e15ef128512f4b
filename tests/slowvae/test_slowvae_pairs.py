"""LAP / UNI transition statistics (Klindt et al. 2021, App. D.1-D.2) against their exact values."""

import numpy as np
import pytest
from scipy import stats

from rvl_jax.slowvae import pairs

N = 100_000
DSPRITES = ((3, 6, 40, 32, 32), (True, False, False, False, False))
# exact LAP statistics (from the truncated-Laplace pmf): per-factor change probabilities of the
# non-categorical factors, k histogram, E[k]
TABLE = {
  "dsprites": (DSPRITES, (0.62, 0.85, 0.84, 0.84), (0.03, 0.17, 0.44, 0.37), 3.14),
  "shapes3d": (
    ((10, 10, 10, 8, 4, 15), (0, 0, 0, 0, 1, 0)),
    (0.72, 0.72, 0.72, 0.68, 0.77),
    (0.02, 0.11, 0.29, 0.38, 0.20),
    3.62,
  ),
  "mpi3d": (
    ((6, 6, 2, 3, 3, 40, 40), (0, 1, 0, 0, 0, 0, 0)),
    (0.62, 0.19, 0.39, 0.39, 0.85, 0.85),
    (0.04, 0.18, 0.36, 0.30, 0.11, 0.01),
    3.29,
  ),
  "cars3d": (((4, 24, 183), (0, 0, 1)), (0.50, 0.82), (0.59, 0.41), 1.41),
  "smallnorb": (((5, 10, 9, 18, 6), (1, 1, 0, 0, 0)), (0.70, 0.79, 0.62), (0.21, 0.45, 0.35), 2.14),
}


def _first(sizes, rng):
  return np.stack([rng.integers(0, n, N) for n in sizes], 1)


@pytest.mark.parametrize("name", list(TABLE))
def test_lap_statistics_match_spec_table(name):
  (sizes, cat), p_change, k_hist, e_k = TABLE[name]
  rng = np.random.default_rng(0)
  f1 = _first(sizes, rng)
  f2 = pairs.LaplaceTransitions(sizes, cat, rate=1.0)(rng, f1)
  changed = f2 != f1
  cat = np.asarray(cat, bool)
  assert not changed[:, cat].any()  # categorical factors (dSprites shape) never change
  k = changed.sum(1)
  assert k.min() >= 1  # every pair changes
  hist = np.bincount(k, minlength=len(k_hist) + 1)[1:] / N
  np.testing.assert_allclose(hist, k_hist, atol=0.01)
  assert abs(k.mean() - e_k) < 0.02
  # per-factor probabilities of the table are those of the Laplace draw itself (before the
  # forcing step; identical to 0.01 for dSprites, Shapes3D, MPI3D): check them on LAP-NC.
  f2_nc = pairs.LaplaceTransitions(sizes, cat, rate=1.0, force_change=False)(rng, f1)
  np.testing.assert_allclose((f2_nc != f1)[:, ~cat].mean(0), p_change, atol=0.01)
  if name == "dsprites":
    np.testing.assert_allclose(changed[:, ~cat].mean(0), p_change, atol=0.01)
    assert abs(np.abs(f2 - f1)[:, 3].mean() - 2.97) < 0.05  # E|dx| in grid steps


def test_lap_distribution_is_truncated_laplace():
  s = pairs.LaplaceTransitions(*DSPRITES, rate=1.0)
  p = s.transition_probs(3, 0)
  b = np.log(32)
  expected = np.exp(-np.arange(32) / b)
  np.testing.assert_allclose(p, expected / expected.sum())


def test_lap_nc_and_random_rate():
  rng = np.random.default_rng(1)
  f1 = _first(DSPRITES[0], rng)[:20000]
  f2 = pairs.LaplaceTransitions(*DSPRITES, force_change=False)(rng, f1)
  assert 0.0005 < np.mean(np.all(f2 == f1, 1)) < 0.004  # static pairs allowed (~0.15 %)
  f2r = pairs.LaplaceTransitions(*DSPRITES, rate=-1)(rng, f1)
  assert np.all((f2r != f1).sum(1) >= 1)
  # random rates in U(1, 10) make transitions sparser on average than rate 1
  assert (f2r != f1).sum(1).mean() < (f2 != f1).sum(1).mean()


def test_uni_changes_exactly_k_uniform():
  rng = np.random.default_rng(2)
  sizes, cat = DSPRITES
  f1 = _first(sizes, rng)
  f2 = pairs.UniformTransitions(sizes, cat)(rng, f1)
  k = (f2 != f1).sum(1)
  counts = np.bincount(k, minlength=5)
  assert counts[0] == 0 and counts.sum() == N
  assert stats.chisquare(counts[1:]).pvalue > 1e-3  # uniform over {1, 2, 3, 4}
  assert (f2[:, 0] != f1[:, 0]).mean() > 0.2  # shape can change under UNI
  f2k = pairs.UniformTransitions(sizes, cat, k=2)(rng, f1[:1000])
  assert np.all((f2k != f1[:1000]).sum(1) == 2)
  assert np.all(f2 < np.asarray(sizes)) and np.all(f2 >= 0)


def test_loc_sampler_and_validation():
  rng = np.random.default_rng(3)
  sizes, cat = DSPRITES
  f1 = _first(sizes, rng)[:20000]
  f2 = pairs.make_sampler("loc", sizes, cat)(rng, f1)
  assert np.mean(np.all(f2 == f1, 1)) > 0  # LOC may resample the old value
  with pytest.raises(ValueError, match="factors"):
    pairs.LaplaceTransitions(*DSPRITES)(rng, np.zeros((3, 4), int))
  with pytest.raises(ValueError, match="factors"):
    pairs.LaplaceTransitions(*DSPRITES)(rng, np.full((3, 5), 40))
  with pytest.raises(ValueError, match="sampler"):
    pairs.make_sampler("gauss", sizes, cat)
  with pytest.raises(ValueError, match="rate"):
    pairs.LaplaceTransitions(*DSPRITES, rate=0.0)
