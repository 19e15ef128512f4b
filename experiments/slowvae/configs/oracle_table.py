"""Metric oracle table: every disentanglement metric on the identity and the rotated oracle of the
dSprites factor grid (no images). Variants: default (reference counts, DCI with 30 trees on 3,000
points; minutes) | smoke (counts x 0.01, seconds)."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "oracle_table"
  c.seed = 0  # metric samples
  c.rotation_seed = 0  # the random 5 x 5 rotation of the rotated oracle
  c.scale = 1.0  # multiplier on the reference sample counts (DCI set below)
  c.dci_trees = 30  # 100 = the reference DCI
  c.dci_num_train = 3000  # 10,000 = the reference DCI; the test set is half of it
  if variant == "smoke":
    c.scale, c.dci_trees, c.dci_num_train = 0.01, 5, 300
  elif variant is not None:
    raise ValueError(f"argument 'variant': expected None or 'smoke', got {variant!r}")
  return c
