"""Supervised trainer, readout, analyses (Schott et al. 2022, Sec. 5) and the weak-supervision pair
sampler."""

import jax
import numpy as np
import pytest

from rvl_jax import benchmark as bench
from rvl_jax.benchmark import analysis, data, datasets, models, readout, splits
from rvl_jax.benchmark import train as btrain


def _encoded(name, variant, mode):
  idx = bench.make_split(name, variant).indices(mode)
  spec = datasets.SPEC[name]
  labels = datasets.index_to_factors(spec.factor_sizes, idx)
  targets = datasets.normalize_factors(spec.factor_sizes, labels)

  def image_fn(pos):
    img = np.zeros((len(pos), 8, 8, spec.channels), np.float32)
    img[:, 0, : spec.num_factors, 0] = targets[pos]
    return img

  ds = data.BenchmarkDataset(
    name, variant, mode, labels=labels, image_fn=image_fn, source="test", grid_indices=idx
  )
  ds.spec = datasets.DatasetSpec(
    name, spec.factor_names, spec.factor_sizes, spec.categorical, spec.channels, image_size=8
  )
  return ds


def test_sum_mse_loss():
  p = np.array([[0.0, 0.0], [1.0, 1.0]])
  y = np.array([[1.0, 0.0], [1.0, 0.0]])
  assert float(btrain.sum_mse_loss(p, y)) == pytest.approx(1.0)  # (1 + 1) / 2


def test_supervised_trainer_learns_and_is_deterministic():
  ds = _encoded("dsprites", "random", "train")
  model = models.MLP(5, widths=(32,))
  r1 = btrain.supervised(model, ds, num_steps=150, seed=3, lr=1e-2, log_every=50)
  hist = [h["loss"] for h in r1.train_result.history if "loss" in h]
  assert hist[-1] < 0.5 * hist[0]
  r2 = btrain.supervised(model, ds, num_steps=150, seed=3, lr=1e-2, log_every=50)
  for a, b in zip(
    jax.tree_util.tree_leaves(r1.state.params), jax.tree_util.tree_leaves(r2.state.params)
  ):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  test = data.DataLoader(_encoded("dsprites", "random", "test"), batch_size=256, max_samples=1024)
  s = bench.evaluate_model(btrain.make_predict_fn(r1.state, batch_size=256), test)
  assert s["rsquared"] > 0.5


def test_modularity_and_towards_mean_on_constructed_predictions():
  split = splits.make_split("dsprites", "extrapolation")
  idx = np.random.default_rng(0).choice(split.test, 5000, replace=False)
  spec = datasets.SPEC["dsprites"]
  y = datasets.normalize_factors(
    spec.factor_sizes, datasets.index_to_factors(spec.factor_sizes, idx)
  ).astype(np.float64)
  perfect = analysis.modularity("dsprites", "extrapolation", idx, y)
  assert perfect["ood_rsquared"] == pytest.approx(1.0) and perfect["id_rsquared"] == pytest.approx(
    1.0
  )
  one, f = splits.one_ood("dsprites", "extrapolation", idx)
  mean = splits.train_mean("dsprites", "extrapolation")
  # predict the train mean for the OOD factor, the truth elsewhere: modular, towards the mean
  pred = y.copy()
  rows = np.flatnonzero(one)
  pred[rows, f[rows]] = mean[f[rows]]
  m = analysis.modularity("dsprites", "extrapolation", idx, pred)
  assert m["id_rsquared"] == pytest.approx(1.0) and m["ood_rsquared"] < 0
  r = analysis.mean_ratios("dsprites", "extrapolation", idx, pred)
  np.testing.assert_allclose(r, 0.0, atol=1e-12)
  np.testing.assert_allclose(analysis.mean_ratios("dsprites", "extrapolation", idx, y), 1.0)
  assert analysis.ratio_summary(r)["ratio_share_in_0_1"] == 1.0
  # errors of a shrink-to-mean model anti-correlate with the true OOD value
  e = analysis.ood_errors("dsprites", "extrapolation", idx, pred)
  assert analysis.pearson(e["error"], e["truth"]) < -0.2


def test_error_correlation_matrix():
  split = splits.make_split("dsprites", "extrapolation")
  idx = np.random.default_rng(1).choice(split.test, 3000, replace=False)
  spec = datasets.SPEC["dsprites"]
  y = datasets.normalize_factors(
    spec.factor_sizes, datasets.index_to_factors(spec.factor_sizes, idx)
  ).astype(np.float64)
  rng = np.random.default_rng(0)
  a = y + rng.normal(0, 0.1, y.shape)
  preds = {"a": a, "a2": a + rng.normal(0, 0.01, y.shape), "b": y + rng.normal(0, 0.1, y.shape)}
  labels, mat = analysis.error_correlation("dsprites", "extrapolation", idx, preds)
  assert labels == ["a", "a2", "b", "ground truth"]
  assert np.isnan(np.diag(mat)).all()
  assert mat[0, 1] > 0.95 and abs(mat[0, 2]) < 0.1
  np.testing.assert_allclose(mat, mat.T, equal_nan=True)


def test_oracle_readout_extrapolation():
  s = readout.oracle_readout("dsprites", "extrapolation", steps=1500, max_test=5000)
  assert s["rsquared"] >= 0.99


def test_in_split_pairs_stay_in_train_split():
  pytest.importorskip("rvl_jax.slowvae.pairs")
  from rvl_jax.benchmark import weak

  for variant in ("composition", "extrapolation", "random"):
    ds = _encoded("dsprites", variant, "train")
    mask = splits.train_mask("dsprites", variant)
    for method in ("slowvae", "adagvae", "betavae"):
      pairs = weak.InSplitPairs(ds, method)
      p1, p2 = pairs.sample_positions(np.random.default_rng(0), 500)
      g1, g2 = ds.grid_indices[p1], ds.grid_indices[p2]
      assert mask[g1].all() and mask[g2].all()
      if method == "adagvae":  # at most one factor differs
        assert ((ds.labels[p1] != ds.labels[p2]).sum(1) <= 1).all()
      if method == "slowvae":  # the shape (categorical) is copied, something changes
        assert (ds.labels[p1][:, 0] == ds.labels[p2][:, 0]).all()
        assert ((ds.labels[p1] != ds.labels[p2]).sum(1) >= 1).mean() > 0.95
