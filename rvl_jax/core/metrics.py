"""Small metric functions shared by the trainers."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """Mean softmax cross-entropy with integer labels."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def top_k_accuracy(logits: jnp.ndarray, labels: jnp.ndarray, k: int = 5) -> jnp.ndarray:
  top = jnp.argsort(-logits, axis=-1)[..., :k]
  return jnp.mean(jnp.any(top == labels[..., None], axis=-1))
