"""Launch: python -m experiments.mnist_classifier.main \
    --config=experiments/mnist_classifier/configs/default.py[:smoke|:paper] --workdir=DIR
Override any config key with --config.key=value."""

from absl import app
from absl import flags
from ml_collections import config_flags

from experiments.mnist_classifier import train
from rvl_jax.core import experiment

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (resumes if it has checkpoints).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  experiment.launch(train.train_and_evaluate, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
