"""E7 - ResNet-110 (v1, or Bansal et al.'s v2) on CIFAR-10 with the layer-wise racecar loss on every
conv, including the shortcut projections (Xie & Thuerey, Sec. 5 and appendix A.2), against Std and
Ort (SRIP), evaluated on CIFAR-10.1 when `config.cifar10_1_path` is set. Same data and protocol as
E6 (`experiments.racecar.e6_cifar`); on CPU the default runs a depth-8 ResNet on the stand-in.
"""

from __future__ import annotations

from experiments.racecar import e6_cifar
from rvl_jax.racecar import cifar_transfer
from rvl_jax.racecar.training import RegConfig


def train_and_evaluate(c, workdir: str) -> dict:
  arch = cifar_transfer.ResNetArch(
    c.resnet_version, c.depth, c.width, RegConfig("lrr", **c.reg).output_activation
  )
  return e6_cifar.run(c, workdir, arch)
