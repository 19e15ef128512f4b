"""The robustness experiment end to end on a tiny override of the smoke config."""

import os

import pytest


def _memoized_nearest_neighbour(monkeypatch):
  """The runs below rebuild the NN model from the same training digits; one function for all of
  them lets the attacks jitted on it (a static argument) compile once."""
  import hashlib

  from rvl_jax.abs import baselines

  build, made = baselines.nearest_neighbour_logits_fn, {}

  def memo(ref_images, ref_labels, **kwargs):
    key = (
      hashlib.sha256(ref_images.tobytes() + ref_labels.tobytes()).hexdigest(),
      tuple(sorted(kwargs.items())),
    )
    if key not in made:
      made[key] = build(ref_images, ref_labels, **kwargs)
    return made[key]

  monkeypatch.setattr(baselines, "nearest_neighbour_logits_fn", memo)


def test_robustness_experiment_tiny(tmp_path, shared_dir, monkeypatch):
  from experiments.abs import robustness
  from experiments.abs.configs import robustness as cfg_lib
  from rvl_jax.core import experiment
  from rvl_jax.core import io as rio

  wd = shared_dir / "reference_weights" / "abs"
  if not wd.is_dir():
    pytest.skip("released weights not found")
  c = cfg_lib.get_config("smoke")
  c.weights_dir = str(wd)
  c.num_images = 4
  c.batch_size = 2  # the same attack shapes for the 4- and the 3-image runs (compiled once)
  _memoized_nearest_neighbour(monkeypatch)
  c.models = ("cnn", "nn")
  c.attacks = {"salt_pepper": {"repetitions": 1}, "fgsm": {}, "fgsm_ge": {}}
  c.abs_attacks = {}
  c.ge.models = ("nn",)
  c.distal.update(iters=2, models=("cnn",))
  experiment.launch(robustness.train_and_evaluate, c, str(tmp_path))
  res = rio.read_json(os.path.join(tmp_path, "results.json"))
  assert res["num_images"] == 4
  assert 0.0 <= res["clean_accuracy/cnn"] <= 1.0
  assert "linf/fgsm/cnn/median" in res and "linf/fgsm_ge/nn/median" in res
  assert "linf/fgsm/nn/median" not in res  # no true gradients for the NN
  assert "claims/all_attacks_min_not_worse_than_single" in res
  table = (tmp_path / "table1.md").read_text()
  assert "Salt&Pepper Noise" in table and "| Clean accuracy |" in table
  # The AutoAttack row (reduced smoke budgets) for the model with gradients, none for the NN.
  aa_row = next(line for line in table.splitlines() if line.startswith("| AutoAttack"))
  aa_cached = rio.read_json(os.path.join(tmp_path, "distances", "autoattack_cnn.json"))
  assert 0.0 <= aa_cached["l2"] <= res["clean_accuracy/cnn"]
  assert aa_cached["linf"] == 0.0  # the released CNN has no robustness at L-inf 0.3
  assert not os.path.exists(os.path.join(tmp_path, "distances", "autoattack_nn.json"))
  assert aa_row.count("|") >= 3
  assert res["linf/autoattack/cnn/robust_accuracy"] == aa_cached["linf"]
  for f in (
    "accuracy_vs_distortion.png",
    "gallery_cnn_l0.png",
    "gallery_nn_linf.png",
    "distal.png",
  ):
    assert (tmp_path / "plots" / f).exists(), f
  # Resume: a second run loads the saved distances instead of attacking again.
  res2 = experiment.launch(robustness.train_and_evaluate, c, str(tmp_path))
  assert res2["l0/salt_pepper/cnn/median"] == res["l0/salt_pepper/cnn/median"]
  # Recompute one attack with a different budget on the cached models; the others stay cached.
  import numpy as np

  before = np.load(tmp_path / "distances" / "cnn.npz")
  c.attacks = {"salt_pepper": {"repetitions": 3}, "fgsm": {}, "fgsm_ge": {}}
  c.recompute_attacks = ("salt_pepper",)
  experiment.launch(robustness.train_and_evaluate, c, str(tmp_path))
  after = np.load(tmp_path / "distances" / "cnn.npz")
  np.testing.assert_array_equal(after["dist/fgsm/linf"], before["dist/fgsm/linf"])
  assert int(after["queries/salt_pepper"].sum()) != int(before["queries/salt_pepper"].sum())
  c.recompute_attacks = ("boundary",)  # not in config.attacks
  with pytest.raises(ValueError, match="config.recompute_attacks"):
    experiment.launch(robustness.train_and_evaluate, c, str(tmp_path))
  # An attack added to the config is run on resume (where it applies), the cached ones are kept.
  c.recompute_attacks = ()
  c.attacks = {
    "salt_pepper": {"repetitions": 3},
    "fgsm": {},
    "fgsm_ge": {},
    "fgm": {},
    "transfer": {},
  }
  res3 = experiment.launch(robustness.train_and_evaluate, c, str(tmp_path))
  cnn = np.load(tmp_path / "distances" / "cnn.npz")
  np.testing.assert_array_equal(cnn["dist/fgsm/linf"], after["dist/fgsm/linf"])
  assert "dist/fgm/l2" in cnn.files and "dist/transfer/l2" in cnn.files
  assert "dist/fgm/l2" not in np.load(tmp_path / "distances" / "nn.npz").files  # no gradients
  assert "l2/fgm/cnn/median" in res3 and "l2/transfer/nn/median" in res3
  # Distances cached for other images are not reused: three images attack again from scratch;
  # the substitute directions are per image, so those of a longer run on the same first images
  # are reused.
  c.num_images = 3
  c.autoattack.enabled = (
    False  # its cache invalidation on new images is covered by the setting hash
  )
  res4 = experiment.launch(robustness.train_and_evaluate, c, str(tmp_path))
  assert res4["num_images"] == 3
  x3 = np.load(tmp_path / "distances" / "cnn.npz")["x"]
  assert x3.shape[0] == 3 and np.load(tmp_path / "distances" / "nn.npz")["x"].shape[0] == 3
  np.testing.assert_array_equal(
    np.load(tmp_path / "distances" / "transfer_directions.npz")["_images"][:3], x3
  )
