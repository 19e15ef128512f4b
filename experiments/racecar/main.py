"""Launch: python -m experiments.racecar.main \
    --config=experiments/racecar/configs/<name>.py[:smoke|:paper] --workdir=DIR
Override any config key with --config.key=value (the regulariser: --config.reg.lam=...).
Experiments (`config.experiment`): e1 (MNIST two-image SVD), e2 (peak test), e3 (MI planes and
transfer), e4 (InfoGAN-style RR1), e5 (MNIST CNN and n-MNIST-like transfer), e6 (CIFAR VGG
transfer), e7 (ResNet layer-wise), e8 (texture-shape), e9 (smoke GAN and autoencoders), e10 (VGG
stylization)."""

from experiments.racecar import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
