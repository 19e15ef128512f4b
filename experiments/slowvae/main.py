"""Launch: python -m experiments.slowvae.main \
    --config=experiments/slowvae/configs/slowvae.py[:smoke|:paper|:<dataset>|:smoke-<dataset>] \
    --workdir=DIR
Methods: configs/{slowvae,betavae,adagvae,pcl,pmvae,nica}.py. Override keys with --config.key=value."""

from absl import app

from experiments.slowvae import train
from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()


def main(argv):
  del argv
  experiment.launch(train.train_and_evaluate, _CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
