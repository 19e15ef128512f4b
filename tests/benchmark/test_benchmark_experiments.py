"""Experiment plumbing: the smoke config end to end, and tables / figures from result rows."""

import json
import os

import numpy as np

from rvl_jax.benchmark import report
from rvl_jax.core import experiment


def test_smoke_experiment_writes_results(tmp_path):
  from experiments.benchmark import EXPERIMENTS
  from experiments.benchmark.configs import default

  cfg = default.get_config("smoke")
  cfg.num_steps, cfg.eval_test, cfg.eval_train, cfg.eval_batch = 5, 128, 64, 64
  res = experiment.dispatch(EXPERIMENTS, cfg, str(tmp_path))
  assert os.path.exists(tmp_path / "results.json") and os.path.exists(tmp_path / "predictions.npz")
  assert os.path.exists(tmp_path / "plots" / "ood_scatter.png")
  for key in (
    "test/rsquared",
    "train/rsquared",
    "test/rsquared_x-position",
    "modularity/id_rsquared",
    "towards_mean/ratio_share_in_0_1",
    "errors/rho_e_yood",
    "steps_per_second",
  ):
    assert key in res and np.isfinite(res[key])
  z = np.load(tmp_path / "predictions.npz")
  assert z["test_predictions"].shape == (128, 5) and len(z["test_indices"]) == 128
  saved = json.load(open(tmp_path / "results.json"))
  assert saved["n_eval_test"] == 128 and saved["split"] == "extrapolation"


def test_leaderboard_and_plots():
  rows = [
    dict(model="cnn", split=s, seed=k, **{"test/rsquared": v + 0.01 * k, "train/rsquared": 0.9})
    for s, v in (("random", 0.8), ("extrapolation", 0.55))
    for k in range(3)
  ]
  table = report.leaderboard_markdown(rows)
  assert "| cnn | 81.0 ± 0.8 (n=3) | 56.0 ± 0.8 (n=3) |" in table
  fig = report.plot_r2_per_split(rows)
  assert fig is not None
  labels = ["a", "b", "ground truth"]
  mat = np.array([[np.nan, 0.9, -0.4], [0.9, np.nan, -0.3], [-0.4, -0.3, np.nan]])
  assert report.plot_corr_matrix(labels, mat) is not None
