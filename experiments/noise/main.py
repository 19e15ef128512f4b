"""Launch: python -m experiments.noise.main \
    --config=experiments/noise/configs/mnist_study.py[:smoke|:paper] --workdir=DIR

``config.experiment`` selects 'mnist_study' (the MNIST study: GNT / Speckle / ANT arms, MNIST-C,
eps*, adversarial accuracy), 'sigma_sweep' (GNT for a range of sigmas; configs/sigma_sweep.py) or
'imagenet' (ResNet50 fine-tuning and ImageNet-C evaluation, accelerators; configs/imagenet.py).
Override any config key with --config.key=value.
"""

from experiments.noise import EXPERIMENTS
from rvl_jax.core import experiment

if __name__ == "__main__":
  experiment.run(EXPERIMENTS)
