"""Training phases of the racecar experiments: state creation, one resumable phase through
`rvl_jax.core.loop.train`, seeded batch streams and evaluation.

The experiments of Xie & Thuerey (2019/2020) share one protocol (their Sec. 5): a first phase with
the regulariser (Std / Ort / RR / lRR / RR1), then phases without it that start from the first
phase's weights (fine-tuning on the same task, transfer to a new task) and a from-scratch baseline.
Every random stream of a phase derives from the run's seed and a NAME (`rvl_jax.core.prng`).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import batched, loop, prng, train_state
from rvl_jax.core import validation as V
from rvl_jax.data import batching
from rvl_jax.racecar import training
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
  """The optimizer of a racecar phase.

  Args:
    name: 'adam' or 'sgd' (SGD with momentum 0.9).
    learning_rate: the step size.

  Returns:
    The optax transformation.

  Raises:
    ValueError: naming ``config.optimizer`` when ``name`` is neither.
  """
  V.check_in_choices("config.optimizer", name, OPTIMIZERS)
  if name == "adam":
    return optax.adam(learning_rate)
  return optax.sgd(learning_rate, momentum=0.9)


def create_state(
  model,
  x_example,
  key: jax.Array,
  tx: optax.GradientTransformation,
  reverse: Optional[ReverseConfig] = None,
) -> train_state.TrainState:
  """A fresh train state of a racecar chain.

  Args:
    model: a `RacecarChain` (any module whose ``init`` takes ``train`` and ``reverse``).
    x_example: a small input batch fixing the shapes.
    key: the run's key of this model; its streams 'init' (parameters) and 'train' (the
      per-step keys of ``state.next_rng``) are derived from it by name.
    tx: the optimizer.
    reverse: build the reverse pass at initialisation (needed when a later phase uses it).

  Returns:
    The `TrainState` (batch statistics included when the model has BN).
  """
  v = model.init(
    prng.fold_in_name(key, "init"), jnp.asarray(x_example), train=False, reverse=reverse
  )
  return train_state.TrainState.create(
    apply_fn=model.apply,
    params=v["params"],
    tx=tx,
    rng=prng.fold_in_name(key, "train"),
    batch_stats=v.get("batch_stats", None),
  )


def restart(state: train_state.TrainState) -> train_state.TrainState:
  """The state with a fresh optimizer and step 0: the start of a phase that continues from the
  weights (and BN statistics) of an earlier one.

  Args:
    state: the state at the end of the earlier phase.

  Returns:
    The same weights with a new optimizer state and ``step = 0``.
  """
  return state.replace(opt_state=state.tx.init(state.params), step=jnp.zeros((), jnp.int32))


def run_phase(
  state,
  reg: RegConfig,
  get_batch: Callable[[int], Any],
  num_steps: int,
  workdir: Optional[str],
  name: str,
  *,
  log_every: int = 100,
  checkpoint_every: Optional[int] = None,
  task_loss: str = "softmax_ce",
  logits_from: str = "out",
  epoch_scan: bool = False,
) -> loop.TrainResult:
  """One training phase into ``workdir/name`` (resumable).

  Args:
    state: the initial state.
    reg: the regulariser of this phase.
    get_batch: step -> {'x', 'y'}.
    num_steps: loop steps of the phase.
    workdir: the run's directory (None: no checkpoints, no metric files).
    name: the phase's sub-directory and progress label.
    log_every: metric logging interval in steps.
    checkpoint_every: checkpoint interval (None: only at the end).
    task_loss: 'softmax_ce' or 'mse'.
    logits_from: 'out' or 'linear' (see `training.make_train_step`).
    epoch_scan: one loop step = one epoch of optimizer steps in a ``lax.scan`` (``get_batch``
      then returns [B, K, ...] leaves, see `epoch_stacks`).

  Returns:
    The loop's `TrainResult`.
  """
  wd = os.path.join(workdir, name) if workdir else None
  step = training.make_train_step(reg, task_loss, logits_from)
  if epoch_scan:
    step = training.scan_steps(step)
  return loop.train(
    state=state,
    train_step=step,
    get_batch=get_batch,
    num_steps=num_steps,
    workdir=wd,
    log_every=log_every,
    checkpoint_every=checkpoint_every or num_steps,
    desc=name,
  )


def full_batch(x, y) -> Callable[[int], dict]:
  """get_batch(step) -> the whole training set, every step.

  Args:
    x: inputs.
    y: labels.

  Returns:
    The ``get_batch`` function.
  """
  xb, yb = np.asarray(x), np.asarray(y)
  return lambda step: {"x": xb, "y": yb}


def minibatches(x, y, batch_size: int, seed: int, stream: str) -> Callable[[int], dict]:
  """get_batch(step) -> ``batch_size`` examples drawn with replacement, fixed by (seed, stream,
  step).

  Args:
    x: inputs.
    y: labels.
    batch_size: examples per batch.
    seed: the run's seed.
    stream: the name of this batch stream (phases with different names see different batches).

  Returns:
    The ``get_batch`` function.
  """
  x, y = np.asarray(x), np.asarray(y)
  words = prng.name_hash(stream)

  def get(step):
    idx = batching.step_rng(seed, step, stream=words).integers(0, len(x), size=batch_size)
    return {"x": x[idx], "y": y[idx]}

  return get


def epoch_stacks(x, y, batch_size: int, seed: int, stream: str) -> Callable[[int], dict]:
  """get_batch(epoch) -> one shuffled epoch of K full batches as [B, K, ...] leaves.

  Args:
    x: inputs.
    y: labels.
    batch_size: examples per optimizer step (the remainder of an epoch is dropped).
    seed: the run's seed.
    stream: the name of this shuffle stream.

  Returns:
    The ``get_batch`` function for `run_phase` with ``epoch_scan=True``.

  Raises:
    ValueError: naming ``batch_size`` when it exceeds the number of examples.
  """
  x, y = np.asarray(x), np.asarray(y)
  if batch_size > len(x):
    raise ValueError(f"argument 'batch_size': expected <= {len(x)}, got {batch_size}")
  shuffle_seed = int(prng.numpy_rng(seed, stream).integers(2**31))

  def get(epoch):
    idx = np.stack(list(batching.epoch_batches(len(x), batch_size, shuffle_seed, epoch)))  # [K, B]
    return {"x": np.swapaxes(x[idx], 0, 1), "y": np.swapaxes(y[idx], 0, 1)}

  return get


def evaluate(state, x, y, batch_size: int = 1000) -> float:
  """Accuracy of a chain in eval mode.

  Args:
    state: the trained state.
    x: inputs.
    y: one-hot or integer labels.
    batch_size: evaluation chunk size.

  Returns:
    The fraction of correct argmax predictions.
  """
  logits = batched.batched_apply(training.make_predict(state), np.asarray(x), batch_size)
  yl = np.argmax(y, -1) if np.ndim(y) == 2 else np.asarray(y)
  return float(np.mean(np.argmax(logits, -1) == yl))


def sec_per_step(result: loop.TrainResult) -> float:
  """Seconds per loop step of a phase (NaN when the phase ran no step).

  Args:
    result: the phase's `TrainResult`.

  Returns:
    1 / steps_per_second.
  """
  return 1.0 / result.steps_per_second if result.steps_per_second else float("nan")
