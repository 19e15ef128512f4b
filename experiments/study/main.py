"""Launch: python -m experiments.study.main \
    --config=experiments/study/configs/mnist_family.py[:smoke|:paper] --workdir=DIR
    (or configs/factor_family.py). Override any config key with --config.key=value."""

from experiments.study import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
