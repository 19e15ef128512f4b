"""Small metric functions shared by the trainers."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """Mean softmax cross-entropy with integer labels.

  Args:
    logits: (..., classes) unnormalised log-probabilities.
    labels: (...) integer class labels.

  Returns:
    A scalar.
  """
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """Fraction of examples whose arg-max logit is the label.

  Args:
    logits: (..., classes) scores.
    labels: (...) integer class labels.

  Returns:
    A scalar in [0, 1].
  """
  return jnp.mean(jnp.argmax(logits, axis=-1) == labels)
