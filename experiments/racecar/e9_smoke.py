"""E9 - racecar GAN super-resolution and autoencoder initialisation (Xie & Thuerey, Sec. 5 and
appendix D.2; Fig. 6, 9, 27, 28), on stand-in data.

The mantaflow / ScalarFlow smoke data need local files, so the default runs on the procedural
plume stand-in of :func:`rvl_jax.racecar.data.smoke_simulations` (hi-res frames and their 4x
box-down-sampled lo-res versions; 10 % of the frames for training, flip/rotation augmentation) and
its tinted-RGB "real smoke" variant :func:`rvl_jax.racecar.data.smoke_rgb`.

Task A (`rvl_jax.racecar.smoke_sr`): Std_A vs RR_A generators. Reported: test L2 of G and how well
G's reverse pass recovers the lo-res input (only RR should; Std gives a dark/blank image).
Task B1 (grey smoke autoencoder; encoder = G's reverse-pass architecture, decoder = G): RR_AB1
initialises the decoder from RR_A's forward weights and the encoder from RR_A's reverse-pass weights;
Std_AB1 initialises only the decoder, as in the paper; Std_AB1-both and Std_B1 (from scratch) are
extra baselines. Task B2 (RGB stand-in): only the decoder is initialised, its last layer stacked x3
(RR_AB2, Std_AB2; Std_B2 from scratch; RR_AB2-both as the paper's both-initialised ablation).
Reported: test L2 (and MAE in 0-255 units for B2), the relative L2 reduction of RR over Std,
test-loss curves and reconstructions.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import experiment, loop, prng, seeds, train_state
from rvl_jax.racecar import analysis, data, models, smoke_sr
from rvl_jax.racecar.layers import ReverseConfig


def train_gan(c, G, D, method, seed, tr, workdir):
  hi, lo = tr
  key = prng.stream_key(seed, f"gan/{method}")
  kg, kd = jax.random.split(prng.fold_in_name(key, "init"))
  pg = G.init(kg, jnp.asarray(lo[:2]), reverse=ReverseConfig("full"))["params"]
  pd = D.init(kd, jnp.asarray(hi[:2]), jnp.asarray(lo[:2]))["params"]
  st = train_state.TrainState.create(
    apply_fn=G.apply,
    params={"g": pg, "d": pd},
    tx=optax.adam(c.learning_rate, b1=0.5),
    rng=prng.fold_in_name(key, "train"),
  )

  def get_batch(step):
    idx = prng.numpy_rng(seed, f"gan/batches/{step}").integers(0, len(hi), c.batch_size)
    return {"hi": hi[idx], "lo": lo[idx]}

  step = smoke_sr.make_gan_step(G, D, method, smoke_sr.GanLoss(**c.gan_loss))
  return loop.train(
    state=st,
    train_step=step,
    get_batch=get_batch,
    num_steps=c.gan_steps,
    workdir=os.path.join(workdir, f"s{seed}_{method}_A"),
    log_every=c.log_every,
    checkpoint_every=c.checkpoint_every,
    desc=f"smoke-gan-{method}",
  )


def train_ae(c, chain, params, code_shape, tr, te, name, seed, workdir):
  st = train_state.TrainState.create(
    apply_fn=chain.apply,
    params=params,
    tx=optax.adam(c.ae_learning_rate),
    rng=prng.stream_key(seed, f"ae/{name}/train"),
  )
  x_te = jnp.asarray(te[: c.eval_size])
  ev = jax.jit(lambda p: smoke_sr.ae_apply(chain, p, x_te, code_shape)[0])

  def eval_fn(state, _):
    rec = ev(state.params)
    return {
      "test_l2": jnp.mean(jnp.square(rec - x_te)),
      "test_mae255": 255 * jnp.mean(jnp.abs(rec - x_te)),
    }

  def get_batch(s):
    idx = prng.numpy_rng(seed, f"ae/batches/{s}").integers(0, len(tr), c.batch_size)
    return {"x": tr[idx]}

  init = {k: float(v) for k, v in eval_fn(st, 0).items()}
  r = loop.train(
    state=st,
    train_step=smoke_sr.make_ae_step(chain, code_shape),
    get_batch=get_batch,
    num_steps=c.ae_steps,
    workdir=os.path.join(workdir, f"s{seed}_{name}"),
    eval_fn=eval_fn,
    eval_every=c.eval_every,
    log_every=c.log_every,
    checkpoint_every=c.checkpoint_every,
    desc=f"smoke-ae-{name}",
  )
  curve = [(0, init["test_l2"])] + [
    (h["step"], h["eval/test_l2"]) for h in r.history if "eval/test_l2" in h
  ]
  return r, init, curve


def _plot_curves(curves, path, title):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from rvl_jax.core.io import save_figure

  fig, ax = plt.subplots(figsize=(5, 3.2))
  for name, cv in curves.items():
    cv = np.asarray(cv)
    ax.plot(cv[:, 0], cv[:, 1], label=name)
  ax.set_yscale("log")
  ax.set_xlabel("step")
  ax.set_ylabel("test L2 (mean squared error)")
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7)
  save_figure(fig, path)


def task_b(c, chain, gens, code_shape, images, seed, workdir, models_, out_channels):
  """Trains the autoencoders `models_` of one task B; returns (metrics, curves, reconstructions)."""
  tr, te = images
  res, curves, recs = {}, {}, {}
  for name in models_:
    fresh = smoke_sr.init_ae(
      chain, prng.stream_key(seed, f"ae/{out_channels}/init"), code_shape, tr[:1]
    )
    p = smoke_sr.ae_init_params(name, fresh, gens, out_channels)
    r, init, curves[name] = train_ae(c, chain, p, code_shape, tr, te, name, seed, workdir)
    res[f"{name}/test_l2"] = r.eval_metrics["test_l2"]
    res[f"{name}/test_mae255"] = r.eval_metrics["test_mae255"]
    res[f"{name}/test_l2_init"] = init["test_l2"]
    recs[name] = np.asarray(
      smoke_sr.ae_apply(chain, r.state.params, jnp.asarray(te[:4]), code_shape)[0]
    )
  tag = f"B{out_channels // 2 + 1}"
  if f"rr_A{tag}" in models_ and f"std_A{tag}" in models_:
    res[f"{tag}/rr_vs_std_l2_reduction"] = (
      1 - res[f"rr_A{tag}/test_l2"] / res[f"std_A{tag}/test_l2"]
    )
  return res, curves, recs


def plot_seed(c, pd, lo_s, hi_s, figs, b1, b2):
  k = len(lo_s)
  ims, titles = [], []
  for i in range(k):
    ims += [
      lo_s[i],
      figs["std"][0][i],
      figs["rr"][0][i],
      hi_s[i],
      figs["std"][1][i],
      figs["rr"][1][i],
    ]
    titles += ["lo input", "Std_A G(lo)", "RR_A G(lo)", "hi target", "Std_A d'_1", "RR_A d'_1"]
  ims = np.stack([np.asarray(jax.image.resize(im, (c.size, c.size, 1), "nearest")) for im in ims])
  analysis.plot_images(
    ims,
    os.path.join(pd, "gan_outputs_and_reverse.png"),
    titles,
    "E9 task A: generator outputs and reverse-pass reconstructions of the "
    "lo-res input (common grey scale 0-1)",
    cols=6,
    vmin=0.0,
    vmax=1.0,
  )
  for tag, (curves, recs, targets), grey in (("B1", b1, True), ("B2", b2, False)):
    _plot_curves(curves, os.path.join(pd, f"ae_{tag}_test_l2.png"), f"E9 task {tag}: test L2")
    names = list(recs)
    im = [targets[i] for i in range(4)] + [
      np.clip(recs[n][i], 0, 1) for n in names for i in range(4)
    ]
    im = np.stack(im)[..., 0] if grey else np.stack(im)
    analysis.plot_images(
      im,
      os.path.join(pd, f"ae_{tag}_reconstructions.png"),
      ["target"] * 4 + [n for n in names for _ in range(4)],
      f"E9 task {tag} reconstructions",
      cols=4,
      **({"vmin": 0.0, "vmax": 1.0} if grey else {}),
    )


def train_and_evaluate(c, workdir: str) -> dict:
  sims = data.smoke_simulations(c.num_sims, c.frames, c.size, c.factor, seed=c.data_seed)
  hi, lo = sims["hi"], sims["lo"]
  n_tr = max(c.batch_size // 4, int(round(c.train_fraction * len(hi))))
  perm = prng.numpy_rng(c.data_seed, "split/grey").permutation(len(hi))
  tr, te = perm[:n_tr], perm[n_tr:]
  rgb_seed = prng.name_hash(f"rgb/{c.data_seed}")
  rgb = data.smoke_rgb(
    data.smoke_simulations(c.num_sims, c.frames, c.size, c.factor, seed=rgb_seed)["hi"],
    seed=rgb_seed,
  )
  perm2 = prng.numpy_rng(c.data_seed, "split/rgb").permutation(len(rgb))
  rgb_tr, rgb_te = rgb[perm2[:n_tr]], rgb[perm2[n_tr:]]
  code_shape = lo.shape[1:]
  G = models.sr_generator(c.g_channels, c.factor, 1, c.g_out_activation)
  G3 = models.sr_generator(c.g_channels, c.factor, 3, c.g_out_activation)
  D = smoke_sr.Discriminator(tuple(c.d_channels))
  pd = experiment.plots_dir(workdir)
  results = {"data": "procedural smoke stand-in", "num_train": int(n_tr), "num_test": int(len(te))}
  for seed in c.seeds:
    res, gens, figs = {}, {}, {}
    for method in ("std", "rr"):
      gens[method] = train_gan(c, G, D, method, seed, (hi[tr], lo[tr]), workdir).state.params["g"]
      m, fake, rec = smoke_sr.gan_eval(
        G, gens[method], lo[te[: c.eval_size]], hi[te[: c.eval_size]]
      )
      res.update({f"{method}_A/{k}": v for k, v in m.items()})
      figs[method] = (fake, rec)
    r1, curves1, recs1 = task_b(
      c, G, gens, code_shape, (hi[tr], hi[te]), seed, workdir, c.b1_models, 1
    )
    r2, curves2, recs2 = task_b(
      c, G3, gens, code_shape, (rgb_tr, rgb_te), seed, workdir, c.b2_models, 3
    )
    res.update(r1)
    res.update(r2)
    if seed == c.seeds[0]:
      k = min(4, c.eval_size)
      plot_seed(
        c, pd, lo[te[:k]], hi[te[:k]], figs, (curves1, recs1, hi[te]), (curves2, recs2, rgb_te)
      )
    for key, value in res.items():
      stem, _, metric = key.partition("/")
      results[f"{seeds.seed_key(stem, seed)}/{metric}"] = value
  results.update(seeds.aggregate_over_seeds(results))
  return results
