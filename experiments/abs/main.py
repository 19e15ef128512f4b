"""ABS experiments.

  python -m experiments.abs.main --config=experiments/abs/configs/abs.py[:smoke|:paper] --workdir=DIR

``config.experiment`` selects what runs: 'train' (default; experiments.abs.train) or
'robustness' (experiments.abs.robustness, the attack suite). Override keys with --config.key=value.
"""
import importlib

from absl import app

from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()

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
