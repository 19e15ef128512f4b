"""Noise training against common corruptions (Rusak et al. 2020): GNT, Speckle, ANT, corruption
suites, mCE.

Submodules: ``projection`` (clipping-aware eps projection), ``generators`` (noise
generators), ``gnt`` (Gaussian/Speckle batches, eps(sigma)), ``training`` (noise train steps),
``ant`` (adversarial noise training), ``models`` (Madry CNN, ResNets), ``evaluation``
(top-k, CE/mCE, eps*), ``adversarial`` (PGD / DDN accuracy), ``reports``, ``corruptions``
(ImageNet-C, CIFAR-10-C, MNIST-C), ``study`` (the MNIST study and sigma sweep) and ``imagenet``
(ImageNet fine-tuning and ImageNet-C evaluation).
"""

from rvl_jax.noise import ant, generators, gnt, models, projection, training  # noqa: F401
from rvl_jax.noise.generators import GeneratorSpec, NoiseGenerator  # noqa: F401
from rvl_jax.noise.gnt import epsilon_for_sigma, expected_clipped_noise_norm  # noqa: F401
from rvl_jax.noise.projection import project_to_eps_sphere  # noqa: F401
