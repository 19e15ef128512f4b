"""Launch: python -m experiments.abs.main \
    --config=experiments/abs/configs/abs.py[:smoke|:paper] --workdir=DIR
    --config=experiments/abs/configs/robustness.py[:smoke|:small|:paper] --workdir=DIR

Experiments (``config.experiment``): 'train' (ten class-conditional VAEs, ABS inference,
calibration, lower bounds, distal adversarials; experiments/abs/train.py) and 'robustness' (the
attack suite of Table 1; experiments/abs/robustness.py). Override any config key with
--config.key=value."""

from experiments.abs import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
