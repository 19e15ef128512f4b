"""MNIST study of noise training (Rusak et al. 2020, App. E and Sec. 5.2): vanilla, GNT sigma 0.5,
GNT mult, Speckle, ANT1x1, ANT3x3 fine-tuned from a common vanilla checkpoint, several seeds.

The groups ``data``, ``train``, ``ant`` and ``eval`` are the fields of the dataclasses of
``rvl_jax.noise.study`` (their defaults are the CPU scale: narrow Madry CNN, compressed schedule;
see docs/noise.md). Variants: 'smoke' (seconds, tests/demo), 'paper' (full Madry CNN, longer
schedule, the paper's restart and eps* settings).
"""

import dataclasses

import ml_collections

from rvl_jax.noise import study


def _group(settings):
  return ml_collections.ConfigDict(dataclasses.asdict(settings))


def _smoke(c):
  c.seeds = (0,)
  c.arms = ("vanilla", "gnt", "ant1x1")
  c.data.update(train_size=1000, test_size=200)
  c.train.update(pretrain_epochs=2, finetune_epochs=2, log_every=10)
  c.ant.update(restart_every_epochs=1, restart_steps=10, capacity=8)
  c.eval.update(
    noise_severities=False,
    eps_star_images=50,
    bisection_steps=10,
    an_generator_steps=10,
    adversarial_images=20,
    adversarial_iter_scale=0.1,
  )


def _paper(c):
  c.train.update(
    model="madry", batch_size=300, pretrain_epochs=30, finetune_epochs=100, finetune_lr=1e-3
  )
  c.ant.update(restart_every_epochs=1, restart_steps=1001, restart_lr=5e-4, capacity=512)
  c.eval.update(
    eps_star_images=1000,
    bisection_steps=40,
    adversarial_iter_scale=1.0,
    eps_star_an_seeds=4,
    an_generator_steps=1001,
    adversarial_images=1000,
  )


VARIANTS = {"smoke": _smoke, "paper": _paper}


def get_config(variant=None):
  defaults = study.StudySettings()
  c = ml_collections.ConfigDict()
  c.experiment = "mnist_study"
  c.seeds = defaults.seeds
  c.arms = defaults.arms
  c.data = _group(defaults.data)
  c.train = _group(defaults.train)
  c.ant = _group(defaults.ant)
  c.eval = _group(defaults.eval)
  c.distributed = False
  if variant in VARIANTS:
    VARIANTS[variant](c)
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
