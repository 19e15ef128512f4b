"""E10 - a VGG-style classifier trained with and without racecar, used for Gatys stylization
(Xie & Thuerey, appendices D.3-D.4; Fig. 1c, 10, 29-32), at tiny scale on offline images.

ImageNet / VGG19 are out of reach offline, so the stand-in is a tiny VGG-style chain
(`rvl_jax.racecar.models.tiny_vgg`, every conv in the full racecar loss with ReLU on d'_1) trained
to tell apart random patches of scikit-image's bundled photographs and textures (one class per
image). Protocol as the paper: pre-train without racecar, then train RR and Std from that
checkpoint. Stylization: `rvl_jax.racecar.stylize`. Three tests (the paper's are qualitative; the
first two get a number here):
* shape test (style only): source = a disc, style = a square of the same colours on the same
  background, g starts at the source; the change of g relative to the source is reported (RR should
  keep the shape);
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

from rvl_jax.core import experiment, prng, seeds
from rvl_jax.racecar import analysis, models, protocol, stylize
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig, apply_chain, auto_lambda


def test_images(c):
  """The stylization inputs: the shape pair, the low-res / reference pair, content and style."""
  disc, square = stylize.shape_images(c.style_size)
  ref = stylize.load_image(c.lowres_image, c.style_size)
  small = jax.image.resize(ref, (c.style_size // 4,) * 2 + (3,), "linear")
  lo = np.asarray(jax.image.resize(small, ref.shape, "linear"))
  return {
    "disc": disc,
    "square": square,
    "ref": ref,
    "lo": lo,
    "content": stylize.load_image(c.content_image, c.style_size),
    "style": stylize.load_image(c.style_image, c.style_size),
  }


def evaluate_method(st, c, x_te, ims):
  """Accuracy, reverse-pass error and the three stylizations of one trained state."""
  res = {"test_acc": protocol.evaluate(st, x_te[0], x_te[1])}
  rev = ReverseConfig("full", "relu")
  out, _ = apply_chain(st, st.params, jnp.asarray(x_te[0][:64]), False, rev)
  res["reverse_rel_err"] = analysis.relative_error(np.asarray(out.recons[0]), x_te[0][:64])
  run = stylize.make_stylizer(
    st, sum(c.convs_per_stage), c.content_layer, c.style_lr, c.style_steps
  )
  j = {k: jnp.asarray(v) for k, v in ims.items()}
  g_shape = np.asarray(run(j["disc"], j["square"], j["disc"], 0.0, 1.0)[0])
  res["shape_change"] = float(np.linalg.norm(g_shape - ims["disc"]) / np.linalg.norm(ims["disc"]))
  res["shape_mae255"] = float(255 * np.mean(np.abs(g_shape - ims["disc"])))
  g_lo = np.asarray(run(j["lo"], j["ref"], j["lo"], c.eta, c.delta)[0])
  res["lowres_mae255"] = float(255 * np.mean(np.abs(g_lo - ims["ref"])))
  g_art = np.asarray(run(j["content"], j["style"], j["content"], c.eta, c.delta)[0])
  return res, (g_shape, g_lo, g_art, np.asarray(out.recons[0][:4]))


def plot_seed(pd, ims, outs, x_te):
  im = [
    ims["disc"],
    ims["square"],
    outs["std"][0],
    outs["rr"][0],
    ims["lo"],
    ims["ref"],
    outs["std"][1],
    outs["rr"][1],
    ims["content"],
    ims["style"],
    outs["std"][2],
    outs["rr"][2],
  ]
  titles = [
    "source",
    "style",
    "Std",
    "RR",
    "low-res",
    "reference",
    "Std",
    "RR",
    "content",
    "style",
    "Std",
    "RR",
  ]
  analysis.plot_images(
    np.clip(np.stack(im), 0, 1),
    os.path.join(pd, "stylization.png"),
    titles,
    "E10: shape test (style only) | low->high res | painterly (content+style)",
    cols=4,
  )
  rec = [x_te[i] for i in range(4)] + [
    np.clip(outs[m][3][i], 0, 1) for m in ("std", "rr") for i in range(4)
  ]
  analysis.plot_images(
    np.stack(rec),
    os.path.join(pd, "reverse_reconstructions.png"),
    ["input"] * 4 + ["Std d'_1"] * 4 + ["RR d'_1"] * 4,
    "E10: reverse-pass reconstructions",
    cols=4,
  )


def train_and_evaluate(c, workdir: str) -> dict:
  x, y = stylize.patch_dataset(c.n_per_class, c.patch, c.source_size, c.data_seed)
  n_te = len(x) // 5
  x_te, y_te, x_tr, y_tr = x[:n_te], y[:n_te], x[n_te:], y[n_te:]
  model = models.tiny_vgg(
    c.widths, c.convs_per_stage, c.head_hidden, len(stylize.TRAIN_IMAGES), c.norm or None
  )
  pd = experiment.plots_dir(workdir)
  ims = test_images(c)
  results = {
    "num_train": int(len(x_tr)),
    "num_test": int(n_te),
    "classes": list(stylize.TRAIN_IMAGES),
    "lowres_input_mae255": float(255 * np.mean(np.abs(ims["lo"] - ims["ref"]))),
  }
  loop_args = {"log_every": c.log_every, "checkpoint_every": c.checkpoint_every}
  for seed in c.seeds:
    outs = {}
    st = protocol.create_state(
      model,
      x_tr[:2],
      prng.stream_key(seed, "model"),
      protocol.make_optimizer(c.optimizer, c.learning_rate),
      reverse=ReverseConfig(),
    )
    get = protocol.minibatches(x_tr, y_tr, c.batch_size, seed, "pretrain")
    pre = protocol.run_phase(
      st, RegConfig("std"), get, c.pretrain_steps, workdir, f"s{seed}_pretrain", **loop_args
    )
    for method in ("std", "rr"):
      reg = RegConfig(method, **c.reg)
      st = protocol.restart(pre.state)
      name = seeds.seed_key(method, seed)
      if method == "rr" and c.lam_auto:
        reg = dataclasses.replace(reg, lam=auto_lambda(st, reg, get(0), scale=c.lam_auto_scale))
        results[f"{name}/lam"] = float(reg.lam)
      get2 = protocol.minibatches(x_tr, y_tr, c.batch_size, seed, "train")
      st = protocol.run_phase(
        st, reg, get2, c.train_steps, workdir, f"s{seed}_{method}", **loop_args
      ).state
      res, outs[method] = evaluate_method(st, c, (x_te, y_te), ims)
      results.update({f"{name}/{k}": v for k, v in res.items()})
    if seed == c.seeds[0]:
      plot_seed(pd, ims, outs, x_te)
  results.update(seeds.aggregate_over_seeds(results))
  return results
