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
from rvl_jax.core import validation
from rvl_jax.core.train_state import TrainState
from rvl_jax.noise import gnt
from rvl_jax.noise.models import apply_model

NOISE_MODES = gnt.NOISE_MODES


def create_state(model, params, batch_stats, tx, rng) -> TrainState:
  """The classifier's train state at step 0.

  Args:
    model: the flax classifier.
    params: its parameters.
    batch_stats: its BatchNorm statistics, or None.
    tx: the optax optimiser.
    rng: the state's PRNG key.

  Returns:
    A core `TrainState`.
  """
  return TrainState.create(
    apply_fn=model.apply, params=params, tx=tx, rng=rng, batch_stats=batch_stats
  )


def _bs(state):
  return state.batch_stats if state.batch_stats else None


def classifier_update(model, state: TrainState, images, labels):
  """One optimiser step of the classifier on ``images`` (train mode: BN batch statistics).

  Args:
    model: the flax classifier.
    state: its train state.
    images: (B, H, W, C) inputs in [0, 1].
    labels: (B,) integer labels.

  Returns:
    (new state, cross-entropy loss, logits).
  """

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
  """Train step of vanilla, Gaussian (GNT) or Speckle noise training (Rusak et al. 2020,
  Sec. 3.1): the noisy part of each batch is drawn with the state's ``next_rng``.

  Args:
    model: the flax classifier.
    mode: 'clean' (vanilla), 'gaussian' (GNT, one sigma), 'gaussian_mult' (sigma drawn per
      image from ``sigmas``) or 'speckle'.
    sigma: the GNT sigma.
    sigmas: the 'gaussian_mult' sigmas.
    scales: the Speckle scales.
    p_clean: fraction of clean images in each batch.

  Returns:
    ``train_step(state, batch) -> (state, {'loss', 'accuracy'})``.

  Raises:
    ValueError: an unknown ``mode``.
  """
  validation.check_in_choices("mode", mode, NOISE_MODES)

  def train_step(state: TrainState, batch):
    state, key = state.next_rng()
    x = gnt.noise_batch(
      key, batch["image"], mode, sigma=sigma, sigmas=sigmas, scales=scales, p_clean=p_clean
    )
    state, loss, logits = classifier_update(model, state, x, batch["label"])
    return state, {"loss": loss, "accuracy": core_metrics.accuracy(logits, batch["label"])}

  return train_step


def sgd_momentum(lr, momentum: float = 0.9):
  """PyTorch-equivalent heavy-ball SGD (no Nesterov, no weight decay).

  Args:
    lr: learning rate or optax schedule.
    momentum: momentum.

  Returns:
    The optax transformation.
  """
  return optax.sgd(lr, momentum=momentum)


def step_decay_schedule(
  lr: float, total_steps: int, decay_at: Optional[int] = None, factor: float = 0.1
):
  """Constant ``lr`` with one x``factor`` decay.

  Args:
    lr: initial learning rate.
    total_steps: training steps.
    decay_at: step of the decay (default: after 2/3 of ``total_steps``).
    factor: the decay factor.

  Returns:
    An optax schedule.
  """
  if decay_at is None:
    decay_at = int(round(2 * total_steps / 3))
  return optax.piecewise_constant_schedule(lr, {int(decay_at): factor})
