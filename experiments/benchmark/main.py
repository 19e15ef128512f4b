"""Benchmark experiments: ``--config=experiments/benchmark/configs/default.py[:smoke|:paper]``.

``config.experiment``: 'train' (one model on one split), 'sweep' (models x splits x seeds ->
leaderboard), 'oracle' (readout on ground-truth factors), 'weak' (representation learning +
frozen-code readout).
"""
from absl import app

from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()


def _dispatch(config, workdir):
  kind = config.get('experiment', 'train')
  if kind == 'train':
    from experiments.benchmark import train  # pylint: disable=import-outside-toplevel
    return train.train_and_evaluate(config, workdir)
  if kind == 'sweep':
    from experiments.benchmark import sweep  # pylint: disable=import-outside-toplevel
    return sweep.run_sweep(config, workdir)
  if kind == 'oracle':
    from experiments.benchmark import oracle  # pylint: disable=import-outside-toplevel
    return oracle.run_oracle(config, workdir)
  if kind == 'weak':
    from experiments.benchmark import weak  # pylint: disable=import-outside-toplevel
    return weak.train_and_evaluate(config, workdir)
  raise ValueError(f"config.experiment: expected 'train', 'sweep', 'oracle' or 'weak', got {kind!r}")


def main(argv):
  del argv
  experiment.launch(_dispatch, _CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
