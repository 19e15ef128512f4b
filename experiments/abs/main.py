"""ABS experiments.

  python -m experiments.abs.main --config=experiments/abs/configs/abs.py[:smoke|:paper] --workdir=DIR

``config.experiment`` selects what runs: 'train' (default; experiments.abs.train) or
'robustness' (experiments.abs.robustness, the attack suite). Override keys with --config.key=value.
"""
import importlib

from absl import app
from absl import flags
from ml_collections import config_flags

from rvl_jax.core import experiment

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory (resumes from checkpoints).')
flags.mark_flags_as_required(['config', 'workdir'])

_EXPERIMENTS = {'train': 'experiments.abs.train', 'robustness': 'experiments.abs.robustness'}


def get_train_and_evaluate(name: str):
  if name not in _EXPERIMENTS:
    raise ValueError(f"argument 'config.experiment': expected one of {sorted(_EXPERIMENTS)}, "
                     f'got {name!r}')
  return importlib.import_module(_EXPERIMENTS[name]).train_and_evaluate


def main(argv):
  del argv
  config = _CONFIG.value
  fn = get_train_and_evaluate(config.get('experiment', 'train'))
  experiment.launch(fn, config, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
