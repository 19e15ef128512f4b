"""Pure train steps for vanilla / Gaussian / multi-sigma / Speckle noise training
(Rusak et al. 2020, Sec. 3.1).

The steps follow the ``train_step(state, batch) -> (state, metrics)`` contract of
``rvl_jax.core.loop.train`` (which jit-compiles them); ``batch`` is a dict with 'image'
(B, H, W, C) float32 in [0, 1] and 'label' (B,) int32.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import optax

from rvl_jax.core import metrics as core_metrics
from rvl_jax.core.train_state import TrainState
from rvl_jax.noise import gnt
from rvl_jax.noise.models import apply_model

NOISE_MODES = ("clean", "gaussian", "gaussian_mult", "speckle")


def create_state(model, params, batch_stats, tx, rng) -> TrainState:
  return TrainState.create(
    apply_fn=model.apply, params=params, tx=tx, rng=rng, batch_stats=batch_stats
  )


def _bs(state):
  return state.batch_stats if state.batch_stats else None


def classifier_update(model, state: TrainState, images, labels):
  """One optimiser step of the classifier on ``images`` (train mode: BN batch statistics)."""

  def loss_fn(params):
    logits, new_bs = apply_model(model, params, _bs(state), images, train=True)
    return core_metrics.cross_entropy(logits, labels), (logits, new_bs)

  (loss, (logits, new_bs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  replace = {"batch_stats": new_bs} if new_bs is not None else {}
  state = state.apply_gradients(grads, **replace)
  return state, loss, logits


def make_noise_train_step(
  model,
  mode: str = "gaussian",
  *,
  sigma: float = 0.5,
  sigmas: Sequence[float] = gnt.GAUSS_MULT_SIGMAS,
  scales: Sequence[float] = gnt.SPECKLE_SCALES,
  p_clean: float = 0.5,
):
  """Train step for 'clean' (vanilla), 'gaussian' (GNT sigma), 'gaussian_mult', 'speckle'."""
  if mode not in NOISE_MODES:
    raise ValueError(f"argument 'mode': expected one of {list(NOISE_MODES)}, got {mode!r}")

  def train_step(state: TrainState, batch):
    state, key = state.next_rng()
    x = gnt.noise_batch(
      key, batch["image"], mode, sigma=sigma, sigmas=sigmas, scales=scales, p_clean=p_clean
    )
    state, loss, logits = classifier_update(model, state, x, batch["label"])
    return state, {"loss": loss, "accuracy": core_metrics.accuracy(logits, batch["label"])}

  return train_step


def sgd_momentum(lr, momentum: float = 0.9):
  """PyTorch-equivalent heavy-ball SGD (no Nesterov, no weight decay)."""
  return optax.sgd(lr, momentum=momentum)


def step_decay_schedule(
  lr: float, total_steps: int, decay_at: Optional[int] = None, factor: float = 0.1
):
  """Constant ``lr`` with one x``factor`` decay at ``decay_at`` (default: after 2/3)."""
  if decay_at is None:
    decay_at = int(round(2 * total_steps / 3))
  return optax.piecewise_constant_schedule(lr, {int(decay_at): factor})
