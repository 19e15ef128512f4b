"""The single supervised trainer of the benchmark (Schott et al. 2022, App. H.3).

Loss per mini-batch: mean over the batch of the SUM over factors of squared errors,
``L = (1/b) sum_j ||y_j - f(x_j)||^2``; Adam (PyTorch defaults, ``optax.adam``) with a
constant learning rate; batches of ``batch_size`` train images sampled with replacement per
step (iterations, not epochs), deterministic in (seed, step). The training seed sets the
initialisation and the batch order. Training goes through :func:`rvl_jax.core.loop.train`
(jit, data parallel over all local devices, checkpoint/resume, NaN check, progress bar).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional

import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.benchmark import augment as augment_lib
from rvl_jax.benchmark import models as models_lib
from rvl_jax.core import loop, prng, train_state
from rvl_jax.data import batching
from rvl_jax.data import pipeline as pl


def sum_mse_loss(predictions, targets):
  """(1/b) sum_j ||y_j - f(x_j)||^2 (Schott et al. 2022, Sec. 2)."""
  return jnp.mean(jnp.sum((predictions - targets) ** 2, axis=-1))


def init_state(
  model, image_shape, *, seed: int, lr: float, variables=None
) -> train_state.TrainState:
  """Initialise a TrainState (params from ``seed``, or given ``variables`` for fine-tuning)."""
  if variables is None:
    variables = model.init(
      prng.stream_key(seed, "init"), jnp.zeros((1,) + tuple(image_shape), jnp.float32), train=False
    )
  variables = dict(variables)
  return train_state.TrainState.create(
    apply_fn=model.apply,
    params=variables["params"],
    tx=optax.adam(lr),
    rng=prng.stream_key(seed, "train"),
    batch_stats=variables.get("batch_stats"),
  )


def supervised_train_step(state, batch):
  """Pure train step: batch = {'image': (b,H,W,C), 'target': (b,F)}."""

  def loss_fn(params):
    variables = {"params": params}
    if state.batch_stats:
      variables["batch_stats"] = state.batch_stats
      preds, updates = state.apply_fn(
        variables, batch["image"], train=True, mutable=["batch_stats"]
      )
      return sum_mse_loss(preds, batch["target"]), (preds, updates["batch_stats"])
    preds = state.apply_fn(variables, batch["image"], train=True)
    return sum_mse_loss(preds, batch["target"]), (preds, state.batch_stats)

  (loss, (preds, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads, batch_stats=new_stats)
  mse = jnp.mean((preds - batch["target"]) ** 2)
  return state, {"loss": loss, "mse": mse}


def make_get_batch(dataset, batch_size: int, seed: int, augment: str = ""):
  """step -> {'image', 'target'}: train images sampled with replacement, fixed by (seed, step)."""
  n = len(dataset)

  def get_batch(step):
    pos = batching.sample_batch_indices(seed, step, n, batch_size)
    images = dataset.images(pos)
    if augment:
      images = augment_lib.apply(images, augment, batching.step_rng(seed, step, stream="augment"))
    return {"image": images, "target": dataset.targets(pos)}

  return get_batch


class _Records:
  """A BenchmarkDataset as a random-access source of ``{'image', 'target'}`` records."""

  def __init__(self, dataset):
    self.dataset = dataset

  def __len__(self):
    return len(self.dataset)

  def __getitem__(self, i):
    return {"image": self.dataset.images([i])[0], "target": self.dataset.targets([i])[0]}


@dataclasses.dataclass(frozen=True)
class _Augment(grain.transforms.RandomMap):
  spec: str

  def random_map(self, record, rng):
    return {**record, "image": augment_lib.apply(record["image"][None], self.spec, rng)[0]}


def make_batches(
  dataset,
  batch_size: int,
  seed: int,
  augment: str = "",
  worker_count: int = 0,
  num_threads: int = 2,
) -> pl.Pipeline:
  """Shuffled epochs of a file-backed train dataset (split files, memory-mapped or HDF5 grids)
  through the input pipeline: rows read and augmented in threads/worker processes, prefetched,
  each process reading only its slice of the global batch, the position checkpointed."""
  return pl.make_pipeline(
    _Records(dataset),
    batch_size=batch_size,
    seed=seed,
    transforms=[_Augment(augment)] if augment else [],
    worker_count=worker_count,
    num_threads=num_threads,
    name="benchmark/train",
  )


def make_predict_fn(state_or_variables, apply_fn=None, batch_size: int = 512) -> Callable:
  """A numpy model_fn (images NHWC -> (B, F) predictions) for :func:`evaluate_model`.

  Batches are padded to ``batch_size`` so jit compiles once.
  """
  if apply_fn is None:
    apply_fn = state_or_variables.apply_fn
    variables = state_or_variables.variables()
  else:
    variables = state_or_variables
  fwd = jax.jit(lambda v, x: apply_fn(v, x, train=False))

  def model_fn(images):
    images = np.asarray(images, np.float32)
    n = len(images)
    out = []
    for s in range(0, n, batch_size):
      chunk = images[s : s + batch_size]
      pad = batch_size - len(chunk)
      if pad:
        chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
      out.append(np.asarray(fwd(variables, chunk))[: batch_size - pad])
    return np.concatenate(out) if out else np.zeros((0,))

  return model_fn


@dataclasses.dataclass
class SupervisedResult:
  state: Any
  model: Any
  train_result: Any
  seconds: float


def supervised(
  model,
  dataset,
  *,
  num_steps: int,
  batch_size: int = 64,
  lr: Optional[float] = None,
  seed: int = 0,
  workdir: Optional[str] = None,
  log_every: int = 100,
  checkpoint_every: int = 1000,
  init_variables=None,
  augment: str = "",
  eval_fn=None,
  eval_every: int = 0,
  desc: str = "supervised",
  batches: Optional[pl.Pipeline] = None,
) -> SupervisedResult:
  """Train ``model`` (a name of :data:`models.MODELS` or a Flax module) on a train dataset.

  ``lr`` defaults to the paper's value for the model (5e-4; DenseNet 1e-4; pass 1e-4 for
  fine-tuning). ``init_variables`` starts from given (e.g. pretrained) variables. Batches are
  drawn with replacement by (seed, step), or come from ``batches`` (:func:`make_batches`).
  """
  n_factors = len(dataset.factor_sizes)
  if isinstance(model, str):
    if lr is None:
      lr = models_lib.DEFAULT_LR[model]
    model = models_lib.make_model(model, n_factors)
  lr = 5e-4 if lr is None else lr
  state = init_state(model, dataset.image_shape, seed=seed, lr=lr, variables=init_variables)
  t0 = time.time()
  result = loop.train(
    state=state,
    train_step=supervised_train_step,
    get_batch=None if batches is not None else make_get_batch(dataset, batch_size, seed, augment),
    batches=batches,
    num_steps=num_steps,
    workdir=workdir,
    log_every=log_every,
    checkpoint_every=checkpoint_every,
    eval_fn=eval_fn,
    eval_every=eval_every,
    desc=desc,
  )
  return SupervisedResult(result.state, model, result, time.time() - t0)
