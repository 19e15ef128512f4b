"""The MNIST family of the cross-scenario study.

Variants: default (the CPU study measured in docs/study.md: 1,000 training digits, narrow CNNs,
short schedules, reduced attack budgets, 3 seeds, twelve models; about 50 CPU-minutes for the ten
CNN and nearest-neighbour models and about 27 CPU-minutes per ABS model and seed, mostly its
decision-attack battery), `:smoke` (seconds: tiny models, two models, two scenarios; for
tests), `:paper` (the papers' model and data sizes: full MNIST, Madry CNN, AutoAttack budgets;
for accelerators).
`settings` overrides fields of `rvl_jax.study.mnist_zoo.MnistSettings`.
"""

import ml_collections

from rvl_jax.study import mnist_scenarios, mnist_zoo


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "mnist_family"
  c.seed = 0
  c.seeds = (0, 1, 2)
  c.models = (
    "vanilla",
    "gnt_gaussian",
    "gnt_speckle",
    "ant_1x1",
    "ant_3x3",
    "madry",
    "abs",
    "abs_binary",
    "racecar_std",
    "racecar_ort",
    "racecar_rr",
    "nearest_neighbour",
  )
  c.scenarios = tuple(mnist_scenarios.SCENARIOS)
  c.settings = ml_collections.ConfigDict(
    dict(
      n_train=1000,
      n_test=200,
      pretrain_steps=200,
      finetune_steps=100,
      ant_blocks=1,
      ant_restart_steps=30,
      madry_steps=400,
      madry_eps=0.1,  # the L-inf radius the study attacks at (the paper's MNIST model: 0.3)
      madry_pgd_steps=5,
      madry_warmup_steps=100,
      racecar_steps=300,
      n_adv=50,
      aa_n_iter=10,
      aa_target_classes=2,
      battery_pointwise_steps=200,
    )
  )
  c.compute = True  # False: report the cached cells only (an unfinished study), train nothing
  c.distributed = False
  if variant == "smoke":
    c.seeds = (0,)
    c.models = ("vanilla", "nearest_neighbour")
    c.scenarios = ("clean", "affine")
    c.settings = ml_collections.ConfigDict(
      dict(
        n_train=200,
        n_test=50,
        batch_size=32,
        cnn_features=(4, 8),
        cnn_hidden=16,
        pretrain_steps=20,
        finetune_steps=10,
      )
    )
  elif variant == "paper":
    c.seeds = (0, 1, 2, 3, 4)
    c.models = mnist_zoo.MODELS
    c.settings = ml_collections.ConfigDict(
      dict(
        data_source="tfds",
        n_train=60000,
        n_test=10000,
        cnn_features=(32, 64),
        cnn_hidden=1024,
        pretrain_steps=20000,
        finetune_steps=10000,
        ant_blocks=30,
        ant_restart_steps=1001,
        madry_steps=100000,
        madry_pgd_steps=40,
        madry_warmup_steps=0,
        abs_vae_steps=50000,
        abs_n_samples=8000,
        abs_n_iter=50,
        racecar_channels=(32, 64, 128),
        racecar_steps=20000,
        n_adv=1000,
        aa_n_iter=100,
        aa_target_classes=9,
        battery_pointwise_steps=20000,
        battery_boundary_iterations=5000,
      )
    )
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
