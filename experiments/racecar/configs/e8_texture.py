"""E8 texture-shape. Variants: default (generated 4-class stand-in, small CNN, 300 steps, 2 seeds), smoke,
paper (data_root with the Geirhos cue-conflict folders, 16 classes, 10 seeds; set --config.data_root)."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e8"
  c.seeds = (0, 1)
  c.data_root = ""
  c.data_seed = 0
  c.image_size = (32, 32)
  c.standin_per_class = 80
  c.test_per_class = 10
  c.channels = (8, 16, 32)
  c.methods = ("std", "ort", "rr")
  c.reg = ml_collections.ConfigDict({"lam": 1e-4, "output_activation": "relu"})  # RegConfig
  c.optimizer = "adam"
  c.learning_rate = 1e-3
  c.batch_size = 32
  c.num_steps = 300
  c.log_every = 50
  c.checkpoint_every = 100000
  c.distributed = False
  if variant == "smoke":
    c.seeds = (0,)
    c.standin_per_class = 12
    c.test_per_class = 2
    c.num_steps = 5
    c.log_every = 5
    c.batch_size = 8
  elif variant == "paper":
    c.seeds = tuple(range(10))
    c.image_size = (224, 224)
    c.test_per_class = 10
    c.num_steps = 20000
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
