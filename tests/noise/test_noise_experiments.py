"""Experiment plumbing without training: aggregation/acceptance logic, configs, image folders."""

import numpy as np
import pytest

from experiments.noise import EXPERIMENTS
from experiments.noise.configs import imagenet as imagenet_cfg
from experiments.noise.configs import mnist_study, sigma_sweep
from rvl_jax.core import experiment
from rvl_jax.data import pipeline as pl
from rvl_jax.noise import imagenet, reports, study
from rvl_jax.noise.corruptions import mnist_c


def _row(seed, arm, clean, mc, eps_gn=None, eps_an=None):
  r = {
    "seed": seed,
    "arm": arm,
    "clean_top1": clean,
    "mnist_c_mean": mc,
    "mnist_c": {c: mc for c in mnist_c.ORDER},
  }
  if eps_gn is not None:
    r.update(eps_star_gaussian=eps_gn, eps_star_uniform=eps_gn, eps_star_adversarial=eps_an)
  return r


def test_aggregate_acceptance_logic():
  res = {
    "vanilla": [_row(s, "vanilla", 97.0, 80.0, 3.0, 2.0) for s in range(3)],
    "gnt": [_row(s, "gnt", 96.5, 85.0, 6.0, 3.0) for s in range(3)],
    "ant1x1": [_row(s, "ant1x1", 97.2, 84.0 + s, 6.5, 5.0) for s in range(3)],
  }
  agg = study.aggregate_study(res)
  assert agg["A7/gnt/pass"] and agg["A7/ant1x1/pass"]
  assert agg["A7/gnt/mnist_c_gain_mean"] == pytest.approx(5.0)
  assert agg["A7/ant1x1/mnist_c_gain_min"] == pytest.approx(4.0)
  assert agg["A8/gnt_gn_ratio"] == pytest.approx(2.0)
  assert agg["A8/ant_over_gnt_an_ratio"] == pytest.approx(5 / 3) and agg["A8/pass"]
  res["gnt"][1]["clean_top1"] = 90.0
  assert not study.aggregate_study(res)["A7/gnt/pass"]
  md = reports.study_markdown(res, agg, "header")
  assert "| gnt |" in md and "A8/pass" in md
  for s, r in enumerate(res["ant1x1"]):
    r.update(eps_star_erase=5.5, median_image_norm=4.0 + s)
  agg = study.aggregate_study(res)
  assert agg["A8/ant_over_gnt_an_ceiling"] == pytest.approx(5.5 / 3)
  assert agg["ant1x1/median_image_norm_mean"] == pytest.approx(5.0)


def test_erase_direction_reaches_blank_image_at_image_norm():
  x = np.zeros((2, 6, 6, 1), np.float32)
  x[:, 2:4, 2:4] = 0.75
  d = np.asarray(study.erase_direction(None, x.shape))
  assert d.shape == x.shape and np.all(d == -1)
  blank = np.clip(x + 100.0 * d / np.linalg.norm(d[0]), 0, 1)
  np.testing.assert_allclose(np.linalg.norm((blank - x).reshape(2, -1), axis=1), 1.5, rtol=1e-6)


def test_configs_build():
  for mod in (mnist_study, sigma_sweep, imagenet_cfg):
    for v in (None, "smoke", "paper") if mod is not sigma_sweep else (None, "smoke"):
      c = mod.get_config(v)
      assert experiment.resolve(EXPERIMENTS, c.experiment).__name__ == "train_and_evaluate"
  with pytest.raises(ValueError, match="variant"):
    mnist_study.get_config("huge")


def test_image_folder_helpers(tmp_path):
  root = imagenet.write_synthetic_folder(str(tmp_path), seed=0, num_classes=3, per_class=2, size=20)
  paths, labels, classes = pl.list_image_folder(str(tmp_path / "train"), "data_dir")
  assert len(paths) == 6 and classes == ["class_0", "class_1", "class_2"]
  img = pl.RandomResizedCropFlip(16).random_map(
    {"path": paths[0], "label": 0}, np.random.default_rng(0)
  )["image"]
  assert img.shape == (16, 16, 3) and img.min() >= 0 and img.max() <= 1
  assert pl.ResizeCenterCrop(16).map({"path": paths[0], "label": 0})["image"].shape == (16, 16, 3)
  x, y = imagenet.load_eval_set(str(tmp_path / "val"), 16, limit=4, seed=0)
  assert x.shape == (4, 16, 16, 3) and set(y.tolist()) <= {0, 1, 2}
  with pytest.raises(FileNotFoundError, match="data_dir"):
    pl.list_image_folder(str(tmp_path / "missing"), "data_dir")
  del root
