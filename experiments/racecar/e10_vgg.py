"""E10 - a VGG-style classifier trained with and without racecar, used for Gatys stylization (spec sec. 9
E10), at tiny scale on offline images.

ImageNet / VGG19 are out of reach offline, so the stand-in is a tiny VGG-style chain (3x3 conv + BN + ReLU
stages with 2x2 max-pools; every conv in the full racecar loss with ReLU on d'_1) trained to tell
apart random patches of scikit-image's bundled photographs and textures (one class per image). Protocol as
the paper: pre-train without racecar, then train RR and Std from that checkpoint.

Stylization (Gatys et al.): content loss 1/2 sum (F_p - F_g)^2 at a content layer, style loss
sum_t w_t E_t with E_t = sum (G_g - G_a)^2 / (4 N_t^2 M_t^2) and G = F F^T over the conv layers,
L = eta L_content + delta L_style, minimised over the pixels of g with Adam (clipped to [0, 1]).
Three tests (the paper's are qualitative; the first two get a number here):
* shape test (style only): source = a disc, style = a square of the same colours on the same background,
  g starts at the source; the change of g relative to the source is reported (RR should keep the shape);
* low -> high resolution (content + style): content = the 4x down/up-sampled reference, style = the
  reference; the per-pixel error of g against the reference is reported (RR lower in the paper);
* painterly transfer (content + style): figure only.
"""
from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.racecar import common
from rvl_jax.core import experiment
from rvl_jax.racecar import analysis
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, conv_spec
from rvl_jax.racecar.training import RegConfig, apply_chain

TRAIN_IMAGES = ('astronaut', 'chelsea', 'rocket', 'camera', 'brick', 'grass', 'gravel', 'hubble_deep_field',
                'immunohistochemistry', 'coins')


def tiny_vgg(c) -> RacecarChain:
  """[G] VGG-style: stages of `convs_per_stage` 3x3 conv (+ BN when c.norm == 'bn') + ReLU, 2x2 max-pool
  between stages, global average pooling + FC head (size-agnostic, so the same features serve any
  stylization size). Without BN the full reverse pass of a trained 6-conv ReLU stack multiplies the
  reconstruction scale layer by layer (L_racecar ~ 1e12 at the start of phase 2 in our runs), so BN
  (whose shift-by-one reverse call renormalises every reverse tensor) is the default."""
  specs = []
  norm = c.get('norm', 'bn') or None
  for s, (w, n) in enumerate(zip(c.widths, c.convs_per_stage)):
    for i in range(n):
      specs.append(conv_spec(w, 3, norm=norm, pool_before='max2' if (s > 0 and i == 0) else None))
  return RacecarChain(tuple(specs), head=(c.head_hidden, len(TRAIN_IMAGES)), head_pool='gap')


def load_image(name: str, size: int = None) -> np.ndarray:
  """A scikit-image bundled image as float RGB in [0, 1], optionally centre-cropped and resized to size."""
  import skimage.data
  import skimage.transform
  im = np.asarray(getattr(skimage.data, name)())
  if im.dtype == bool:
    im = im.astype(np.float32)
  im = im.astype(np.float32)
  if im.max() > 1.5:
    im = im / 255.0
  if im.ndim == 2:
    im = np.repeat(im[..., None], 3, -1)
  im = im[..., :3]
  if size is not None:
    h, w = im.shape[:2]
    m = min(h, w)
    im = im[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
    im = skimage.transform.resize(im, (size, size), anti_aliasing=True)
  return im.astype(np.float32)


def patch_dataset(n_per_class: int, patch: int, source_size: int, seed: int):
  """Random patches (with flips) of each training image; label = image index."""
  rng = np.random.default_rng(seed)
  xs, ys = [], []
  for k, name in enumerate(TRAIN_IMAGES):
    im = load_image(name, source_size)
    for _ in range(n_per_class):
      i, j = rng.integers(0, source_size - patch + 1, 2)
      p = im[i:i + patch, j:j + patch]
      if rng.random() < 0.5:
        p = p[:, ::-1]
      xs.append(p)
      ys.append(k)
  x, y = np.stack(xs), np.asarray(ys)
  perm = rng.permutation(len(x))
  return x[perm], np.eye(len(TRAIN_IMAGES), dtype=np.float32)[y[perm]]


def shape_images(size: int):
  """The shape test pair: a disc (source) and a square (style), same colours and background."""
  yy, xx = np.mgrid[0:size, 0:size] / size
  bg, fg = np.array([0.9, 0.85, 0.6], np.float32), np.array([0.2, 0.3, 0.7], np.float32)
  disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2) < 0.3 ** 2
  square = (np.abs(yy - 0.5) < 0.27) & (np.abs(xx - 0.5) < 0.27)
  mk = lambda m: np.where(m[..., None], fg, bg).astype(np.float32)
  return mk(disc), mk(square)


def gram(f):
  """[1, H, W, N] -> N x N Gram matrix F F^T (F: N filters x M positions), and M."""
  n = f.shape[-1]
  fm = f.reshape(-1, n)
  return fm.T @ fm, fm.shape[0]


def style_loss(feats_g, grams_a, weights):
  tot = 0.0
  for fg, (ga, m), w in zip(feats_g, grams_a, weights):
    gg, _ = gram(fg)
    n = fg.shape[-1]
    tot = tot + w * jnp.sum(jnp.square(gg - ga)) / (4.0 * n ** 2 * m ** 2)
  return tot


def make_stylizer(state, c):
  """Returns stylize(content, style, init, eta, delta) -> (image, loss history) for one trained state."""
  def feats(x):
    out, _ = apply_chain(state, state.params, x[None], False, None)
    return out.ds[1:]                                   # the conv activations d_2 .. d_{n+1}

  n_layers = sum(c.convs_per_stage)
  w = [1.0 / n_layers] * n_layers
  cl = c.content_layer

  @jax.jit
  def run(content, style, init, eta, delta):
    fp = feats(content)[cl]
    ga = [gram(f) for f in feats(style)]
    ga = [(g, m) for g, m in ga]
    tx = optax.adam(c.style_lr)

    def loss(g):
      fg = feats(g)
      return eta * 0.5 * jnp.sum(jnp.square(fg[cl] - fp)) + delta * style_loss(fg, ga, w)

    def body(carry, _):
      g, opt = carry
      l, gr = jax.value_and_grad(loss)(g)
      upd, opt = tx.update(gr, opt, g)
      g = jnp.clip(optax.apply_updates(g, upd), 0.0, 1.0)
      return (g, opt), l
    (g, _), hist = jax.lax.scan(body, (init, tx.init(init)), None, length=c.style_steps)
    return g, hist
  return run


def train_and_evaluate(c, workdir: str) -> dict:
  x, y = patch_dataset(c.n_per_class, c.patch, c.source_size, c.data_seed)
  n_te = len(x) // 5
  x_te, y_te, x_tr, y_tr = x[:n_te], y[:n_te], x[n_te:], y[n_te:]
  model = tiny_vgg(c)
  pd = experiment.plots_dir(workdir)
  results = {'num_train': int(len(x_tr)), 'num_test': int(n_te), 'classes': list(TRAIN_IMAGES)}
  disc, square = shape_images(c.style_size)
  ref = load_image(c.lowres_image, c.style_size)
  lo = jax.image.resize(jax.image.resize(ref, (c.style_size // 4,) * 2 + (3,), 'linear'), ref.shape, 'linear')
  lo = np.asarray(lo)
  content_im, style_im = load_image(c.content_image, c.style_size), load_image(c.style_image, c.style_size)
  per_seed = []
  for seed in c.seeds:
    res, outs = {}, {}
    st = common.create_state(model, x_tr[:2], seed, common.make_optimizer(c), reverse=ReverseConfig())
    get = common.minibatches(x_tr, y_tr, c.batch_size, seed)
    pre = common.run_phase(st, RegConfig('std'), get, c.pretrain_steps, workdir, f's{seed}_pretrain', c)
    for method in ('std', 'rr'):
      reg = common.reg_from_config(method, c)
      st = pre.state
      st = st.replace(opt_state=st.tx.init(st.params), step=jnp.zeros((), jnp.int32))
      if method == 'rr' and c.lam_auto:
        reg = dataclasses.replace(reg, lam=common.auto_lambda(st, reg, get(0), scale=c.lam_auto_scale))
        res['rr/lam'] = float(reg.lam)
      r = common.run_phase(st, reg, common.minibatches(x_tr, y_tr, c.batch_size, seed + 1), c.train_steps, workdir,
                           f's{seed}_{method}', c)
      st = r.state
      res[f'{method}/test_acc'] = common.evaluate(st, x_te, y_te)
      out, _ = apply_chain(st, st.params, jnp.asarray(x_te[:64]), False, ReverseConfig('full', 'relu'))
      res[f'{method}/reverse_rel_err'] = analysis.relative_error(np.asarray(out.recons[0]), x_te[:64])
      stylize = make_stylizer(st, c)
      g_shape, _ = stylize(jnp.asarray(disc), jnp.asarray(square), jnp.asarray(disc), 0.0, 1.0)
      g_shape = np.asarray(g_shape)
      res[f'{method}/shape_change'] = float(np.linalg.norm(g_shape - disc) / np.linalg.norm(disc))
      res[f'{method}/shape_mae255'] = float(255 * np.mean(np.abs(g_shape - disc)))
      g_lo, _ = stylize(jnp.asarray(lo), jnp.asarray(ref), jnp.asarray(lo), c.eta, c.delta)
      g_lo = np.asarray(g_lo)
      res[f'{method}/lowres_mae255'] = float(255 * np.mean(np.abs(g_lo - ref)))
      g_art, _ = stylize(jnp.asarray(content_im), jnp.asarray(style_im), jnp.asarray(content_im), c.eta, c.delta)
      outs[method] = (g_shape, g_lo, np.asarray(g_art), np.asarray(out.recons[0][:4]))
    res['lowres_input_mae255'] = float(255 * np.mean(np.abs(lo - ref)))
    if seed == c.seeds[0]:
      ims = [disc, square, outs['std'][0], outs['rr'][0], lo, ref, outs['std'][1], outs['rr'][1],
             content_im, style_im, outs['std'][2], outs['rr'][2]]
      titles = ['source', 'style', 'Std', 'RR', 'low-res', 'reference', 'Std', 'RR', 'content', 'style', 'Std', 'RR']
      analysis.plot_images(np.clip(np.stack(ims), 0, 1), os.path.join(pd, 'stylization.png'), titles,
                           'E10: shape test (style only) | low->high res | painterly (content+style)', cols=4)
      rec = [x_te[i] for i in range(4)] + [np.clip(outs[m][3][i], 0, 1) for m in ('std', 'rr') for i in range(4)]
      analysis.plot_images(np.stack(rec), os.path.join(pd, 'reverse_reconstructions.png'),
                           ['input'] * 4 + ["Std d'_1"] * 4 + ["RR d'_1"] * 4, 'E10: reverse-pass reconstructions', cols=4)
    results[f'seed{seed}'] = res
    per_seed.append(res)
  return common.add_seed_statistics(results, per_seed)
