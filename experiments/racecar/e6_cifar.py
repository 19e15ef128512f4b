"""E6 (CIFAR-10 -> CIFAR-100 transfer, VGG-style 13-conv chain, full RR) and E7 (ResNet-110 v1/v2 with
layer-wise RR, CIFAR-10.1 evaluation). On CPU the default runs on a generated stand-in (class-dependent
oriented colour gratings + noise, 32x32x3); real data via tfds / .npz (`config.data_source`).

Protocol: stage 1 with the regulariser -> stage 2 fine-tune without it on task A -> transfer to task B
loading everything but the last layer (new head), plus a from-scratch baseline on B (`std_B-fs`).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.racecar import common, models
from rvl_jax.core import batched, loop, train_state
from rvl_jax.racecar import data, ortho, residual
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig, cross_entropy, accuracy


def standin(num_classes: int, n: int, seed: int, size: int = 32):
  """Offline stand-in: each class = an orientation/frequency/colour of a grating, plus noise."""
  rng = np.random.default_rng(seed)
  y = rng.integers(0, num_classes, n)
  yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing='ij')
  ang = np.pi * y / num_classes + rng.normal(0, 0.05, n)
  freq = 0.3 + 0.4 * ((y * 7) % num_classes) / num_classes
  phase = rng.uniform(0, 2 * np.pi, n)
  g = np.sin(freq[:, None, None] * (np.cos(ang)[:, None, None] * xx + np.sin(ang)[:, None, None] * yy)
             + phase[:, None, None])
  col = np.stack([(y * 3 % num_classes), (y * 5 % num_classes), (y * 11 % num_classes)], 1) / num_classes
  x = 0.5 + 0.25 * g[..., None] * (0.5 + col[:, None, None, :]) + rng.normal(0, 0.1, (n, size, size, 3))
  return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int32)


def load_task(c, which):
  classes = c.classes_a if which == 'A' else c.classes_b
  if c.data_source == 'standin':
    xtr, ytr = standin(classes, c.standin_train, 1 if which == 'A' else 2)
    xte, yte = standin(classes, c.standin_test, 11 if which == 'A' else 12)
    return xtr, ytr, xte, yte
  d = data.load_cifar('cifar10' if which == 'A' else 'cifar100', c.data_source,
                      c.get(f'path_{which.lower()}', '') or None, c.data_dir or None)
  return d['train_images'], d['train_labels'], d['test_images'], d['test_labels']


# ---------------------------------------------------------------------------------- ResNet (E7) step

def make_resnet_step(reg: RegConfig, c):
  lrr = reg.method in ('rr', 'lrr')

  def step(state, batch):
    state, key = state.next_rng()

    def loss_fn(params):
      (logits, pairs), upd = state.apply_fn({'params': params, 'batch_stats': state.batch_stats}, batch['x'],
                                            train=True, racecar=lrr, output_activation=reg.output_activation,
                                            mutable=['batch_stats'])
      task = cross_entropy(logits, batch['y'])
      pen = 0.0
      if lrr:
        pen = residual.layerwise_pairs_loss(pairs, reg.lam, reg.reduction)
      elif reg.method == 'ort':
        pen = ortho.srip_penalty(params, key, reg.ort_beta)
      return task + pen, (task, logits, upd['batch_stats'])

    (loss, (task, logits, bs)), g = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(g, batch_stats=bs), {'loss': loss, 'task_loss': task,
                                                      'accuracy': accuracy(logits, batch['y'])}
  return step


def _model(c, num_classes):
  if c.experiment == 'e7':
    return residual.RacecarResNet(version=c.resnet_version, depth=c.depth, num_classes=num_classes,
                                  width=c.width)
  return models.vgg_cifar(tuple(c.widths), tuple(c.convs_per_stage), num_classes, c.hidden)


def _init(model, c, x, seed):
  if c.experiment == 'e7':
    v = model.init(jax.random.PRNGKey(seed), jnp.asarray(x), train=False, racecar=True)
  else:
    v = model.init(jax.random.PRNGKey(seed), jnp.asarray(x), train=False, reverse=ReverseConfig())
  return v


def _predict(state, c):
  if c.experiment == 'e7':
    f = lambda x: state.apply_fn({'params': state.params, 'batch_stats': state.batch_stats}, x, train=False)[0]
  else:
    f = lambda x: state.apply_fn({'params': state.params, 'batch_stats': state.batch_stats}, x, train=False).out
  return jax.jit(f)


def _reverse_rel_error(state, c, x):
  """||x' - x|| / ||x|| in eval mode: of d'_1 for the chain (E6); over all layer-wise units together for the
  ResNet (E7)."""
  v = {'params': state.params, 'batch_stats': state.batch_stats}
  if c.experiment == 'e7':
    _, pairs = state.apply_fn(v, x, train=False, racecar=True, output_activation=c.output_activation)
  else:
    out = state.apply_fn(v, x, train=False, reverse=ReverseConfig(output_activation=c.output_activation))
    pairs = [(x, out.recons[0])]
  err = sum(float(jnp.sum(jnp.square(r - t))) for t, r in pairs)
  return float(np.sqrt(err / sum(float(jnp.sum(jnp.square(t))) for t, _ in pairs)))


def _acc(state, c, x, y):
  logits = batched.batched_apply(_predict(state, c), x, c.eval_batch_size)
  return float(np.mean(logits.argmax(-1) == y))


def _phase(state, reg, c, x, y, steps, workdir, name, seed):
  if c.experiment == 'e7':
    step = make_resnet_step(reg, c)
    return loop.train(state=state, train_step=step, get_batch=common.minibatches(x, y, c.batch_size, seed),
                      num_steps=steps, workdir=os.path.join(workdir, name), log_every=c.log_every,
                      checkpoint_every=c.checkpoint_every, desc=name)
  return common.run_phase(state, reg, common.minibatches(x, y, c.batch_size, seed), steps, workdir, name, c)


def train_and_evaluate(c, workdir: str) -> dict:
  xa, ya, xat, yat = load_task(c, 'A')
  xb, yb, xbt, ybt = load_task(c, 'B')
  results = {'data_source': c.data_source}
  std = RegConfig('std')
  for seed in c.seeds:
    for method in c.methods:
      model = _model(c, c.classes_a)
      v = _init(model, c, xa[:2], seed)
      st = train_state.TrainState.create(apply_fn=model.apply, params=v['params'], tx=optax.adam(c.learning_rate),
                                         rng=jax.random.PRNGKey(seed), batch_stats=v['batch_stats'])
      reg = common.reg_from_config(method, c)
      r = _phase(st, reg, c, xa, ya, c.num_steps, workdir, f'{method}_a_s{seed}', seed)
      results[f'{method}_a_s{seed}/test_acc'] = _acc(r.state, c, xat, yat)
      results[f'{method}_a_s{seed}/recon_rel_error'] = _reverse_rel_error(r.state, c, jnp.asarray(xat[:64]))
      s2 = r.state.replace(opt_state=r.state.tx.init(r.state.params), step=jnp.zeros((), jnp.int32))
      r2 = _phase(s2, std, c, xa, ya, c.finetune_steps, workdir, f'{method}_A_s{seed}', seed + 1)
      results[f'{method}_A_s{seed}/test_acc'] = _acc(r2.state, c, xat, yat)
      if c.get('cifar10_1_path', ''):
        d101 = data.load_cifar10_1(c.cifar10_1_path)
        results[f'{method}_A_s{seed}/cifar10_1_acc'] = _acc(r2.state, c, d101['images'], d101['labels'])
      # transfer: everything but the last layer, new head for task B
      mb = _model(c, c.classes_b)
      vb = _init(mb, c, xb[:2], seed + 50)
      pb = dict(r2.state.params)
      last = 'head' if c.experiment == 'e7' else f'head{len(c.get("head_layers", (c.hidden, 0))) - 1}'
      pb[last] = vb['params'][last]
      sb = train_state.TrainState.create(apply_fn=mb.apply, params=pb, tx=optax.adam(c.learning_rate),
                                         rng=jax.random.PRNGKey(seed + 2), batch_stats=r2.state.batch_stats)
      r3 = _phase(sb, std, c, xb, yb, c.finetune_steps, workdir, f'{method}_B_s{seed}', seed + 2)
      results[f'{method}_B_s{seed}/test_acc'] = _acc(r3.state, c, xbt, ybt)
    mb = _model(c, c.classes_b)
    vb = _init(mb, c, xb[:2], seed + 60)
    sb = train_state.TrainState.create(apply_fn=mb.apply, params=vb['params'], tx=optax.adam(c.learning_rate),
                                       rng=jax.random.PRNGKey(seed + 3), batch_stats=vb['batch_stats'])
    r = _phase(sb, std, c, xb, yb, c.num_steps + c.finetune_steps, workdir, f'std_B-fs_s{seed}', seed + 3)
    results[f'std_B-fs_s{seed}/test_acc'] = _acc(r.state, c, xbt, ybt)
  groups = {}
  for k, v in list(results.items()):
    if '/' in k:
      stem, seed = k.split('/')[0].rsplit('_s', 1)
      groups.setdefault(f'{stem}/{k.split("/", 1)[1]}', []).append(v)
  for k, vals in groups.items():
    results[f'{k}_mean'], results[f'{k}_std'] = float(np.mean(vals)), float(np.std(vals))
  return results
