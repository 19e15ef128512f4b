"""The robustness protocol's bookkeeping (rvl_jax.abs.robustness) and the evaluation helpers,
without models: attack plans per column, budget table, record files, per-sample minima, subsets
and calibration."""

import numpy as np
import pytest

from rvl_jax.abs import evaluation
from rvl_jax.abs import robustness as rob


def _rec(metric, dist, best, queries=(1, 1, 1), seconds=0.5):
  return {
    "metric": metric,
    "dist": dist,
    "best": best,
    "queries": np.asarray(queries),
    "seconds": seconds,
  }


def test_attack_plan_follows_gradients_and_ge_lists():
  attacks = {"boundary": {"iterations": 5}, "fgsm": {}, "fgsm_ge": {}, "fgm_ge": {}}
  abs_attacks = dict(attacks, latent_descent={"max_steps": 3})
  ge = rob.GradientEstimation(models=("nn", "abs"), attacks=("fgsm_ge",))
  assert rob.attack_plan("cnn", attacks, abs_attacks, ge) == {
    "boundary": {"iterations": 5},
    "fgsm": {},
  }
  assert rob.attack_plan("nn", attacks, abs_attacks, ge) == {
    "boundary": {"iterations": 5},
    "fgsm_ge": {},
  }
  assert set(rob.attack_plan("abs", attacks, abs_attacks, ge)) == {
    "boundary",
    "fgsm_ge",
    "latent_descent",
  }
  assert not rob.applicable("madry", "latent_descent") and rob.applicable(
    "binary_abs", "latent_descent"
  )


def test_budget_table_names_the_column_with_another_budget():
  plans = {
    "cnn": {"boundary": {"iterations": 50}},
    "nn": {"boundary": {"iterations": 50}},
    "abs": {"boundary": {"iterations": 5}},
  }
  row = rob.budget_table(plans).splitlines()[2]
  assert row.startswith("| boundary | {'iterations': 50} | cnn, nn, abs |")
  assert "abs: {'iterations': 5}" in row


def test_records_round_trip_and_per_sample_minimum(tmp_path):
  x = np.zeros((3, 28, 28, 1), np.float32)
  y = np.array([0, 1, 2], np.int32)
  b1, b2 = np.full_like(x, 0.1), np.full_like(x, 0.2)
  records = {
    "gaussian": _rec("l2", {"l2": np.array([1.0, np.inf, 3.0])}, {"l2": b1}),
    "boundary": _rec("l2", {"l2": np.array([2.0, 4.0, 0.5])}, {"l2": b2}),
    "transfer": _rec(
      "l2+linf",
      {"l2": np.array([5.0, 5.0, 5.0]), "linf": np.array([0.3, 0.2, 0.1])},
      {"l2": b1, "linf": b2},
    ),
  }
  path = str(tmp_path / "cnn.npz")
  rob.save_records(path, records, x, y, pred=np.array([0, 1, 1]), verify={"boundary/l2": (2, 3)})
  loaded, lx, ly, pred, verify = rob.load_records(path)
  np.testing.assert_array_equal(ly, y)
  np.testing.assert_array_equal(pred, [0, 1, 1])
  assert verify == {"boundary/l2": (2, 3)} and loaded["transfer"]["metric"] == "l2+linf"
  d, bx = rob.min_adversarials(loaded, "l2")
  np.testing.assert_array_equal(d, [1.0, 4.0, 0.5])
  np.testing.assert_array_equal(bx[:, 0, 0, 0], np.float32([0.1, 0.2, 0.2]))
  np.testing.assert_array_equal(rob.min_adversarials(loaded, "linf")[0], [0.3, 0.2, 0.1])
  assert rob.min_adversarials(loaded, "l0") == (None, None)


def test_verify_abs_drops_adversarials_the_full_model_rejects():
  x = np.zeros((3, 28, 28, 1), np.float32)
  y = np.array([0, 0, 1], np.int32)
  best = np.zeros_like(x)
  best[0] += 0.9  # the full model calls bright images class 1: survives for sample 0
  best[1] += 0.1  # still class 0: dropped

  def full(v):
    bright = np.asarray(v).reshape(len(v), -1).mean(1) > 0.5
    return np.stack([~bright, bright], 1).astype(np.float32)

  recs = {"boundary": _rec("l2", {"l2": np.array([1.0, 2.0, 0.0])}, {"l2": best})}
  stats = rob.verify_abs(full, recs, x, y)
  assert stats == {"boundary/l2": (1, 2)}
  # Sample 2 is misclassified by the full model at distance 0 and stays so.
  np.testing.assert_array_equal(recs["boundary"]["dist"]["l2"], [1.0, np.inf, 0.0])


def test_config_groups_hold_the_dataclass_defaults():
  group = rob.config_group(rob.AbsColumns)
  assert group == {
    "num_images": 10,
    "batch_size": 10,
    "query_n_iter": 10,
    "verify_n_iter": 50,
    "bank_size": 8000,
  }
  assert rob.MadryColumn(**dict(rob.config_group(rob.MadryColumn), steps=7)).steps == 7


def test_protocol_rejects_unknown_recompute(tmp_path):
  with pytest.raises(ValueError, match="config.recompute_attacks"):
    rob.Protocol(
      data=None,
      x=np.zeros((1, 28, 28, 1)),
      y=np.zeros(1),
      workdir=str(tmp_path),
      seed=0,
      weights_dir="",
      columns=("cnn",),
      attacks={"fgsm": {}},
      abs_attacks={},
      recompute=("boundary",),
    )


def test_subsets_and_calibration():
  labels = np.repeat(np.arange(10), 5)[::-1].copy()
  images = np.arange(50, dtype=np.float32)
  xi, yi = evaluation.balanced_subset(images, labels, 12)
  np.testing.assert_array_equal(yi, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
  np.testing.assert_array_equal(xi[:2], [45, 40])
  xs, ys = evaluation.per_class_subset(images, labels, 20)
  assert sorted(np.bincount(ys).tolist()) == [2] * 10 and np.all(np.diff(xs) > 0)
  assert len(evaluation.per_class_subset(images, labels, 50)[1]) == 50
  probs = np.array([[0.95, 0.05], [0.62, 0.38], [0.15, 0.85]])
  stats = evaluation.calibration_stats(probs, np.array([0, 1, 1]))
  assert stats["median_confidence"] == pytest.approx(0.85)
  assert stats["nll"] == pytest.approx(-np.mean(np.log([0.95, 0.38, 0.85])))
  # one prediction per bin: 0.95 and 0.85 correct, 0.62 wrong
  assert stats["ece"] == pytest.approx((0.05 + 0.62 + 0.15) / 3)


def test_interrupted_column_resumes_at_its_next_attack(tmp_path, monkeypatch):
  """A column saves its records after every attack; a run interrupted after the first attack
  resumes with the second and ends with the same distances as an uninterrupted run (each attack
  keeps the random stream of its position in the plan)."""
  from rvl_jax.attacks import suite

  rng = np.random.default_rng(0)
  w = rng.normal(size=(784, 10)).astype(np.float32)
  x = rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)
  y = np.argmax(x.reshape(4, -1) @ w, 1).astype(np.int32)  # clean images classified right
  model = suite.Model("nn", lambda v: v.reshape(v.shape[0], -1) @ w, differentiable=False)
  attacks = {"salt_pepper": {"repetitions": 2}, "gaussian": {}, "boundary": {"iterations": 3}}

  def protocol(workdir):
    p = rob.Protocol(
      data=None, x=x, y=y, workdir=str(workdir), seed=0, weights_dir="", columns=("nn",),
      attacks=attacks, abs_attacks={}, ge=rob.GradientEstimation(models=()),
      autoattack=rob.AutoAttackRow(enabled=False), log=lambda s: None,
    )  # fmt: skip
    monkeypatch.setattr(p, "model", lambda name: model)
    return p

  full = protocol(tmp_path / "full").evaluate("nn")
  assert list(full.records) == list(attacks)

  saves, real_save = [], rob.save_records

  def save_then_stop(*args, **kwargs):
    real_save(*args, **kwargs)
    saves.append(sorted(args[1]))
    if len(saves) == 1:
      raise KeyboardInterrupt  # the run is stopped after its first attack

  monkeypatch.setattr(rob, "save_records", save_then_stop)
  with pytest.raises(KeyboardInterrupt):
    protocol(tmp_path / "cut").evaluate("nn")
  cached, *_ = rob.load_records(str(tmp_path / "cut" / "distances" / "nn.npz"))
  assert list(cached) == ["salt_pepper"]

  ran = []
  real_run = suite.run_attacks
  monkeypatch.setattr(
    suite, "run_attacks", lambda *a, **k: ran.append(sorted(k["skip"])) or real_run(*a, **k)
  )
  resumed = protocol(tmp_path / "cut").evaluate("nn")
  assert ran == [["salt_pepper"]]  # only the two missing attacks ran
  for key in attacks:
    for metric in full.records[key]["metric"].split("+"):
      np.testing.assert_array_equal(
        resumed.records[key]["dist"][metric], full.records[key]["dist"][metric]
      )
