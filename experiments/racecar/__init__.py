"""Racecar experiments E1-E10 (see docs/racecar.md)."""

# The registry `experiments/racecar/main.py` dispatches on (`config.experiment`).
EXPERIMENTS = {
  "e1": "experiments.racecar.e1_mnist_svd:train_and_evaluate",
  "e2": "experiments.racecar.e2_peak:train_and_evaluate",
  "e3": "experiments.racecar.e3_mi:train_and_evaluate",
  "e4": "experiments.racecar.e4_infogan:train_and_evaluate",
  "e5": "experiments.racecar.e5_mnist_cnn:train_and_evaluate",
  "e6": "experiments.racecar.e6_cifar:train_and_evaluate",
  "e7": "experiments.racecar.e7_resnet:train_and_evaluate",
  "e8": "experiments.racecar.e8_texture:train_and_evaluate",
  "e9": "experiments.racecar.e9_smoke:train_and_evaluate",
  "e10": "experiments.racecar.e10_vgg:train_and_evaluate",
}

# The config module of every experiment (`experiments/racecar/configs/<name>.py`), named as its
# driver module.
CONFIG_NAMES = tuple(target.split(":")[0].rsplit(".", 1)[1] for target in EXPERIMENTS.values())
