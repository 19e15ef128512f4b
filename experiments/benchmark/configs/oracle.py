"""Oracle readout (Schott et al. 2022, App. A): MLP 5-40-40-40-5 on ground-truth factors, Adam 1e-3,
batch 64."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "oracle"
  c.dataset = "dsprites"
  c.splits = "random,composition,interpolation,extrapolation"
  c.num_steps = 6000
  c.seed = 0
  c.max_test = 50_000
  if variant == "smoke":
    c.splits = "extrapolation"
    c.num_steps = 300
    c.max_test = 2000
  elif variant == "paper":
    c.max_test = 0
  elif variant is not None:
    raise ValueError(f"config variant: expected None, 'smoke' or 'paper', got {variant!r}")
  return c
