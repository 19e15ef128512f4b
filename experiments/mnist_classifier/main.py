"""Launch: python -m experiments.mnist_classifier.main \
    --config=experiments/mnist_classifier/configs/default.py[:smoke|:paper] --workdir=DIR
Override any config key with --config.key=value."""

from experiments.mnist_classifier import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
