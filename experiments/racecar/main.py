"""Launch: python -m experiments.racecar.main --config=experiments/racecar/configs/e2_peak.py[:smoke|:paper]
--workdir=DIR. `config.experiment` selects the experiment module (e1, e2, e3, e4, e5, e6, e7, e8, e9, e10)."""
import importlib

from absl import app

from rvl_jax.core import experiment

_CONFIG, _WORKDIR = experiment.define_experiment_flags()

MODULES = {
    'e1': 'experiments.racecar.e1_mnist_svd', 'e2': 'experiments.racecar.e2_peak',
    'e3': 'experiments.racecar.e3_mi', 'e4': 'experiments.racecar.e4_infogan',
    'e5': 'experiments.racecar.e5_mnist_cnn', 'e6': 'experiments.racecar.e6_cifar',
    'e7': 'experiments.racecar.e6_cifar', 'e8': 'experiments.racecar.e8_texture',
    'e9': 'experiments.racecar.e9_smoke', 'e10': 'experiments.racecar.e10_vgg',
}


def get_train_fn(name: str):
  if name not in MODULES:
    raise ValueError(f"argument 'config.experiment': expected one of {sorted(MODULES)}, got {name!r}")
  return importlib.import_module(MODULES[name]).train_and_evaluate


def main(argv):
  del argv
  experiment.launch(get_train_fn(_CONFIG.value.experiment), _CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
