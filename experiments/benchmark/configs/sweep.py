"""Sweep models x splits x seeds on one data set -> leaderboard.md / leaderboard.json.

Default: the CNN on procedural dSprites, all four splits, seeds 0-2, at a small CPU scale.
"""

import ml_collections

from experiments.benchmark.configs import default


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "sweep"
  c.dataset = "dsprites"
  c.models = "cnn"  # comma-separated
  c.splits = "random,composition,interpolation,extrapolation"  # comma-separated
  c.seeds = "0,1,2"  # comma-separated
  c.run_missing = True  # False: only tabulate finished runs
  c.run = default.get_config(variant)  # per-run settings
  if variant == "smoke":
    c.splits = "random,extrapolation"
    c.seeds = "0,1"
  elif variant == "paper":
    c.models = "mlp,cnn,coordconv,set_encoder,rot_eq,rot_eq_big,stn,resnet50,resnet101,densenet121"
  return c
