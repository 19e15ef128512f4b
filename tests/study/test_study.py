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
from rvl_jax import benchmark as bench
from rvl_jax.benchmark import analysis as bench_analysis
from rvl_jax.benchmark import datasets as bench_datasets
from rvl_jax.benchmark import splits as bench_splits
from rvl_jax.core import experiment
from rvl_jax.noise import ant, generators, gnt, projection
from rvl_jax.study import cache as cache_lib
from rvl_jax.study import (
  factor_scenarios,
  factor_zoo,
  families,
  interface,
  mnist_zoo,
  results,
  runner,
)


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
  workdir = str(tmp_path / "factor")
  flat = experiment.launch(study_exp.factor_family, config, workdir)
  assert flat["computed_cells"] == len(config.models) * len(config.scenarios)
  # the random split's model also serves the scenarios on random-split test images: one training
  settings = study_exp._settings(factor_zoo.FactorSettings, config.settings.to_dict())
  for model in config.models:
    mdir = runner.model_dir(workdir, factor_zoo.family(), settings, model, 0, "random")
    assert sorted(os.listdir(os.path.dirname(mdir))) == ["s0_random"], model
  for model in config.models:
    r2 = flat[f"summary/{model}/split_random/r2/mean"]
    r2_adv = flat[f"summary/{model}/pgd_mse/r2/mean"]
    assert np.isfinite(r2) and np.isfinite(r2_adv)
    for metric in ("mcc", "mig", "dci"):
      assert np.isfinite(flat[f"summary/{model}/disentanglement/{metric}/mean"])


def test_factor_smoke_study_with_ant_and_pcl(tmp_path):
  """cnn_ant and pcl at a few steps: their cells exist and are finite, and the trained ANT
  generator's noise lies on its eps sphere (eps the norm of GNT's clipped Gaussian noise) and
  moves the regression."""
  config = factor_family.get_config("smoke")
  config.models = ("cnn_ant", "pcl")
  config.scenarios = ("split_random",)  # the smoke study above runs the other scenarios
  config.settings.update(dict(slowvae_steps=3, readout_n=64, ant_blocks=1, ant_restart_steps=2))
  workdir = str(tmp_path / "factor")
  flat = experiment.launch(study_exp.factor_family, config, workdir)
  assert (flat["computed_cells"], flat["reused_cells"]) == (2, 0)
  for model in config.models:
    for col in ("split_random/r2", "split_random/r2_shape"):
      assert np.isfinite(flat[f"summary/{model}/{col}/mean"]), (model, col)
  # the ANT run again in its model directory: restored from its checkpoints, nothing retrained
  settings = study_exp._settings(factor_zoo.FactorSettings, config.settings.to_dict())
  data = factor_zoo.load_data(settings, 0, "random")
  family = factor_zoo.family()
  mdir = runner.model_dir(workdir, family, settings, "cnn_ant", 0, "random")
  model, state, cfg = factor_zoo.train_cnn_ant(data, 0, mdir, settings)
  assert int(state.step) == 2 and int(state.buffer_count) == 1  # 2 of 5 steps, 1 restart
  x = jax.numpy.asarray(data.test_images[:8])
  eps = gnt.epsilon_for_sigma(x, settings.gnt_sigma)
  assert cfg.eps == pytest.approx(eps, rel=0.1)  # eps(sigma) on other images of the same data
  spec = generators.ANT1x1(1)
  adv = ant.perturb(spec, state.gen_params, jax.random.PRNGKey(0), x, cfg.eps)
  norms = np.asarray(projection.perturbation_norm(x, adv))
  np.testing.assert_allclose(norms, cfg.eps, rtol=1e-4)
  out = lambda xx: np.asarray(model.apply({"params": state.params}, xx))  # noqa: E731
  assert np.abs(out(adv) - out(x)).max() > 1e-4


def test_id_ood_metrics_of_the_split_scenario():
  """On the extrapolation split, predictions exact except an offset d_j on the OOD factor j of
  every one-OOD image give OOD R^2_j = 1 - d_j^2 / var_j and ID R^2 = 1 (Schott et al. 2022,
  section 5.2), the same as ``benchmark.analysis.modularity``."""
  train = bench.make_dataset("dsprites", "extrapolation", "train", source="procedural")
  test = bench.make_dataset("dsprites", "extrapolation", "test", source="procedural")
  pos = np.arange(0, len(test), max(1, len(test) // 400))
  grid, labels, targets = test.grid_indices[pos], test.labels[pos], test.targets(pos)
  one, ood_f = bench_splits.one_ood("dsprites", "extrapolation", grid)
  offsets = 0.05 * (1.0 + np.arange(targets.shape[1]))
  preds = targets.astype(np.float64).copy()
  preds[one, ood_f[one]] += offsets[ood_f[one]]
  # 1x1 "images" holding their position, and a host model that returns their fake predictions
  index = np.arange(len(pos), dtype=np.float32).reshape(-1, 1, 1, 1)
  data = factor_zoo.FactorData(train, index, targets, labels, "extrapolation")
  fake = interface.StudyModel(
    name="fake",
    predict=lambda x: preds[np.asarray(x)[:, 0, 0, 0].astype(int)],
    jit=False,
    task="regress",
  )
  got = factor_scenarios.SCENARIOS["split_extrapolation"](fake, data, 0, None)
  variance = bench_datasets.grid_variance(train.factor_sizes)
  present = sorted(set(ood_f[one].tolist()))
  assert len(present) >= 2  # the subset has several OOD factors
  for j in present:
    name = train.factor_names[j]
    assert got[f"r2_ood_{name}"] == pytest.approx(1.0 - offsets[j] ** 2 / variance[j], rel=1e-9)
  expected_ood = np.mean([1.0 - offsets[j] ** 2 / variance[j] for j in present])
  assert got["r2_ood"] == pytest.approx(expected_ood, rel=1e-9)
  assert got["r2_id"] == pytest.approx(1.0, abs=1e-12)
  assert got["n_one_ood"] == one.sum() > 0
  mod = bench_analysis.modularity("dsprites", "extrapolation", grid, preds)
  assert (got["r2_ood"], got["r2_id"]) == (mod["ood_rsquared"], mod["id_rsquared"])
  assert "r2" in got and got["r2"] < 1.0  # the overall R^2 is still reported
