"""Launch: python -m experiments.benchmark.main \
    --config=experiments/benchmark/configs/<name>.py[:smoke|:paper] --workdir=DIR
Experiments (``config.experiment``): 'train' (configs/default.py: one model on one split),
'sweep' (configs/sweep.py: models x splits x seeds -> leaderboard), 'oracle' (configs/oracle.py:
the readout on ground-truth factors), 'weak' (configs/weak.py: representation learning + frozen-
code readout). Override any config key with --config.key=value."""

from experiments.benchmark import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
