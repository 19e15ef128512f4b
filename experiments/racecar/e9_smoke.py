"""E9 - racecar GAN super-resolution and autoencoder initialisation (spec sec. 9 E9), on stand-in data.

The mantaflow / ScalarFlow smoke data need local files (spec 8.5), so the default runs on the procedural
plume stand-in of :func:`rvl_jax.racecar.data.smoke_simulations` (hi-res frames and their 4x box-down-sampled
lo-res versions; 10 % of the frames for training, flip/rotation augmentation) and its tinted-RGB
"real smoke" variant :func:`rvl_jax.racecar.data.smoke_rgb`.

Task A: a fully convolutional generator G (lo -> hi; a racecar chain whose up-sampling layers are reversed
by average pooling), trained with a non-saturating GAN loss + a discriminator feature-space loss + L2. The
discriminator sees the hi-res image concatenated with the nearest-up-sampled lo-res input. Std_A vs RR_A
(every generator layer in the full racecar loss, ReLU on d'_1). Reported: test L2 of G and how well G's
reverse pass recovers the lo-res input (only RR should; Std gives a dark/blank image).

Task B1 (grey synthetic smoke autoencoder; encoder = G's reverse-pass architecture, decoder = G):
RR_AB1 initialises the decoder from RR_A's forward weights and the encoder from RR_A's reverse-pass
weights; Std_AB1 initialises only the decoder (encoder random), as in the paper; Std_AB1-both (Std_A
for both) and Std_B1 (from scratch) are extra baselines. Task B2 (RGB stand-in): only the decoder is
initialised, its last layer stacked x3 for RGB (RR_AB2, Std_AB2; Std_B2 from scratch; RR_AB2-both as
the paper's both-initialised ablation). Reported: test L2 (and MAE in 0-255 units for B2), the
relative L2 reduction of RR over Std, test-loss curves and reconstructions.
"""
from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.racecar import common
from rvl_jax.core import experiment, loop, train_state
from rvl_jax.racecar import analysis, data, losses, ops, transfer
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, conv_spec


def generator(c, out_channels: int = 1) -> RacecarChain:
  """[G] (the paper's tables are lost): conv -> (UP, conv) x log2(factor) -> conv to `out_channels`,
  ReLU everywhere (non-negative densities); no BN, so the reverse pass is a plain chain of adjoints."""
  ch = tuple(c.g_channels)
  n_up = int(np.log2(c.factor))
  if len(ch) != n_up + 1:
    raise ValueError(f"argument 'config.g_channels': expected {n_up + 1} widths for factor {c.factor}, "
                     f"got {len(ch)}")
  specs = [conv_spec(ch[0], 3)]
  specs += [conv_spec(ch[i + 1], 3, pool_before='up2') for i in range(n_up)]
  specs += [conv_spec(out_channels, 3, activation=c.g_out_activation)]
  return RacecarChain(tuple(specs))


class Discriminator(nn.Module):
  """Conditional discriminator: [hi, UP(lo)] -> strided convs -> logit; also returns its features."""
  channels: tuple = (16, 32)

  @nn.compact
  def __call__(self, hi, lo):
    f = hi.shape[1] // lo.shape[1]
    x = jnp.concatenate([hi, jnp.repeat(jnp.repeat(lo, f, 1), f, 2)], -1)
    feats = []
    for ch in self.channels:
      x = nn.leaky_relu(nn.Conv(ch, (4, 4), (2, 2))(x), 0.2)
      feats.append(x)
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0], feats


def augment(key, hi, lo):
  """Random horizontal flip and rotation by k*90 degrees, the same for the hi/lo pair of a sample."""
  kf, kr = jax.random.split(key)
  flip = jax.random.bernoulli(kf, 0.5, (hi.shape[0],))
  k = jax.random.randint(kr, (hi.shape[0],), 0, 4)

  def one(h, l, fl, kk):
    h = jnp.where(fl, h[:, ::-1], h)
    l = jnp.where(fl, l[:, ::-1], l)
    rot = lambda a: jax.lax.switch(kk, [lambda b: b] + [lambda b, r=r: jnp.rot90(b, r, (0, 1)) for r in (1, 2, 3)], a)
    return rot(h), rot(l)
  return jax.vmap(one)(hi, lo, flip, k)


# ------------------------------------------------------------------------------------------------
# task A: racecar GAN
# ------------------------------------------------------------------------------------------------

def make_gan_step(c, G, D, method):
  rev = ReverseConfig('full', output_activation='relu') if method == 'rr' else None

  def step(state, batch):
    state, key = state.next_rng()
    hi, lo = augment(key, batch['hi'], batch['lo'])

    def g_loss(pg, pd):
      out = G.apply({'params': pg}, lo, reverse=rev)
      fake = out.out
      logit, f_fake = D.apply({'params': pd}, fake, lo)
      _, f_real = D.apply({'params': pd}, hi, lo)
      adv = jnp.mean(jax.nn.softplus(-logit))
      feat = sum(jnp.mean(jnp.square(a - jax.lax.stop_gradient(b))) for a, b in zip(f_fake, f_real))
      l2 = jnp.mean(jnp.square(fake - hi))
      rr = 0.0
      if rev is not None:
        rr, _ = losses.racecar_loss(out.ds, out.recons, c.lam, 'full', c.reduction)
      total = c.w_adv * adv + c.w_feat * feat + c.w_l2 * l2 + rr
      return total, (adv, feat, l2, rr, fake)

    (_, (adv, feat, l2, rr, fake)), gg = jax.value_and_grad(g_loss, has_aux=True)(
        state.params['g'], state.params['d'])

    def d_loss(pd):
      real, _ = D.apply({'params': pd}, hi, lo)
      fk, _ = D.apply({'params': pd}, jax.lax.stop_gradient(fake), lo)
      return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fk))

    ld, gd = jax.value_and_grad(d_loss)(state.params['d'])
    state = state.apply_gradients({'g': gg, 'd': gd})
    return state, {'g_adv': adv, 'g_feat': feat, 'g_l2': l2, 'rr_loss': rr, 'd_loss': ld}
  return step


def gan_eval(G, params_g, lo, hi):
  """Test L2 of G and the reverse-pass recovery of the lo-res input (relative error, mean intensity)."""
  out = jax.jit(lambda p, x: G.apply({'params': p}, x, reverse=ReverseConfig('full', output_activation='relu')))(
      params_g, jnp.asarray(lo))
  fake, rec = np.asarray(out.out), np.asarray(out.recons[0])
  return {'test_l2': float(np.mean((fake - hi) ** 2)), 'reverse_rel_err': analysis.relative_error(rec, lo),
          'reverse_mean_intensity': float(rec.mean()), 'input_mean_intensity': float(np.mean(lo))}, fake, rec


def train_gan(c, G, D, method, seed, tr, workdir):
  hi, lo = tr
  kg, kd = jax.random.split(jax.random.PRNGKey(seed))
  pg = G.init(kg, jnp.asarray(lo[:2]), reverse=ReverseConfig('full'))['params']
  pd = D.init(kd, jnp.asarray(hi[:2]), jnp.asarray(lo[:2]))['params']
  st = train_state.TrainState.create(apply_fn=G.apply, params={'g': pg, 'd': pd},
                                     tx=optax.adam(c.learning_rate, b1=0.5), rng=jax.random.PRNGKey(seed + 1))

  def get_batch(step):
    idx = np.random.default_rng([seed, step]).integers(0, len(hi), c.batch_size)
    return {'hi': hi[idx], 'lo': lo[idx]}
  return loop.train(state=st, train_step=make_gan_step(c, G, D, method), get_batch=get_batch,
                    num_steps=c.gan_steps, workdir=os.path.join(workdir, f's{seed}_{method}_A'),
                    log_every=c.log_every, checkpoint_every=c.checkpoint_every, desc=f'smoke-gan-{method}')


# ------------------------------------------------------------------------------------------------
# tasks B1 / B2: autoencoders initialised from the generator
# ------------------------------------------------------------------------------------------------

def ae_apply(chain: RacecarChain, params, x, code_shape):
  """Encoder = the chain's reverse pass (its own weights, ReLU on the code), decoder = the chain."""
  code = chain.apply({'params': params['enc']}, x, (x.shape[0],) + tuple(code_shape),
                     reverse=ReverseConfig('full', output_activation='relu'), method=RacecarChain.reverse_from)
  return chain.apply({'params': params['dec']}, code).out, code


def init_ae(chain, key, code_shape, x_example):
  ke, kd = jax.random.split(key)
  lo = jnp.zeros((1,) + tuple(code_shape))
  dec = chain.init(kd, lo)['params']
  enc = chain.init(ke, jnp.asarray(x_example[:1]), (1,) + tuple(code_shape), method=RacecarChain.reverse_from)['params']
  return {'enc': enc, 'dec': dec}


def train_ae(c, chain, params, code_shape, tr, te, name, seed, workdir):
  st = train_state.TrainState.create(apply_fn=chain.apply, params=params, tx=optax.adam(c.ae_learning_rate),
                                     rng=jax.random.PRNGKey(seed + 2))
  x_te = jnp.asarray(te[:c.eval_size])

  def step(state, batch):
    state, key = state.next_rng()
    x = batch['x']
    x, _ = augment(key, x, x[:, ::4, ::4])

    def loss_fn(p):
      rec, _ = ae_apply(chain, p, x, code_shape)
      return jnp.mean(jnp.square(rec - x))
    l, g = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(g), {'l2': l}

  ev = jax.jit(lambda p: ae_apply(chain, p, x_te, code_shape)[0])

  def eval_fn(state, _):
    rec = ev(state.params)
    return {'test_l2': jnp.mean(jnp.square(rec - x_te)), 'test_mae255': 255 * jnp.mean(jnp.abs(rec - x_te))}

  def get_batch(s):
    idx = np.random.default_rng([seed, 7, s]).integers(0, len(tr), c.batch_size)
    return {'x': tr[idx]}
  init = {k: float(v) for k, v in eval_fn(st, 0).items()}
  r = loop.train(state=st, train_step=step, get_batch=get_batch, num_steps=c.ae_steps,
                 workdir=os.path.join(workdir, f's{seed}_{name}'), eval_fn=eval_fn, eval_every=c.eval_every,
                 log_every=c.log_every, checkpoint_every=c.checkpoint_every, desc=f'smoke-ae-{name}')
  curve = [(0, init['test_l2'])] + [(h['step'], h['eval/test_l2']) for h in r.history if 'eval/test_l2' in h]
  return r, init, curve


def _plot_curves(curves, path, title):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  from rvl_jax.core.io import save_figure
  fig, ax = plt.subplots(figsize=(5, 3.2))
  for name, cv in curves.items():
    cv = np.asarray(cv)
    ax.plot(cv[:, 0], cv[:, 1], label=name)
  ax.set_yscale('log')
  ax.set_xlabel('step')
  ax.set_ylabel('test L2 (mean squared error)')
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7)
  save_figure(fig, path)


def train_and_evaluate(c, workdir: str) -> dict:
  sims = data.smoke_simulations(c.num_sims, c.frames, c.size, c.factor, seed=c.data_seed)
  hi, lo = sims['hi'], sims['lo']
  perm = np.random.default_rng(c.data_seed).permutation(len(hi))
  n_tr = max(c.batch_size // 4, int(round(c.train_fraction * len(hi))))
  tr, te = perm[:n_tr], perm[n_tr:]
  rgb_sims = data.smoke_simulations(c.num_sims, c.frames, c.size, c.factor, seed=c.data_seed + 1)
  rgb = data.smoke_rgb(rgb_sims['hi'], seed=c.data_seed + 1)
  perm2 = np.random.default_rng(c.data_seed + 1).permutation(len(rgb))
  rgb_tr, rgb_te = rgb[perm2[:n_tr]], rgb[perm2[n_tr:]]
  code_shape = lo.shape[1:]
  G, D = generator(c), Discriminator(tuple(c.d_channels))
  G3 = generator(c, out_channels=3)
  pd = experiment.plots_dir(workdir)
  results = {'data': 'procedural smoke stand-in', 'num_train': int(n_tr), 'num_test': int(len(te))}
  per_seed = []
  for seed in c.seeds:
    res, gens, figs = {}, {}, {}
    for method in ('std', 'rr'):
      r = train_gan(c, G, D, method, seed, (hi[tr], lo[tr]), workdir)
      gens[method] = r.state.params['g']
      m, fake, rec = gan_eval(G, gens[method], lo[te[:c.eval_size]], hi[te[:c.eval_size]])
      res.update({f'{method}_A/{k}': v for k, v in m.items()})
      figs[method] = (fake, rec)
    if seed == c.seeds[0]:
      k = min(4, c.eval_size)
      lo_s, hi_s = lo[te[:k]], hi[te[:k]]
      ims, titles = [], []
      for i in range(k):
        row = [lo_s[i], figs['std'][0][i], figs['rr'][0][i], hi_s[i], figs['std'][1][i], figs['rr'][1][i]]
        ims += row
        titles += ['lo input', 'Std_A G(lo)', 'RR_A G(lo)', 'hi target', "Std_A d'_1", "RR_A d'_1"]
      analysis.plot_images(np.stack([np.asarray(jax.image.resize(im, (c.size, c.size, 1), 'nearest'))
                                     for im in ims]), os.path.join(pd, 'gan_outputs_and_reverse.png'), titles,
                           'E9 task A: generator outputs and reverse-pass reconstructions of the lo-res input '
                           '(common grey scale 0-1)', cols=6, vmin=0.0, vmax=1.0)
    # task B1: grey autoencoder
    curves, recs = {}, {}
    key = jax.random.PRNGKey(seed + 10)
    for name in c.b1_models:
      p = init_ae(G, key, code_shape, hi[:1])
      if name == 'rr_AB1':
        p = {'enc': gens['rr'], 'dec': gens['rr']}
      elif name == 'std_AB1':
        p = {'enc': p['enc'], 'dec': gens['std']}
      elif name == 'std_AB1_both':
        p = {'enc': gens['std'], 'dec': gens['std']}
      elif name != 'std_B1':
        raise ValueError(f"argument 'config.b1_models': unknown model {name!r}")
      r, init, curve = train_ae(c, G, p, code_shape, hi[tr], hi[te], name, seed, workdir)
      res[f'{name}/test_l2'] = r.eval_metrics['test_l2']
      res[f'{name}/test_l2_init'] = init['test_l2']
      curves[name] = curve
      recs[name] = np.asarray(ae_apply(G, r.state.params, jnp.asarray(hi[te[:4]]), code_shape)[0])
    if 'rr_AB1' in c.b1_models and 'std_AB1' in c.b1_models:
      res['B1/rr_vs_std_l2_reduction'] = 1 - res['rr_AB1/test_l2'] / res['std_AB1/test_l2']
    # task B2: RGB stand-in, decoder-only initialisation with the last layer stacked x3
    for name in c.b2_models:
      p = init_ae(G3, key, code_shape, rgb[:1])
      if name in ('rr_AB2', 'std_AB2', 'rr_AB2_both'):
        g3 = transfer.stack_output_channels(gens['rr' if name.startswith('rr') else 'std'], 3)
        p = {'enc': g3 if name == 'rr_AB2_both' else p['enc'], 'dec': g3}
      elif name != 'std_B2':
        raise ValueError(f"argument 'config.b2_models': unknown model {name!r}")
      r, init, curve = train_ae(c, G3, p, code_shape, rgb_tr, rgb_te, name, seed, workdir)
      res[f'{name}/test_l2'] = r.eval_metrics['test_l2']
      res[f'{name}/test_mae255'] = r.eval_metrics['test_mae255']
      res[f'{name}/test_l2_init'] = init['test_l2']
      curves[name] = curve
      recs[name] = np.asarray(ae_apply(G3, r.state.params, jnp.asarray(rgb_te[:4]), code_shape)[0])
    if 'rr_AB2' in c.b2_models and 'std_AB2' in c.b2_models:
      res['B2/rr_vs_std_l2_reduction'] = 1 - res['rr_AB2/test_l2'] / res['std_AB2/test_l2']
    if seed == c.seeds[0]:
      _plot_curves({k: v for k, v in curves.items() if k in c.b1_models},
                   os.path.join(pd, 'ae_B1_test_l2.png'), 'E9 task B1 (grey smoke AE): test L2')
      _plot_curves({k: v for k, v in curves.items() if k in c.b2_models},
                   os.path.join(pd, 'ae_B2_test_l2.png'), 'E9 task B2 (RGB stand-in AE): test L2')
      names1 = [n for n in c.b1_models]
      ims = [hi[te[i]] for i in range(4)] + [recs[n][i] for n in names1 for i in range(4)]
      analysis.plot_images(np.stack(ims)[..., 0], os.path.join(pd, 'ae_B1_reconstructions.png'),
                           ['target'] * 4 + [n for n in names1 for _ in range(4)], 'E9 task B1 reconstructions',
                           cols=4, vmin=0.0, vmax=1.0)
      names2 = [n for n in c.b2_models]
      ims = [rgb_te[i] for i in range(4)] + [np.clip(recs[n][i], 0, 1) for n in names2 for i in range(4)]
      analysis.plot_images(np.stack(ims), os.path.join(pd, 'ae_B2_reconstructions.png'),
                           ['target'] * 4 + [n for n in names2 for _ in range(4)], 'E9 task B2 reconstructions',
                           cols=4)
    results[f'seed{seed}'] = res
    per_seed.append(res)
  return common.add_seed_statistics(results, per_seed)
