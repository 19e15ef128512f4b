"""Shared pieces of the racecar experiments: state creation and one training phase through
`rvl_jax.core.loop.train`."""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import loop, train_state
from rvl_jax.racecar import training
from rvl_jax.racecar.training import RegConfig


def reg_from_config(method: str, c) -> RegConfig:
  """RegConfig of `method` ('std', 'ort', 'rr', 'lrr', 'rr1', 'ort_frob') from config fields."""
  return RegConfig(
      method=method, lam=float(c.lam) if method != 'std' else 0.0, reduction=c.get('reduction', 'half_sum'),
      output_activation=c.get('output_activation', None) or None, source=c.get('reverse_source', 'activated'),
      reverse_updates_bn_stats=c.get('reverse_updates_bn_stats', False), ort_beta=c.get('ort_beta', 0.1),
      ort_power_iters=c.get('ort_power_iters', 1), ort_squared=c.get('ort_squared', True),
      double_softmax=c.get('double_softmax', False))


def make_optimizer(c):
  name = c.get('optimizer', 'adam')
  if name == 'adam':
    return optax.adam(c.learning_rate)
  if name == 'sgd':
    return optax.sgd(c.learning_rate, momentum=0.9)
  raise ValueError(f"argument 'config.optimizer': expected 'adam' or 'sgd', got {name!r}")


def create_state(model, x_example, seed: int, tx, reverse=None, params=None):
  v = model.init(jax.random.PRNGKey(seed), jnp.asarray(x_example), train=False, reverse=reverse)
  return train_state.TrainState.create(apply_fn=model.apply, params=params if params is not None else v['params'],
                                       tx=tx, rng=jax.random.PRNGKey(seed + 1000),
                                       batch_stats=v.get('batch_stats', None))


def run_phase(state, reg: RegConfig, get_batch: Callable[[int], Any], num_steps: int, workdir: Optional[str],
              name: str, c, eval_fn=None, task_loss: str = 'softmax_ce', logits_from: str = 'out',
              epoch_scan: bool = False):
  """One training phase into workdir/name (resumable). epoch_scan: one loop step = one epoch of
  optimizer steps in a lax.scan (get_batch then returns [B, K, ...] leaves)."""
  wd = os.path.join(workdir, name) if workdir else None
  step = training.make_train_step(reg, task_loss, logits_from)
  if epoch_scan:
    step = training.scan_steps(step)
  return loop.train(state=state, train_step=step, get_batch=get_batch,
                    num_steps=num_steps, workdir=wd, eval_fn=eval_fn, eval_every=c.get('eval_every', 0),
                    log_every=c.get('log_every', 100), checkpoint_every=c.get('checkpoint_every', num_steps),
                    desc=name)


def full_batch(x, y):
  xb, yb = np.asarray(x), np.asarray(y)
  return lambda step: {'x': xb, 'y': yb}


def minibatches(x, y, batch_size: int, seed: int):
  from rvl_jax.data import batching
  x, y = np.asarray(x), np.asarray(y)

  def get(step):
    idx = batching.sample_batch_indices(seed, step, len(x), batch_size)
    return {'x': x[idx], 'y': y[idx]}
  return get


def evaluate(state, x, y, batch_size: int = 1000):
  """Accuracy of the chain in eval mode."""
  pred = training.make_predict(state)
  from rvl_jax.core import batched
  logits = batched.batched_apply(pred, np.asarray(x), batch_size)
  yl = np.argmax(y, -1) if np.ndim(y) == 2 else np.asarray(y)
  return float(np.mean(np.argmax(logits, -1) == yl))


def epoch_stacks(x, y, batch_size: int, seed: int):
  """get_batch(epoch) -> {'x': [B, K, ...], 'y': [B, K, ...]}: one shuffled epoch of K full batches."""
  from rvl_jax.data import batching
  x, y = np.asarray(x), np.asarray(y)
  k = len(x) // batch_size

  def get(epoch):
    idx = np.stack(list(batching.epoch_batches(len(x), batch_size, seed, epoch)))  # [K, B]
    return {'x': np.swapaxes(x[idx], 0, 1), 'y': np.swapaxes(y[idx], 0, 1)}
  assert k >= 1, f"argument 'batch_size': expected <= {len(x)}, got {batch_size}"
  return get


def auto_lambda(state, reg: RegConfig, batch, logits_from: str = 'out', scale: float = 1.0) -> float:
  """[G] rule of spec 3.8: lambda such that lambda * L_racecar = scale * task loss at initialisation."""
  import dataclasses
  probe = dataclasses.replace(reg, lam=1.0)
  out, _ = training.apply_chain(state, state.params, jnp.asarray(batch['x']), True, probe.reverse)
  pred = out.linear_out if logits_from == 'linear' else out.out
  task = float(training.cross_entropy(pred, jnp.asarray(batch['y'])))
  rr, _ = training.rr_losses.racecar_loss(out.ds, out.recons, 1.0, probe.reverse.variant, reg.reduction)
  return scale * task / max(float(rr), 1e-30)


def add_seed_statistics(results: dict, per_seed) -> dict:
  """Adds '<key>_mean' and '<key>_std' over seeds for every key of the per-seed result dicts."""
  for key in per_seed[0]:
    vals = np.array([r[key] for r in per_seed], np.float64)
    results[f'{key}_mean'] = float(vals.mean())
    results[f'{key}_std'] = float(vals.std())
  return results
