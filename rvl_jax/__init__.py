"""rvl_jax: JAX/Flax reimplementations of robust and generalizing visual representation learning.

Subpackages:
  core            shared training state, loop, sharding, checkpoints, I/O, validation
  data            ground-truth-factor data interface, procedural dSprites, MNIST, batching
  racecar, abs, attacks, disentanglement, slowvae, benchmark, noise   the five systems
"""

__version__ = "0.1.0"
