"""E2 peak test. Variants: default (generated peak data, architecture (c), 5000 full-batch steps, reference
settings, 1 seed), smoke (300 steps), paper (all three architectures, 5 seeds).
Use --config.data_file=PATH.npz (arrays images, labels, index) to train on the released images."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e2"
  c.seeds = (0,)
  c.data_seed = 0
  c.data_file = ""
  c.stroke_length = (60, 160)
  c.input_scale = 1.0  # raw 0-255 pixels as the reference
  c.archs = ("c",)
  c.methods = ("std", "ort", "rr")
  # RegConfig: lambda 1e-6 half-sum, SRIP beta 0.1, double softmax (reference parity)
  c.reg = ml_collections.ConfigDict({"lam": 1e-6, "double_softmax": True})
  c.optimizer = "adam"
  c.learning_rate = 1e-4
  c.num_steps = 5000
  c.analysis_step = 4900  # the reference's SVD script reads the epoch-4900 checkpoint
  c.top_k = 2
  c.log_every = 250
  c.checkpoint_every = 5000
  c.distributed = False
  if variant == "smoke":
    c.num_steps = 300
    c.analysis_step = 0  # 0 = analyse the final parameters
    c.log_every = 100
    c.checkpoint_every = 300
  elif variant == "paper":
    c.archs = ("a", "b", "c")
    c.seeds = (0, 1, 2, 3, 4)
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
