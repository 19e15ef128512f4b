"""core.experiment: the registry lookup every main.py dispatches through."""

import ml_collections
import pytest

from rvl_jax.core import experiment


def _train(config, workdir):
  del workdir
  return {"accuracy": float(config.value) * 2.0}


def test_resolve_by_name_and_by_import_string():
  from experiments.mnist_classifier import train  # pylint: disable=import-outside-toplevel

  registry = {
    "a": _train,
    "b": "experiments.mnist_classifier.train:train_and_evaluate",
    "c": "experiments.mnist_classifier.train",
  }
  assert experiment.resolve(registry, "a") is _train
  assert experiment.resolve(registry, "b") is train.train_and_evaluate
  assert experiment.resolve(registry, "c") is train.train_and_evaluate


def test_resolve_single_entry_without_name():
  assert experiment.resolve({"only": _train}, None) is _train


def test_resolve_unknown_name_names_the_argument():
  with pytest.raises(ValueError, match=r"config.experiment.*\['a', 'b'\].*'c'"):
    experiment.resolve({"a": _train, "b": _train}, "c")
  with pytest.raises(ValueError, match="config.experiment"):
    experiment.resolve({"a": _train, "b": _train}, None)


def test_dispatch_writes_results(tmp_path):
  config = ml_collections.ConfigDict({"experiment": "a", "value": 1.5})
  flat = experiment.dispatch({"a": _train}, config, str(tmp_path))
  assert flat["accuracy"] == 3.0
  assert (tmp_path / "results.json").exists() and (tmp_path / "config.json").exists()
