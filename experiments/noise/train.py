"""Noise-training experiments: the MNIST study (spec 8.2/8.4), the sigma sweep (8.3), ImageNet.

Every part of a run writes into its own sub-folder and is skipped when finished, so an
interrupted run restarted with the same workdir resumes:
  DIR/seed_<s>/pretrain/            vanilla start point (loop checkpoints)
  DIR/seed_<s>/<arm>/               fine-tuning run (loop checkpoints) + eval.json
  DIR/seed_<s>/mnist_c.npz          the fixed corrupted test set of this seed
  DIR/reports/<arm>_seed<s>.{json,md}  per-model reports (spec 6.2 layout)
  DIR/plots/*.png, DIR/summary.md   aggregated figures and tables
"""
from __future__ import annotations

import os
import time
from typing import Dict, List

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from rvl_jax.core import experiment
from rvl_jax.core import io as rio
from rvl_jax.core import loop
from rvl_jax.data import batching
from rvl_jax.data.mnist import load_mnist
from rvl_jax.noise import adversarial, ant, evaluation, generators, gnt, models, reports, training
from rvl_jax.noise.corruptions import imagenet_c, materialize, mnist_c

ARMS = {
    'vanilla': ('noise', 'clean'),
    'gnt': ('noise', 'gaussian'),
    'gnt_mult': ('noise', 'gaussian_mult'),
    'speckle': ('noise', 'speckle'),
    'ant1x1': ('ant', '1x1'),
    'ant3x3': ('ant', '3x3'),
    'ant1x1_no_replay': ('ant', '1x1'),
}
_LF_CACHE = {}
NOISE_EVAL = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'speckle_noise')


def _data(config):
  d = load_mnist(config.data_source, data_dir=config.data_dir or None)
  xtr, ytr, xte, yte = d.train_images, d.train_labels, d.test_images, d.test_labels
  # The splits are class-ordered: subsets are drawn with a fixed permutation and kept shuffled.
  rng = np.random.default_rng(12345)
  ptr = rng.permutation(len(xtr))[:config.train_size or None]
  pte = rng.permutation(len(xte))[:config.test_size or None]
  xtr, ytr, xte, yte = xtr[ptr], ytr[ptr], xte[pte], yte[pte]
  return xtr, ytr, xte, yte, d.source


def _batch_fn(x, y, batch_size, seed):
  def get_batch(step):
    idx = batching.epoch_step_indices(len(x), batch_size, seed, step)
    return {'image': x[idx], 'label': y[idx]}
  return get_batch


def _sigma_arm(arm: str):
  if arm.startswith('gnt_sigma_'):
    return float(arm[len('gnt_sigma_'):])
  return None


def _train_arm(config, arm, model, params0, data, seed, eps, wd):
  xtr, ytr = data[0], data[1]
  steps_per_epoch = len(xtr) // config.batch_size
  num_steps = config.finetune_epochs * steps_per_epoch
  sched = training.step_decay_schedule(config.finetune_lr, num_steps,
                                       int(round(config.decay_fraction * num_steps)))
  tx = training.sgd_momentum(sched)
  get_batch = _batch_fn(xtr, ytr, config.batch_size, seed + 1000)
  key = jax.random.PRNGKey(seed * 7919 + 17)
  sigma = _sigma_arm(arm)
  if sigma is not None:
    kind, mode = 'noise', ('clean' if sigma == 0 else 'gaussian')
  else:
    kind, mode = ARMS[arm]
  if kind == 'noise':
    state = training.create_state(model, params0, None, tx, key)
    step = training.make_noise_train_step(model, mode, sigma=sigma if sigma else config.sigma)
    res = loop.train(state=state, train_step=step, get_batch=get_batch, num_steps=num_steps,
                     workdir=wd, log_every=config.log_every, checkpoint_every=num_steps,
                     desc=f'seed{seed} {arm}')
    return res.state.params, {'train_steps': num_steps, **{f'train/{k}': v for k, v in res.metrics.items()}}
  spec = generators.GeneratorSpec(channels=xtr.shape[-1], kind=mode)
  arm_eps = eps * (config.ant.eps3x3_factor if mode == '3x3' else 1.0)
  split = ant.NO_REPLAY_SPLIT if arm.endswith('no_replay') else ant.SPLIT_PRESETS[config.ant.split]
  acfg = ant.AntConfig(eps=arm_eps, num_steps=num_steps,
                       restart_every=config.ant.restart_every_epochs * steps_per_epoch,
                       restart_steps=config.ant.restart_steps, restart_lr=config.ant.restart_lr,
                       gen_lr=config.ant.gen_lr, split=split, capacity=config.ant.capacity,
                       first_replay_step=steps_per_epoch, log_every=config.log_every)
  state, hist = ant.run_ant(model=model, params=params0, batch_stats=None, classifier_tx=tx,
                            gen_spec=spec, config=acfg, get_batch=get_batch, key=key, workdir=wd,
                            desc=f'seed{seed} {arm}')
  last = [h for h in hist if 'loss' in h]
  restarts = [h for h in hist if 'restart/fooling_rate' in h]
  info = {'train_steps': num_steps, 'eps': arm_eps}
  if last:
    info.update({f'train/{k}': v for k, v in last[-1].items() if k != 'step'})
  if restarts:
    info['restart_fooling_rate_last'] = restarts[-1]['restart/fooling_rate']
  return state.params, info


def _gen_noise_fn(spec):
  if spec not in _GEN_FNS:
    _GEN_FNS[spec] = lambda gp, k, shape: generators.generate_noise(spec, gp, k, shape)
  return _GEN_FNS[spec]


_GEN_FNS = {}


def _eps_star(config, model, params, xte, yte, seed, wd, data):
  apply = models.inference_fn(model)
  lf = lambda p, x: apply(p, None, x)  # noqa: E731
  lf = _LF_CACHE.setdefault(model, lf)
  n = min(config.eval.eps_star_images, len(xte))
  x, y = xte[:n], yte[:n]
  key = jax.random.PRNGKey(seed + 555)
  out = {}
  for d in ('gaussian', 'uniform'):
    r = evaluation.epsilon_star(lf, x, y, d, key=jax.random.fold_in(key, len(d)), params=params,
                                bisection_steps=config.eval.bisection_steps)
    out[f'eps_star_{d}'] = r['eps_star']
  spec = generators.GeneratorSpec(channels=x.shape[-1], kind='1x1')
  xtr, ytr = data[0], data[1]
  vals = []
  eps_an = config.ant.eps or gnt.epsilon_for_sigma(xtr, config.sigma)
  for s in range(config.eval.eps_star_an_seeds):
    gp, met = ant.train_fresh_generator(
        model=model, clf_params=params, clf_batch_stats=None, gen_spec=spec, eps=eps_an,
        get_batch=_batch_fn(xtr, ytr, config.batch_size, seed + 3000 + s),
        num_steps=config.eval.an_generator_steps, key=jax.random.PRNGKey(seed * 100 + s + 9),
        lr=config.ant.restart_lr, workdir=os.path.join(wd, f'eps_star_generator_{s}'),
        log_every=config.log_every, desc=f'eps* generator {s}')
    r = evaluation.epsilon_star(lf, x, y, 'generator', key=jax.random.fold_in(key, 100 + s),
                                noise_fn=_gen_noise_fn(spec), params=params, noise_params=gp,
                                bisection_steps=config.eval.bisection_steps)
    vals.append(r['eps_star'])
  out['eps_star_adversarial'] = float(np.mean(vals))
  out['eps_star_adversarial_std'] = float(np.std(vals))
  # Diagnostic ceiling of image-independent noise on dark-background digits: the constant
  # direction -1 (clip(x - eta) erases the strokes) reaches the blank image at distance ||x||,
  # so no classifier can have eps*_AN much above median ||x|| (spec 9 A8 discussion in docs).
  r = evaluation.epsilon_star(lf, x, y, 'generator', key=key, noise_fn=_erase_direction,
                              params=params, bisection_steps=config.eval.bisection_steps)
  out['eps_star_erase'] = r['eps_star']
  out['median_image_norm'] = float(np.median(np.sqrt(np.sum(np.square(x.reshape(n, -1)), axis=1))))
  return out


def _erase_direction(key, shape):
  del key
  return -jnp.ones(shape, jnp.float32)


def _evaluate_arm(config, arm, model, params, data, corrupted, noise_sets, seed, wd):
  xtr, ytr, xte, yte = data[:4]
  lf = models.logits_fn(model, params)
  bs = config.eval.batch_size
  clean = evaluation.evaluate_arrays(lf, xte, yte, bs)
  top1 = {n: evaluation.evaluate_arrays(lf, corrupted[n][1], yte, bs)['top1'] for n in mnist_c.ORDER}
  top5 = {}
  res = {'clean_top1': clean['top1'], 'clean_top5': clean['top5'],
         'mnist_c_mean': float(np.mean(list(top1.values()))), 'mnist_c': top1}
  summary = evaluation.summarize_corruption_table(top1, None, clean_top1=clean['top1'],
                                                  clean_top5=clean['top5'], baseline_errors=None,
                                                  noise_corruptions=('shot_noise', 'impulse_noise'))
  if noise_sets:
    r = evaluation.evaluate_corrupted_sets(lf, {n: [noise_sets[n][s] for s in sorted(noise_sets[n])]
                                                for n in noise_sets}, yte, bs)
    res['noise_top1'] = r['top1']
    res['noise_top5'] = r['top5']
    top5 = r['top5']
  if arm in config.eval.eps_star_arms:
    res.update(_eps_star(config, model, params, xte, yte, seed, wd, data))
  if config.eval.adversarial and adversarial.attacks_available():
    n = min(config.eval.adversarial_images, len(xte))
    try:
      res['adversarial'] = adversarial.adversarial_accuracy(
          models.logits_fn(model, params), xte[:n], yte[:n],
          key=jax.random.PRNGKey(seed + 77), budget='mnist',
          n_iter_scale=config.eval.adversarial_iter_scale)
    except Exception as e:  # the attack suite is developed alongside; never fail the study
      logging.warning('adversarial evaluation failed: %s', e)
      res['adversarial_error'] = repr(e)
  del top5
  return res, summary


def _pretrain(config, model, data, seed, wd):
  xtr, ytr = data[0], data[1]
  params, _ = models.init_model(model, jax.random.PRNGKey(seed), xtr.shape[1:])
  steps = config.pretrain_epochs * (len(xtr) // config.batch_size)
  state = training.create_state(model, params, None, optax.adam(config.pretrain_lr),
                                jax.random.PRNGKey(seed + 1))
  res = loop.train(state=state, train_step=training.make_noise_train_step(model, 'clean'),
                   get_batch=_batch_fn(xtr, ytr, config.batch_size, seed), num_steps=steps,
                   workdir=wd, log_every=config.log_every, checkpoint_every=steps,
                   desc=f'seed{seed} pretrain')
  return jax.device_get(res.state.params)


def run_arms(config, workdir: str, arms) -> Dict[str, List[Dict]]:
  """Pretrains per seed, fine-tunes every arm, evaluates; returns {arm: [result per seed]}."""
  data = _data(config)
  xtr, ytr, xte, yte, source = data
  model = models.build_model(config.model)
  eps = config.ant.eps or gnt.epsilon_for_sigma(xtr, config.sigma)
  logging.info('data %s: %d train / %d test; eps(sigma=%.2f) = %.3f', source, len(xtr), len(xte),
               config.sigma, eps)
  results: Dict[str, List[Dict]] = {a: [] for a in arms}
  for seed in config.seeds:
    sdir = os.path.join(workdir, f'seed_{seed}')
    os.makedirs(sdir, exist_ok=True)
    t0 = time.time()
    corrupted = materialize.materialize_mnist_c(xte, yte, seed, os.path.join(sdir, 'mnist_c.npz'))
    noise_sets = None
    if config.eval.noise_severities:
      path = os.path.join(sdir, 'noise_severities.npz')
      if os.path.exists(path):
        noise_sets = materialize.load_corrupted(path)[0]
      else:
        noise_sets = materialize.corrupt_dataset(xte, imagenet_c.ALL_CORRUPTIONS, seed=seed,
                                                 names=NOISE_EVAL, show_progress=False)
        materialize.save_corrupted(path, noise_sets, yte)
        noise_sets = materialize.load_corrupted(path)[0]
    logging.info('seed %d: corrupted test sets ready (%.1fs)', seed, time.time() - t0)
    params0 = None
    for arm in arms:
      adir = os.path.join(sdir, arm)
      done = os.path.join(adir, 'eval.json')
      if os.path.exists(done):
        results[arm].append(rio.read_json(done))
        continue
      if params0 is None:
        params0 = _pretrain(config, model, data, seed, os.path.join(sdir, 'pretrain'))
      t0 = time.time()
      params, info = _train_arm(config, arm, model, params0, data, seed, eps, adir)
      t_train = time.time() - t0
      res, summary = _evaluate_arm(config, arm, model, params, data, corrupted, noise_sets, seed, adir)
      res.update(info)
      res.update({'seed': seed, 'arm': arm, 'train_seconds': t_train,
                  'eval_seconds': time.time() - t0 - t_train})
      reports.write_model_report(os.path.join(workdir, 'reports'), f'{arm}_seed{seed}', summary,
                                 extra={k: v for k, v in res.items() if k != 'mnist_c'})
      rio.write_json(done, res)
      results[arm].append(res)
      logging.info('seed %d %s: clean %.2f MNIST-C %.2f (%.0fs)', seed, arm, res['clean_top1'],
                   res['mnist_c_mean'], time.time() - t0)
  return results


def _mean_std(vals):
  vals = [v for v in vals if v is not None]
  return (float(np.mean(vals)), float(np.std(vals))) if vals else (float('nan'), float('nan'))


def aggregate(results, config) -> Dict:
  """Mean/std over seeds and the A7/A8 checks (spec 9)."""
  out = {}
  for arm, rows in results.items():
    if not rows:
      continue
    for key in ('clean_top1', 'mnist_c_mean', 'eps_star_gaussian', 'eps_star_uniform',
                'eps_star_adversarial', 'eps_star_erase', 'median_image_norm'):
      vals = [r.get(key) for r in rows]
      if any(v is not None for v in vals):
        m, s = _mean_std(vals)
        out[f'{arm}/{key}_mean'], out[f'{arm}/{key}_std'] = m, s
    for c in mnist_c.ORDER:
      out[f'{arm}/mnist_c/{c}'] = float(np.mean([r['mnist_c'][c] for r in rows]))
    if all('adversarial' in r for r in rows):
      for k in ('linf', 'l2'):
        out[f'{arm}/adversarial_{k}_mean'] = float(np.mean([r['adversarial'][k] for r in rows]))
  if 'vanilla' in results and results['vanilla']:
    van = {r['seed']: r for r in results['vanilla']}
    for arm in ('gnt', 'ant1x1'):
      if arm not in results or not results[arm]:
        continue
      rows = results[arm]
      d_clean = np.mean([r['clean_top1'] - van[r['seed']]['clean_top1'] for r in rows])
      gains = [r['mnist_c_mean'] - van[r['seed']]['mnist_c_mean'] for r in rows]
      out[f'A7/{arm}/clean_diff'] = float(d_clean)
      out[f'A7/{arm}/mnist_c_gain_mean'] = float(np.mean(gains))
      out[f'A7/{arm}/mnist_c_gain_min'] = float(np.min(gains))
      trans = np.mean([r['mnist_c']['translate'] - van[r['seed']]['mnist_c']['translate'] for r in rows])
      out[f'A7/{arm}/translate_change'] = float(trans)
      out[f'A7/{arm}/pass'] = bool(abs(d_clean) <= 1.0 and np.mean(gains) >= 3.0 and min(gains) > 0)
    if all(f'{a}/eps_star_gaussian_mean' in out for a in ('vanilla', 'gnt', 'ant1x1')):
      v = out['vanilla/eps_star_gaussian_mean']
      out['A8/gnt_gn_ratio'] = out['gnt/eps_star_gaussian_mean'] / v
      out['A8/ant_gn_ratio'] = out['ant1x1/eps_star_gaussian_mean'] / v
      out['A8/ant_over_gnt_an_ratio'] = (out['ant1x1/eps_star_adversarial_mean']
                                         / out['gnt/eps_star_adversarial_mean'])
      if 'ant1x1/eps_star_erase_mean' in out:
        # Largest ant/gnt eps*_AN ratio the erasure ceiling leaves room for (informative).
        out['A8/ant_over_gnt_an_ceiling'] = (max(out['ant1x1/eps_star_erase_mean'],
                                                 out['ant1x1/median_image_norm_mean'])
                                             / out['gnt/eps_star_adversarial_mean'])
      out['A8/pass'] = bool(out['A8/gnt_gn_ratio'] >= 1.5 and out['A8/ant_gn_ratio'] >= 1.5
                            and out['A8/ant_over_gnt_an_ratio'] >= 1.5)
  return out


def _plots(results, agg, workdir):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  pdir = experiment.plots_dir(workdir)
  arms = [a for a in results if results[a]]
  fig, ax = plt.subplots(figsize=(12, 4))
  w = 0.8 / max(len(arms), 1)
  for i, arm in enumerate(arms):
    vals = [agg[f'{arm}/mnist_c/{c}'] for c in mnist_c.ORDER]
    ax.bar(np.arange(len(vals)) + i * w, vals, w, label=arm)
  ax.set_xticks(np.arange(len(mnist_c.ORDER)) + 0.4 - w / 2)
  ax.set_xticklabels(mnist_c.ORDER, rotation=45, ha='right')
  ax.set_ylabel('top-1 accuracy (%)')
  ax.set_title('MNIST-C accuracy per corruption (mean over seeds)')
  ax.legend(fontsize=8)
  fig.tight_layout()
  rio.save_figure(fig, os.path.join(pdir, 'mnist_c_per_corruption.png'))
  eps_arms = [a for a in arms if f'{a}/eps_star_gaussian_mean' in agg]
  if eps_arms:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    kinds = ('gaussian', 'uniform', 'adversarial')
    for i, k in enumerate(kinds):
      ax.bar(np.arange(len(eps_arms)) + i * 0.27, [agg[f'{a}/eps_star_{k}_mean'] for a in eps_arms],
             0.27, yerr=[agg[f'{a}/eps_star_{k}_std'] for a in eps_arms], label=f'eps* {k}')
    ax.set_xticks(np.arange(len(eps_arms)) + 0.27)
    ax.set_xticklabels(eps_arms)
    ax.set_ylabel('median L2 distance')
    ax.legend(fontsize=8)
    fig.tight_layout()
    rio.save_figure(fig, os.path.join(pdir, 'eps_star.png'))


def summary_markdown(results, agg, config) -> str:
  arms = [a for a in results if results[a]]
  lines = [f'seeds: {list(config.seeds)}; model {config.model}; batch {config.batch_size}; '
           f'pretrain {config.pretrain_epochs} ep, fine-tune {config.finetune_epochs} ep', '',
           '| arm | clean top-1 | MNIST-C mean | eps*_GN | eps*_UN | eps*_AN | eps*_erase |',
           '|---|---|---|---|---|---|---|']
  for a in arms:
    def cell(k, a=a):
      m = agg.get(f'{a}/{k}_mean')
      s = agg.get(f'{a}/{k}_std')
      return '' if m is None else f'{m:.2f} ± {s:.2f}'
    lines.append(f'| {a} | {cell("clean_top1")} | {cell("mnist_c_mean")} | {cell("eps_star_gaussian")} | '
                 f'{cell("eps_star_uniform")} | {cell("eps_star_adversarial")} | '
                 f'{cell("eps_star_erase")} |')
  lines += ['', '| arm | ' + ' | '.join(c.replace('_', ' ') for c in mnist_c.ORDER) + ' |',
            '|---' * (len(mnist_c.ORDER) + 1) + '|']
  for a in arms:
    lines.append(f'| {a} | ' + ' | '.join(f"{agg[f'{a}/mnist_c/{c}']:.1f}" for c in mnist_c.ORDER) + ' |')
  adv = [a for a in arms if f'{a}/adversarial_linf_mean' in agg]
  if adv:
    lines += ['', '| arm | L-inf PGD acc (eps 0.1) | L2 acc (eps 1.5) |', '|---|---|---|']
    for a in adv:
      lines.append(f"| {a} | {agg[f'{a}/adversarial_linf_mean']:.1f} | {agg[f'{a}/adversarial_l2_mean']:.1f} |")
  checks = {k: v for k, v in agg.items() if k.startswith(('A7', 'A8'))}
  if checks:
    lines += ['', '| check | value |', '|---|---|']
    lines += [f'| {k} | {v:.3f} |' if isinstance(v, float) else f'| {k} | {v} |' for k, v in checks.items()]
  return '\n'.join(lines) + '\n'


def run_study(config, workdir: str) -> Dict:
  results = run_arms(config, workdir, list(config.arms))
  agg = aggregate(results, config)
  _plots(results, agg, workdir)
  md = summary_markdown(results, agg, config)
  with rio.atomic_write(os.path.join(workdir, 'summary.md'), 'w') as f:
    f.write(md)
  return agg


def run_sigma_sweep(config, workdir: str) -> Dict:
  arms = ['gnt_sigma_%g' % s for s in config.sweep_sigmas]
  results = run_arms(config, workdir, arms)
  out = {}
  for arm, rows in results.items():
    s = _sigma_arm(arm)
    out[f'sigma_{s:g}/mnist_c_mean'] = float(np.mean([r['mnist_c_mean'] for r in rows]))
    out[f'sigma_{s:g}/clean_top1'] = float(np.mean([r['clean_top1'] for r in rows]))
    out[f'sigma_{s:g}/mnist_c_without_noise'] = float(np.mean(
        [np.mean([v for c, v in r['mnist_c'].items() if c not in ('shot_noise', 'impulse_noise')])
         for r in rows]))
  sig = [float(s) for s in config.sweep_sigmas]
  acc = [out[f'sigma_{s:g}/mnist_c_mean'] for s in sig]
  out['peak_sigma'] = sig[int(np.argmax(acc))]
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(sig, acc, 'o-', label='MNIST-C mean')
  ax.plot(sig, [out[f'sigma_{s:g}/mnist_c_without_noise'] for s in sig], 's--', label='w/o noise')
  for s in gnt.GAUSS_MULT_SIGMAS:
    ax.axvline(s, color='gray', lw=0.5, ls=':')
  ax.set_xlabel('GNT sigma')
  ax.set_ylabel('accuracy (%)')
  ax.legend()
  fig.tight_layout()
  rio.save_figure(fig, os.path.join(experiment.plots_dir(workdir), 'sigma_sweep.png'))
  return out


def train_and_evaluate(config, workdir: str) -> Dict:
  if config.experiment == 'mnist_study':
    return run_study(config, workdir)
  if config.experiment == 'sigma_sweep':
    return run_sigma_sweep(config, workdir)
  if config.experiment == 'imagenet':
    from experiments.noise import imagenet
    return imagenet.train_and_evaluate(config, workdir)
  raise ValueError(f"argument 'config.experiment': expected 'mnist_study', 'sigma_sweep' or "
                   f"'imagenet', got {config.experiment!r}")
