"""E7 ResNet-110 with layer-wise racecar (every conv, incl. shortcut projections, its own unit) vs
Std and Ort (SRIP; Bansal's schedule documented in docs). Variants: default (stand-in data, ResNet v1
depth 8), smoke (depth 8, a few steps), paper (tfds CIFAR-10, v1 depth 110 = 1.7 M parameters; v2
with resnet_version=2, depth 110 = 9*12+2)."""

from experiments.racecar.configs import e6_cifar


def get_config(variant=None):
  c = e6_cifar.get_config(variant)
  c.experiment = "e7"
  c.resnet_version = 1
  c.depth = 8
  c.width = 8
  c.methods = ("std", "ort", "lrr")
  c.classes_b = 10 if variant != "smoke" else 20
  if variant == "paper":
    c.depth = 110
    c.width = 16
    c.schedule.update({"batch_size": 128, "num_steps": 200 * 50000 // 128})
  return c
