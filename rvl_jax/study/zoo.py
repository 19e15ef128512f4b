"""What the model zoos of both families share: the lookup in a family's table of trainers behind
its ``train_model``, and the fresh train state of a racecar chain (Xie & Thuerey, section 3)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from rvl_jax.core import train_state, validation
from rvl_jax.racecar import layers as rc_layers
from rvl_jax.study import interface


def train_named(
  trainers: Mapping[str, Callable[..., interface.StudyModel]], name: str, *args: Any
) -> interface.StudyModel:
  """Calls ``trainers[name](name, data, seed, workdir, settings)`` (``args``: the last four).

  Raises:
    ValueError: naming ``name`` when it is not in ``trainers``.
  """
  validation.check_in_choices("name", name, sorted(trainers))
  return trainers[name](name, *args)


def racecar_state(
  chain: rc_layers.RacecarChain, x_example, lr: float, init_key: jax.Array, rng_key: jax.Array
) -> train_state.TrainState:
  """Adam state of ``chain`` initialised on ``x_example`` with its reverse pass built; the
  parameters draw from ``init_key``, the per-step keys from ``rng_key``."""
  variables = chain.init(
    init_key, jnp.asarray(x_example), train=False, reverse=rc_layers.ReverseConfig()
  )
  return train_state.TrainState.create(
    apply_fn=chain.apply,
    params=variables["params"],
    tx=optax.adam(lr),
    rng=rng_key,
    batch_stats=variables.get("batch_stats"),
  )
