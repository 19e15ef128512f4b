"""rvl_jax.study: the model interface, the per-cell cache, rank correlations and the smoke
studies of both families (incremental: a new model or scenario computes only its cells)."""

import dataclasses
import json
import os

import chex
import jax
import numpy as np
import pytest

from experiments.study import study as study_exp
from experiments.study.configs import factor_family, mnist_family
from rvl_jax.core import experiment
from rvl_jax.study import cache as cache_lib
from rvl_jax.study import factor_scenarios, families, interface, mnist_zoo, results, runner


def test_rank_correlations_on_a_hand_made_matrix():
  columns = ["a", "same", "reversed", "with_nan", "constant"]
  values = np.array(
    [
      [1.0, 10.0, 4.0, 1.0, 5.0],
      [2.0, 20.0, 3.0, np.nan, 5.0],
      [3.0, 30.0, 2.0, 2.0, 5.0],
      [4.0, 40.0, 1.0, 3.0, 5.0],
      [5.0, 45.0, 0.0, 2.5, 5.0],
    ]
  )
  rho = results.rank_correlations(values, columns)
  assert rho["a ~ same"] == pytest.approx(1.0)
  assert rho["a ~ reversed"] == pytest.approx(-1.0)
  # the NaN row is left out: ranks of (1, 3, 4, 5) vs (1, 2, 3, 2.5) -> rho = 0.8
  assert rho["a ~ with_nan"] == pytest.approx(0.8)
  assert np.isnan(rho["a ~ constant"])


def test_normalise_against_reference_row():
  v = np.array([[2.0, -0.5, 0.0], [3.0, -1.0, 0.25]])
  chex.assert_trees_all_close(
    results.normalise_against(v, 0), np.array([[0.0, 0.0, 0.0], [0.5, -1.0, 0.25]])
  )


def test_cache_key_changes_only_with_relevant_settings():
  fam = families.MNIST
  s = mnist_zoo.MnistSettings()
  key = lambda st, m, sc: cache_lib.settings_hash(runner.cell_settings(fam, st, m, sc))  # noqa
  more_iters = dataclasses.replace(s, aa_n_iter=s.aa_n_iter + 1)
  assert key(s, "vanilla", "autoattack") != key(more_iters, "vanilla", "autoattack")
  assert key(s, "vanilla", "clean") == key(more_iters, "vanilla", "clean")
  longer = dataclasses.replace(s, pretrain_steps=s.pretrain_steps + 1)
  assert key(s, "vanilla", "clean") != key(longer, "vanilla", "clean")
  assert key(s, "nearest_neighbour", "clean") == key(longer, "nearest_neighbour", "clean")
  assert key(s, "madry", "clean") != key(s, "vanilla", "clean")
  assert key(s, "vanilla", "clean") != key(dataclasses.replace(s, n_train=100), "vanilla", "clean")


def test_bad_arguments_name_the_argument():
  with pytest.raises(ValueError, match="argument 'task'"):
    interface.StudyModel(name="m", predict=lambda x: x, task="segment")
  with pytest.raises(ValueError, match="argument 'scenarios'"):
    runner.cell_settings(families.MNIST, mnist_zoo.MnistSettings(), "vanilla", "nope")
  with pytest.raises(ValueError, match="argument 'config.settings'"):
    study_exp._settings(mnist_zoo.MnistSettings, {"no_such_field": 1})
  model = interface.StudyModel(name="nn", predict=lambda x: x, differentiable=False)
  with pytest.raises(ValueError, match="argument 'model'"):
    model.input_grad(lambda y: y.sum())


def test_pgd_regression_raises_the_error_within_the_ball():
  w = np.linspace(-1.0, 1.0, 16).astype(np.float32)
  predict = lambda x: (x.reshape(x.shape[0], -1) @ w)[:, None]  # noqa: E731
  x = np.full((4, 4, 4, 1), 0.5, np.float32)
  t = predict(x)
  adv = np.asarray(
    factor_scenarios.pgd_regression(
      predict, x, t, jax.random.PRNGKey(0), eps=0.1, steps=5, step_size=0.05
    )
  )
  assert np.max(np.abs(adv - x)) <= 0.1 + 1e-6
  # the optimum of a linear model is the corner x + 0.1 sign(w): error (0.1 sum |w|)^2
  err = float(np.sum((predict(adv) - t) ** 2, axis=1).mean())
  assert err == pytest.approx((0.1 * np.abs(w).sum()) ** 2, rel=1e-4)


def test_mnist_smoke_study_is_incremental(tmp_path):
  config = mnist_family.get_config("smoke")
  config.scenarios = ("clean",)
  workdir = str(tmp_path / "mnist")
  flat = experiment.launch(study_exp.mnist_family, config, workdir)
  assert flat["computed_cells"] == 2 and flat["reused_cells"] == 0
  clean_nn = flat["summary/nearest_neighbour/clean/accuracy/mean"]
  assert 0.3 < clean_nn <= 1.0  # 1-NN on 200 digits: far above chance (0.1)
  assert os.path.exists(os.path.join(workdir, "mnist_summary.md"))
  assert os.path.exists(os.path.join(workdir, "plots", "mnist_heatmap.png"))

  config.models = ("vanilla", "nearest_neighbour", "gnt_gaussian")  # one more model
  config.compute = False  # report only
  flat = experiment.launch(study_exp.mnist_family, config, workdir)
  assert (flat["computed_cells"], flat["reused_cells"], flat["missing_cells"]) == (0, 2, 1)
  config.compute = True
  flat = experiment.launch(study_exp.mnist_family, config, workdir)
  assert (flat["computed_cells"], flat["reused_cells"]) == (1, 2)
  assert flat["summary/nearest_neighbour/clean/accuracy/mean"] == clean_nn

  config.scenarios = ("clean", "affine")  # one more scenario
  flat = experiment.launch(study_exp.mnist_family, config, workdir)
  assert (flat["computed_cells"], flat["reused_cells"]) == (3, 3)
  assert "summary/gnt_gaussian/affine/extrapolation_mean/mean" in flat

  flat = experiment.launch(study_exp.mnist_family, config, workdir)  # nothing new
  assert (flat["computed_cells"], flat["reused_cells"]) == (0, 6)
  with open(os.path.join(workdir, "mnist_matrix.json")) as f:
    matrix = json.load(f)
  assert set(matrix["per_seed"]) == {"vanilla", "nearest_neighbour", "gnt_gaussian"}


def test_factor_smoke_study(tmp_path):
  config = factor_family.get_config("smoke")
  flat = experiment.launch(study_exp.factor_family, config, str(tmp_path / "factor"))
  assert flat["computed_cells"] == len(config.models) * len(config.scenarios)
  for model in config.models:
    r2 = flat[f"summary/{model}/split_random/r2/mean"]
    r2_adv = flat[f"summary/{model}/pgd_mse/r2/mean"]
    assert np.isfinite(r2) and np.isfinite(r2_adv)
    for metric in ("mcc", "mig", "dci"):
      assert np.isfinite(flat[f"summary/{model}/disentanglement/{metric}/mean"])
