"""The train state every rvl_jax trainer carries: params, batch statistics, optimizer state, step, key."""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax
import jax
import jax.numpy as jnp
import optax


def as_raw_key(rng: jax.Array) -> jax.Array:
  """Converts a PRNG key to a legacy uint32[2] key, so checkpoints stay plain arrays.

  Args:
    rng: a typed key (``jax.random.key``) or a raw uint32[2] key.

  Returns:
    The raw uint32[2] key (``rng`` itself when it already is one).
  """
  if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
    return jax.random.key_data(rng)
  return rng


def initial_fields(params: Any, tx: optax.GradientTransformation, rng: jax.Array, batch_stats=None):
  """The step-0 fields every training state shares, for ``TrainState.create`` and the states of
  other shapes (e.g. the adversarial noise generator's).

  Args:
    params: the model parameters.
    tx: the optax transformation (its state is initialised from ``params``).
    rng: the state's PRNG key (typed or raw).
    batch_stats: BatchNorm statistics (default: ``{}``).

  Returns:
    ``{'step', 'params', 'batch_stats', 'opt_state', 'rng'}``, to pass as keywords.
  """
  return dict(
    step=jnp.zeros((), jnp.int32),
    params=params,
    batch_stats={} if batch_stats is None else batch_stats,
    opt_state=tx.init(params),
    rng=as_raw_key(rng),
  )


class TrainState(flax.struct.PyTreeNode):
  """Immutable training state.

  Attributes:
    step: number of optimizer updates applied so far (int32 scalar).
    params: model parameters (a pytree).
    batch_stats: BatchNorm running statistics, or ``{}`` for models without them.
    opt_state: optax optimizer state.
    rng: a uint32[2] PRNG key, split inside the step function for dropout/noise/sampling.
    apply_fn: the model's ``apply`` (static).
    tx: the optax transformation (static).
  """

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array
  apply_fn: Callable = flax.struct.field(pytree_node=False)
  tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  @classmethod
  def create(
    cls,
    *,
    apply_fn: Callable,
    params: Any,
    tx: optax.GradientTransformation,
    rng: jax.Array,
    batch_stats: Optional[Any] = None,
  ) -> "TrainState":
    """Builds the state at step 0 with a freshly initialised optimizer state.

    Args:
      apply_fn: the model's ``apply``.
      params: the model parameters.
      tx: the optax transformation.
      rng: the state's PRNG key (typed or raw).
      batch_stats: BatchNorm statistics (default: ``{}``).

    Returns:
      A new :class:`TrainState`.
    """
    return cls(**initial_fields(params, tx, rng, batch_stats), apply_fn=apply_fn, tx=tx)

  def apply_gradients(self, grads: Any, **replace: Any) -> "TrainState":
    """One optimizer update.

    Args:
      grads: gradients with the structure of ``params``.
      **replace: other fields to override (e.g. batch_stats, rng).

    Returns:
      The state after the update, with ``step`` increased by one.
    """
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    params = optax.apply_updates(self.params, updates)
    return self.replace(step=self.step + 1, params=params, opt_state=opt_state, **replace)

  def variables(self) -> dict:
    """Returns the Flax variable dict for ``apply_fn`` (params, and batch_stats when present)."""
    if self.batch_stats:
      return {"params": self.params, "batch_stats": self.batch_stats}
    return {"params": self.params}

  def next_rng(self) -> tuple["TrainState", jax.Array]:
    """Splits the state's key.

    Returns:
      (the state with its new key, a fresh key for this step).
    """
    new, sub = jax.random.split(self.rng)
    return self.replace(rng=new), sub
