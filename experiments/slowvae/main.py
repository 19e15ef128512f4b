"""Launch: python -m experiments.slowvae.main \
    --config=experiments/slowvae/configs/slowvae.py[:smoke|:paper|:<dataset>|:smoke-<dataset>] \
    --workdir=DIR
Experiments (``config.experiment``): 'train' (configs/{slowvae,betavae,adagvae,pcl,pmvae,nica}.py:
train one method and score it), 'oracle_table' (configs/oracle_table.py: every metric on the
identity and rotated factor oracles). Override any config key with --config.key=value."""

from experiments.slowvae import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
