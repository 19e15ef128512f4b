"""A stand-in for rvl_jax.slowvae.load_representation used by the evaluate-command tests."""

from rvl_jax.disentanglement import oracle


def load(workdir):
  del workdir
  grid = oracle.FactorGrid()
  return oracle.oracle_representation(grid), grid
