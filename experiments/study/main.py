"""Launch: python -m experiments.study.main \
    --config=experiments/study/configs/mnist_family.py[:smoke|:paper] --workdir=DIR
    (or configs/factor_family.py). Override any config key with --config.key=value."""

from absl import app

from experiments.study import EXPERIMENTS
from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()


def main(argv):
  del argv
  experiment.dispatch(EXPERIMENTS, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
