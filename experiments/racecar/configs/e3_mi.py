"""E3 MI planes + transfer. Variants: default (1500 epochs, batch 256, Adam 4e-4, lambda 1e-2 half-sum,
3 seeds, 1500 fine-tune epochs: the paper does not state the fine-tune length), smoke (30 epochs,
1 seed), paper (8000 epochs, 5 seeds). lam_auto=True picks lambda from the losses at initialisation
(`training.auto_lambda`) instead of the fixed one."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e3"
  c.seeds = (0, 1, 2)
  c.split_seed = 0
  c.widths = (10, 7, 5, 4, 3, 2)
  c.activation = "tanh"
  c.methods = ("std", "ort", "rr", "rr1", "lrr")
  # RegConfig: lambda 1e-2 half-sum; the reverse pass starts from the softmax probabilities
  c.reg = ml_collections.ConfigDict({"lam": 1e-2})
  c.lam_auto = False  # instead lambda * L_racecar = lam_auto_scale * task loss at init
  c.lam_auto_scale = 1.0
  c.optimizer = "adam"
  c.learning_rate = 4e-4
  c.batch_size = 256
  c.epochs = 1500
  c.finetune_epochs = 1500  # same length as phase 1 (500 left every transfer model under-trained)
  c.log_every = 100
  c.checkpoint_every = 100000
  c.distributed = False
  if variant == "smoke":
    c.seeds = (0,)
    c.epochs = 30
    c.finetune_epochs = 10
    c.log_every = 10
  elif variant == "paper":
    c.seeds = (0, 1, 2, 3, 4)
    c.epochs = 8000
    c.finetune_epochs = 2000
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
