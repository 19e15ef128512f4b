"""Metric identities of R^2 / MSE and the evaluate_model API (Schott et al. 2022, Sec. 4.3)."""

import numpy as np
import pytest

from rvl_jax import benchmark as bench
from rvl_jax.benchmark import data, datasets, metrics


def _encoded_dataset(name, variant, mode):
  """A dataset whose images carry their normalised targets in the first pixels (no rendering)."""
  split = bench.make_split(name, variant)
  idx = split.indices(mode)
  spec = datasets.SPEC[name]
  labels = datasets.index_to_factors(spec.factor_sizes, idx)
  targets = datasets.normalize_factors(spec.factor_sizes, labels)

  def image_fn(pos):
    img = np.zeros((len(pos), 8, 8, spec.channels), np.float32)
    img[:, 0, : spec.num_factors, 0] = targets[pos]
    return img

  return data.BenchmarkDataset(
    name, variant, mode, labels=labels, image_fn=image_fn, source="test", grid_indices=idx
  )


def read_targets(images):
  return images[:, 0, :5, 0]


def test_perfect_constant_zero_models():
  ds = _encoded_dataset("dsprites", "extrapolation", "test")
  loader = data.DataLoader(ds, batch_size=256, max_samples=3000, seed=0)
  s = bench.evaluate_model(read_targets, loader)
  assert s["rsquared"] == 1.0 and s["mse"] == 0.0
  for f in ds.factor_names:
    assert s[f"rsquared_{f}"] == 1.0 and s[f"mse_{f}"] == 0.0
  # constant grid mean on the full grid: R^2 = 0 exactly
  grid = ds.normalized_targets.astype(np.float64)
  var = datasets.grid_variance(ds.factor_sizes)
  scores = metrics.score_dict(grid, np.broadcast_to(grid.mean(0), grid.shape), ds.factor_names, var)
  for f in ds.factor_names:
    assert abs(scores[f"rsquared_{f}"]) < 1e-5
  zero = bench.evaluate_model(lambda x: np.zeros((len(x), 5)), loader)
  assert zero["rsquared"] < 0 and all(zero[f"rsquared_{f}"] < 0 for f in ds.factor_names)
  # rsquared is the plain mean of the per-factor entries
  assert zero["rsquared"] == pytest.approx(
    np.mean([zero[f"rsquared_{f}"] for f in ds.factor_names])
  )
  assert zero["mse"] == pytest.approx(np.mean([zero[f"mse_{f}"] for f in ds.factor_names]))


@pytest.mark.parametrize("k", [2, 3, 4, 6, 8, 10, 15, 32, 40, 1000])
def test_grid_variance_formula(k):
  assert datasets.grid_variance([k])[0] == pytest.approx((k + 1) / (12 * (k - 1)))


def test_variance_from_full_grid_matches():
  ds = _encoded_dataset("shapes3d", "random", "test")
  np.testing.assert_allclose(
    ds.normalized_targets.astype(np.float64).var(0), ds.variance, rtol=1e-5
  )
  np.testing.assert_allclose(
    metrics.RSquared(ds.normalized_targets.astype(np.float64)).variance, ds.variance, rtol=1e-5
  )


@pytest.mark.parametrize("name", ["dsprites", "mpi3d"])
def test_uniform_random_model(name):
  ds = _encoded_dataset(name, "random", "test")
  loader = data.DataLoader(ds, batch_size=4096, max_samples=40_000, seed=1)
  rng = np.random.default_rng(0)
  s = bench.evaluate_model(lambda x: rng.random((len(x), len(ds.factor_sizes))), loader)
  for f, k in zip(ds.factor_names, ds.factor_sizes):
    expect = -(1 / 12) / ((k + 1) / (12 * (k - 1)))
    assert s[f"rsquared_{f}"] == pytest.approx(expect, abs=0.03)


def test_nchw_layout_and_adapter():
  ds = _encoded_dataset("dsprites", "interpolation", "test")
  nchw = data.DataLoader(ds, batch_size=100, max_samples=300, layout="NCHW", shuffle=True)
  s = bench.evaluate_model(lambda x: x[:, 0, 0, :5], nchw)  # a model written for NCHW
  assert s["rsquared"] == 1.0
  nhwc = data.DataLoader(ds, batch_size=100, max_samples=300)
  s2, extra = bench.evaluate_model(
    bench.nchw_adapter(lambda x: x[:, 0, 0, :5]), nhwc, return_predictions=True
  )
  assert s2["rsquared"] == 1.0
  assert extra["predictions"].shape == (300, 5)
  np.testing.assert_array_equal(extra["grid_indices"], ds.grid_indices[nhwc.positions])


def test_shape_errors():
  with pytest.raises(ValueError, match="argument 'predictions'"):
    metrics.score_dict(np.zeros((4, 2)), np.zeros((4, 3)), ["a", "b"], [1.0, 1.0])
  ds = _encoded_dataset("dsprites", "random", "test")
  with pytest.raises(ValueError, match="model_fn output"):
    bench.evaluate_model(lambda x: np.zeros((len(x), 3)), data.DataLoader(ds, 8, max_samples=8))
