"""Launch: python -m experiments.mnist_classifier.main \
    --config=experiments/mnist_classifier/configs/default.py[:smoke|:paper] --workdir=DIR
Override any config key with --config.key=value."""

from absl import app

from experiments.mnist_classifier import EXPERIMENTS
from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()


def main(argv):
  del argv
  experiment.dispatch(EXPERIMENTS, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
