"""Corruption suites: ImageNet-C (``imagenet_c``), CIFAR-10-C (``cifar_c``), MNIST-C (``mnist_c``).

Each module exposes ``CORRUPTIONS: dict[name -> fn(key, images, severity)]``, ``HOLDOUT`` and
``IS_JITTABLE``; ``materialize`` writes fixed, seeded corrupted test sets.
"""

from rvl_jax.noise.corruptions import mnist_c  # noqa: F401
