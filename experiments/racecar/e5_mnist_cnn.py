"""E5 - MNIST CNN classification and n-MNIST-like transfer (the racecar paper, Sec. 5), two-stage protocol.

Stage 1 (with regulariser, `*_mni`): Std / Ort / RR on MNIST with the 3-conv CNN (all conv layers in the
full racecar loss with BN shift-by-one and max-pool <-> UP, output ReLU on d'_1; the FC head excluded).
Stage 2 (no regulariser): fine-tune on MNIST (`*_MNI`) and on the n-MNIST-like motion-blurred digits
(`*_n-MNI`); baseline `Std_n-MNI-fs` trained from scratch. Also reports s/step of stage 1 and the
reverse-pass reconstructions d'_1 (Fig. 19) with their relative error on 64 test digits.
"""
from __future__ import annotations

import dataclasses
import os

import jax.numpy as jnp
import numpy as np

from experiments.racecar import common, models
from rvl_jax.core import experiment
from rvl_jax.data import mnist
from rvl_jax.racecar import analysis, data
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig, apply_chain


def train_and_evaluate(c, workdir: str) -> dict:
  m = mnist.load_mnist(c.data_source, c.data_dir or None, c.test_fraction, c.seed)
  xtr, xte = m.train_images, m.test_images
  if c.max_train:
    xtr, ytr_i = xtr[:c.max_train], m.train_labels[:c.max_train]
  else:
    ytr_i = m.train_labels
  ytr, yte = np.eye(10, dtype=np.float32)[ytr_i], np.eye(10, dtype=np.float32)[m.test_labels]
  btr, bte = data.motion_blur(xtr, c.blur_length, c.blur_angle), data.motion_blur(xte, c.blur_length, c.blur_angle)
  model = models.mnist_cnn(tuple(c.channels))
  pd = experiment.plots_dir(workdir)
  results = {'data_source': m.source, 'num_train': len(xtr), 'num_test': len(xte),
             'n_mnist_note': 'n-MNIST-like motion blur (approximate parameters), not the real n-MNIST'}
  analysis.plot_images(np.concatenate([xte[:5], bte[:5]]), os.path.join(pd, 'mnist_vs_nmnist_like.png'),
                       title='MNIST (top) and n-MNIST-like (bottom)')
  std = RegConfig('std')
  recon_rows, recon_titles = [], []
  for method in c.methods:
    for seed in c.seeds:
      reg = common.reg_from_config(method, c)
      st = common.create_state(model, xtr[:2], seed, common.make_optimizer(c), reverse=ReverseConfig())
      get = common.minibatches(xtr, ytr, c.batch_size, seed)
      if method in ('rr', 'lrr', 'rr1') and c.lam_auto:
        lam = common.auto_lambda(st, reg, get(0), scale=c.lam_auto_scale)
        reg = dataclasses.replace(reg, lam=lam)
        results[f'{method}_s{seed}/lambda'] = lam
      r = common.run_phase(st, reg, get, c.num_steps, workdir, f'{method}_mni_s{seed}', c)
      results[f'{method}_mni_s{seed}/sec_per_step'] = 1.0 / r.steps_per_second if r.steps_per_second else float('nan')
      results[f'{method}_mni_s{seed}/test_acc'] = common.evaluate(r.state, xte, yte)
      st1 = r.state
      o, _ = apply_chain(st1, st1.params, jnp.asarray(xte[:64]), False,
                         ReverseConfig(output_activation=c.output_activation))
      results[f'{method}_mni_s{seed}/recon_rel_error'] = analysis.relative_error(o.recons[0], xte[:64])
      if seed == c.seeds[0]:
        recon_rows.append(np.asarray(o.recons[0][:6]))
        recon_titles += [f'{method}'] * 6
      for task, (xa, ya, xb, yb) in (('MNI', (xtr, ytr, xte, yte)), ('n-MNI', (btr, ytr, bte, yte))):
        s2 = st1.replace(opt_state=st1.tx.init(st1.params), step=jnp.zeros((), jnp.int32))
        r2 = common.run_phase(s2, std, common.minibatches(xa, ya, c.batch_size, seed + 1), c.finetune_steps,
                              workdir, f'{method}_{task}_s{seed}', c)
        results[f'{method}_{task}_s{seed}/test_acc'] = common.evaluate(r2.state, xb, yb)
  for seed in c.seeds:
    st = common.create_state(model, xtr[:2], seed + 100, common.make_optimizer(c))
    r = common.run_phase(st, std, common.minibatches(btr, ytr, c.batch_size, seed + 1),
                         c.num_steps + c.finetune_steps, workdir, f'std_n-MNI-fs_s{seed}', c)
    results[f'std_n-MNI-fs_s{seed}/test_acc'] = common.evaluate(r.state, bte, yte)
  groups = {}
  for k in list(results):
    if '/' in k and '_s' in k.split('/')[0]:
      stem, seed = k.split('/')[0].rsplit('_s', 1)
      if seed.isdigit():
        groups.setdefault((stem, k.split('/', 1)[1]), []).append(results[k])
  for (stem, metric), vals in groups.items():
    results[f'{stem}/{metric}_mean'] = float(np.mean(vals))
    results[f'{stem}/{metric}_std'] = float(np.std(vals))
  if 'std' in c.methods and 'rr' in c.methods:
    results['rr_over_std_sec_per_step'] = results['rr_mni/sec_per_step_mean'] / results['std_mni/sec_per_step_mean']
  analysis.plot_images(np.concatenate([xte[:6]] + recon_rows), os.path.join(pd, 'reconstructions_d1.png'),
                       ['d1'] * 6 + recon_titles, "E5: test digits and the reverse-pass d'_1 per method")
  return results
