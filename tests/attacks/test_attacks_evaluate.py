"""Evaluation protocol (Schott et al. 2019, Sec. 7), the suite runner, gradient-free attacks on ABS,
the experiment."""

import json
import os
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import conftest_attacks as M  # noqa: E402

from rvl_jax import attacks as A  # noqa: E402
from rvl_jax.attacks import evaluate, suite  # noqa: E402

INF = np.inf


def test_median_and_accuracy_statistics():
  assert evaluate.median_distance([1.0, 3.0, 2.0]) == 2.0
  assert evaluate.median_distance([1.0, 2.0, 3.0, 4.0]) == 2.5
  assert evaluate.median_distance([1.0, INF, INF, 2.0]) == INF  # half failed -> inf
  assert evaluate.median_distance([1.0, INF, INF]) == INF
  assert evaluate.median_distance([0.0, 1.0, INF]) == 1.0
  d = np.array([0.0, 1.5, 1.6, INF])
  assert evaluate.accuracy_at(d, 1.5) == 0.5  # strict '>'
  np.testing.assert_allclose(evaluate.accuracy_curve(d, [0.0, 1.55, 10.0]), [0.75, 0.5, 0.25])
  m = evaluate.per_sample_min({"a": [1.0, INF, 3.0], "b": [2.0, 5.0, INF]})
  np.testing.assert_array_equal(m, [1.0, 5.0, 3.0])


def test_table1_markdown_json_and_claims():
  rng = np.random.default_rng(0)
  res, clean = {}, {}
  scale = {"cnn": 1.0, "binary_cnn": 1.2, "nn": 1.3, "madry": 0.5, "binary_abs": 1.5, "abs": 2.0}
  for m, s in scale.items():
    res[m] = {
      "l2": {"transfer": rng.uniform(0.5, 2, 10) * s, "gaussian": rng.uniform(2, 4, 10)},
      "linf": {"transfer": rng.uniform(0.05, 0.2, 10) * (10 if m == "binary_abs" else s)},
      "l0": {
        "salt_pepper": rng.uniform(20, 60, 10) * s,
        "pointwise_10x": rng.uniform(5, 15, 10) * s,
      },
    }
    clean[m] = 0.99
  md, summary = evaluate.table1(res, clean)
  assert "| **All L2 attacks** |" in md and "Pointwise Attack 10x" in md
  assert "(2.3/80%)" in md  # paper value beside the measured ABS cell
  for metric in ("l2", "linf", "l0"):
    for m in scale:
      allm = summary[metric]["all"][m]["median"]
      for key, per in summary[metric].items():
        assert allm <= per[m]["median"] + 1e-12
  json.dumps(summary)
  claims = evaluate.qualitative_claims(summary)
  assert claims["abs_largest_median_l2"] is True
  assert claims["binary_abs_largest_median_linf"] is True
  assert claims["madry_below_cnn_on_l0"] is True
  assert claims["abs_variants_beat_cnn_on_l0"] is True
  assert claims["all_attacks_min_not_worse_than_single"] is True
  # A claim that does not hold is reported as False.
  summary["l0"]["all"]["madry"]["median"] = 1e9
  assert evaluate.qualitative_claims(summary)["madry_below_cnn_on_l0"] is False


def test_figures_render(tmp_path):
  from rvl_jax.core import io as rio

  x, y = M.eval_batch(6)
  d = np.array([0.5, 1.0, 2.0, INF, 0.0, 3.0])
  fig = evaluate.plot_accuracy_curves({"l2": {"cnn": d}, "l0": {"cnn": d * 10}})
  rio.save_figure(fig, str(tmp_path / "c.png"))
  fig = evaluate.quantile_gallery(x, x, d, per_bin=1)
  rio.save_figure(fig, str(tmp_path / "g.png"))
  fig = evaluate.per_class_gallery(x, x, y, d)
  rio.save_figure(fig, str(tmp_path / "p.png"))
  assert all((tmp_path / f).stat().st_size > 0 for f in ("c.png", "g.png", "p.png"))


def test_suite_runs_applicable_attacks_and_chunks():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  free = suite.Model("nn_like", f, differentiable=False, batch_size=4)  # 6 -> chunks 4 + 2(pad)
  recs = suite.run_attacks(
    free,
    x,
    y,
    jax.random.PRNGKey(0),
    {"salt_pepper": {"repetitions": 3}, "fgsm": {}, "fgsm_ge": {"ge_steps": (0.1,)}},
    log=lambda s: None,
  )
  assert set(recs) == {"salt_pepper", "fgsm_ge"}  # no true-gradient attack on this model
  assert recs["salt_pepper"]["dist"]["l0"].shape == (6,)
  table = suite.distances_by_metric(recs)
  assert set(table["l0"]) == {"salt_pepper"} and set(table["linf"]) == {"fgsm_ge"}
  with pytest.raises(ValueError, match="unknown attack"):
    suite.run_attacks(free, x, y, jax.random.PRNGKey(0), {"nope": {}})


@pytest.fixture(scope="module")
def small_abs(shared_dir):
  wd = shared_dir / "reference_weights" / "abs"
  if not wd.is_dir():
    pytest.skip("released ABS weights not found")
  from rvl_jax.abs import load_reference_abs

  m = load_reference_abs(str(wd), n_iter=0, n_samples=200)
  jax.block_until_ready(m.bank)
  return m


def test_gradient_free_attacks_work_on_abs(small_abs):
  """Stage-1 ABS with a 200-latent bank (cheap) is attacked through the logits_fn interface."""
  x, y = M.eval_batch(6)
  x, y = x[:2], y[:2]
  key = jax.random.PRNGKey(0)
  ld = A.latent_descent(small_abs.abs_fn, x, y, max_steps=200)
  sp = A.salt_and_pepper(small_abs, x, y, key, repetitions=1)
  for tr, m in ((ld, "l2"), (sp, "l0")):
    d = np.asarray(tr.dist[m])
    assert np.all(np.isfinite(d)), m
    best = np.asarray(tr.best[m])
    assert best.min() >= 0 and best.max() <= 1
    pred = np.argmax(np.asarray(small_abs(best)), 1)
    assert np.all(pred[d > 0] != y[d > 0])


def test_claims_report_unequal_budgets():
  rng = np.random.default_rng(1)
  scale = {"cnn": 1.0, "nn": 1.3, "abs": 2.0, "binary_abs": 1.5}
  res = {
    m: {
      "l2": {"boundary": rng.uniform(1, 2, 8) * s},
      "linf": {"transfer": rng.uniform(0.1, 0.2, 8) * s},
      "l0": {"pointwise_10x": rng.uniform(5, 15, 8) * s},
    }
    for m, s in scale.items()
  }
  _, summary = evaluate.table1(
    res, {m: 1.0 for m in scale}, robust_accuracy_rows={"l2": {"AutoAttack": {"cnn": 0.25}}}
  )
  assert summary["robust_accuracy"]["l2"]["AutoAttack"] == {"cnn": 0.25}
  metrics = {k: v[0] for k, v in suite.ATTACKS.items()}
  applicable = lambda m, k: suite.ATTACKS[k][1] != "grad" or m == "cnn"  # noqa: E731
  equal = {m: {"boundary": {"iterations": 500}, "transfer": {}, "pointwise_10x": {}} for m in scale}
  claims, why = evaluate.claims_with_budgets(summary, equal, applicable, metrics)
  assert claims["abs_largest_median_l2"] is True and why == {}
  # ABS with a smaller Boundary budget: the L2 claim is not passed, the L0 claims are unaffected.
  plans = {m: dict(p) for m, p in equal.items()}
  plans["abs"]["boundary"] = {"iterations": 50}
  claims, why = evaluate.claims_with_budgets(summary, plans, applicable, metrics)
  assert claims["abs_largest_median_l2"] == evaluate.UNEQUAL
  assert why["abs_largest_median_l2"]["would_be"] is True
  assert "boundary" in why["abs_largest_median_l2"]["differences"][0]
  assert claims["abs_variants_beat_cnn_on_l0"] is True
  # An attack applicable to a column but not run on it also makes the comparison unequal; a
  # true-gradient attack that only the CNN can run does not.
  plans = {m: dict(p) for m, p in equal.items()}
  plans["cnn"]["fgsm"] = {}
  del plans["nn"]["transfer"]
  claims, why = evaluate.claims_with_budgets(summary, plans, applicable, metrics)
  assert claims["binary_abs_largest_median_linf"] == evaluate.UNEQUAL
  assert len(why["binary_abs_largest_median_linf"]["differences"]) == 1
  # The transfer attack measures L2 and L-inf, so the L2 comparison is unequal too (only that).
  assert claims["abs_largest_median_l2"] == evaluate.UNEQUAL
  assert len(why["abs_largest_median_l2"]["differences"]) == 1
  assert "transfer" in why["abs_largest_median_l2"]["differences"][0]
