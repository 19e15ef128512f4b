"""Data layer: ground-truth-factor data sets, procedural dSprites, MNIST, seeded batching, and the
parallel input pipeline (``pipeline``)."""

from rvl_jax.data import batching, dsprites, ground_truth, mnist, pipeline
from rvl_jax.data.dsprites import DSpritesFile, ProceduralDSprites, load_dsprites
from rvl_jax.data.ground_truth import GroundTruthData
from rvl_jax.data.mnist import MNISTData, load_mnist

__all__ = [
  "batching",
  "dsprites",
  "ground_truth",
  "mnist",
  "pipeline",
  "ProceduralDSprites",
  "DSpritesFile",
  "load_dsprites",
  "GroundTruthData",
  "MNISTData",
  "load_mnist",
]
