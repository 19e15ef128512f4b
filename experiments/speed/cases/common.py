"""What every case builder shares: config loading, a fixed key, random stand-in batches."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp

from rvl_jax.core.cost import Case

__all__ = [
  "Case",
  "IMAGENET_TRAIN_IMAGES",
  "MNIST_TRAIN",
  "MNIST_TEST",
  "load_config",
  "key",
  "images",
  "labels",
  "onehot",
  "adam_state",
]

IMAGENET_TRAIN_IMAGES = 1_281_167
MNIST_TRAIN = 60_000
MNIST_TEST = 10_000


def load_config(system: str, name: str, variant: str = "paper"):
  """Returns ``experiments/<system>/configs/<name>.py``'s config for ``variant``."""
  return importlib.import_module(f"experiments.{system}.configs.{name}").get_config(variant)


def key(i: int = 0):
  """Returns ``jax.random.PRNGKey(i)``."""
  return jax.random.PRNGKey(i)


def images(shape, i=1):
  """Returns uniform float32 images of ``shape`` (a stand-in batch)."""
  return jax.random.uniform(key(i), shape, jnp.float32)


def labels(n, classes, i=2):
  """Returns ``n`` random int32 labels in ``[0, classes)``."""
  return jax.random.randint(key(i), (n,), 0, classes, jnp.int32)


def onehot(n, classes, i=2):
  """Returns ``n`` random one-hot float32 labels over ``classes``."""
  return jax.nn.one_hot(labels(n, classes, i), classes, dtype=jnp.float32)


def adam_state(apply_fn, params, lr, rng_index=0, batch_stats=None, b1=0.9):
  """Returns a fresh TrainState with Adam(``lr``, ``b1``) and the state key ``key(rng_index)``."""
  import optax

  from rvl_jax.core import train_state

  return train_state.TrainState.create(
    apply_fn=apply_fn,
    params=params,
    tx=optax.adam(lr, b1=b1),
    rng=key(rng_index),
    batch_stats=batch_stats,
  )
