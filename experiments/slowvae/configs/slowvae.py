"""slowvae (see configs/base.py for variants: smoke|default|paper and the data-set tokens)."""

from experiments.slowvae.configs import base


def get_config(variant=None):
  return base.make_config("slowvae", variant)
