"""Launch: python -m experiments.noise.main \
    --config=experiments/noise/configs/mnist_study.py[:smoke|:paper] --workdir=DIR

``config.experiment`` selects 'mnist_study' (spec 8.2/8.4), 'sigma_sweep' (spec 8.3) or
'imagenet' (ResNet50 fine-tuning, spec 4.6, accelerators). Override keys with --config.key=value.
"""

from absl import app

from experiments.noise import train
from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()


def main(argv):
  del argv
  experiment.launch(train.train_and_evaluate, _CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
