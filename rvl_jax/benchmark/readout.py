"""Readout MLP on frozen codes (Schott et al. 2022, Sec. 3.1) and the oracle readout (Schott et al.
2022, App. A).

The readout is Dense(40)-ReLU-Dense(40)-ReLU-Dense(40)-ReLU-Dense(n), trained with the
benchmark's sum-over-factors MSE and Adam (default lr 1e-3, batch 64) through
:func:`rvl_jax.core.loop.train`, for a number of epochs (paper: 8 over the whole train split)
or a number of steps.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.benchmark import datasets, metrics, splits
from rvl_jax.benchmark import train as btrain
from rvl_jax.core import loop, prng, train_state
from rvl_jax.data import batching


@jax.jit
def _scan_chunk(state, codes, targets, idx):
  def body(st, i):
    st, m = btrain.supervised_train_step(st, {"image": codes[i], "target": targets[i]})
    return st, m["loss"]

  return jax.lax.scan(body, state, idx)


@functools.lru_cache(maxsize=4)
def _epoch_perm(n, seed, epoch):
  return batching.epoch_permutation(n, seed, epoch)


def _step_indices(n, batch_size, seed, step):
  """Same indices as batching.epoch_step_indices, with the epoch permutation computed once."""
  per_epoch = n // batch_size
  if per_epoch == 0:
    raise ValueError(
      f"argument 'batch_size': expected at most n={n} examples per batch, got {batch_size}"
    )
  epoch, k = divmod(int(step), per_epoch)
  return _epoch_perm(n, seed, epoch)[k * batch_size : (k + 1) * batch_size]


def _scan_train(state, codes, targets, steps, batch_size, seed, chunk=500):
  n = len(codes)
  codes_d, targets_d = jnp.asarray(codes), jnp.asarray(targets)
  for start in range(0, steps, chunk):
    stop = min(start + chunk, steps)
    idx = np.stack([_step_indices(n, batch_size, seed, s) for s in range(start, stop)])
    state, losses = _scan_chunk(state, codes_d, targets_d, jnp.asarray(idx))
    if not np.isfinite(np.asarray(losses)).all():
      raise FloatingPointError(
        f"readout training diverged: non-finite loss between steps {start} and {stop}"
      )
  return state


def readout_module(num_outputs: int, hidden=(40, 40, 40)):
  import flax.linen as nn  # pylint: disable=import-outside-toplevel

  class _Readout(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
      for w in hidden:
        x = nn.relu(nn.Dense(w)(x))
      return nn.Dense(num_outputs)(x)

  return _Readout()


def fit(
  codes,
  targets,
  *,
  epochs: Optional[int] = 8,
  steps: Optional[int] = None,
  batch_size: int = 64,
  lr: float = 1e-3,
  seed: int = 0,
  workdir: Optional[str] = None,
):
  """Fit the readout MLP; returns ``predict(codes) -> predictions`` (numpy)."""
  codes = np.asarray(codes, np.float32)
  targets = np.asarray(targets, np.float32)
  if codes.ndim != 2 or targets.ndim != 2 or len(codes) != len(targets):
    raise ValueError(
      f"arguments 'codes', 'targets': expected (n, d) and (n, F), got {codes.shape}, {targets.shape}"
    )
  n = len(codes)
  if steps is None:
    steps = int(epochs) * (n // batch_size)
  model = readout_module(targets.shape[1])
  params = model.init(prng.stream_key(seed, "readout/init"), jnp.zeros((1, codes.shape[1])))[
    "params"
  ]
  state = train_state.TrainState.create(
    apply_fn=model.apply,
    params=params,
    tx=optax.adam(lr),
    rng=prng.stream_key(seed, "readout/train"),
  )

  if workdir is not None:  # logged / checkpointed run through the shared loop

    def get_batch(step):
      pos = _step_indices(n, batch_size, seed, step)
      return {"image": codes[pos], "target": targets[pos]}

    params = loop.train(
      state=state,
      train_step=btrain.supervised_train_step,
      get_batch=get_batch,
      num_steps=steps,
      workdir=workdir,
      log_every=max(steps // 10, 1),
      checkpoint_every=max(steps, 1),
      desc="readout",
    ).state.params
  else:  # in memory: the same pure step, scanned in jitted chunks
    params = _scan_train(state, codes, targets, steps, batch_size, seed).params
  fwd = jax.jit(lambda p, x: model.apply({"params": p}, x))
  return lambda c: np.asarray(fwd(params, jnp.asarray(np.asarray(c, np.float32))))


def oracle_readout(
  name: str,
  variant: str,
  *,
  sign_flip: bool = False,
  steps: int = 6000,
  seed: int = 0,
  max_test: Optional[int] = None,
) -> dict:
  """Readout trained on the ground-truth factors themselves (optionally negated).

  Needs no images. Returns the score dict of the test split (or a fixed random subset).
  """
  spec = datasets.get_spec(name)
  split = splits.make_split(name, variant)
  ytr = datasets.normalize_factors(
    spec.factor_sizes, datasets.index_to_factors(spec.factor_sizes, split.train)
  )
  test_idx = split.test
  if max_test is not None and max_test < len(test_idx):
    rng = prng.numpy_rng(seed, "oracle/test_subset")
    test_idx = np.sort(rng.choice(test_idx, max_test, replace=False))
  yte = datasets.normalize_factors(
    spec.factor_sizes, datasets.index_to_factors(spec.factor_sizes, test_idx)
  )
  sgn = -1.0 if sign_flip else 1.0
  predict = fit(sgn * ytr, ytr, steps=steps, seed=seed)
  return metrics.score_dict(
    yte, predict(sgn * yte), spec.factor_names, datasets.grid_variance(spec.factor_sizes)
  )
