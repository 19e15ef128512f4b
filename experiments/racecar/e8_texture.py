"""E8 - texture-shape benchmark (the racecar paper, Sec. 5 and appendix D.1): train Std / Ort / RR on the
stylized cue-conflict images, test on stylized (held out), edge and filled silhouettes without retraining;
per-class accuracy, s/step and the relative error of the reverse pass d'_1 on held-out stylized images.
Real data: `config.data_root` with root/{stylized,edge,filled}/<class>/*.png (16 classes, 1120/160 stylized
split). Offline default: a generated stand-in (shapes = classes; stylized images
fill shape and background with random textures, edge = outlines, filled = silhouettes)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rvl_jax.core import prng, seeds
from rvl_jax.racecar import analysis, data, models, protocol, training
from rvl_jax.racecar.layers import ReverseConfig, count_params
from rvl_jax.racecar.training import RegConfig

SHAPES = ("disc", "square", "triangle", "cross")


def _mask(shape, size, rng):
  yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  c = size / 2 + rng.uniform(-3, 3, 2)
  r = size * rng.uniform(0.25, 0.35)
  if shape == "disc":
    m = np.hypot(yy - c[0], xx - c[1]) < r
  elif shape == "square":
    m = (np.abs(yy - c[0]) < r * 0.85) & (np.abs(xx - c[1]) < r * 0.85)
  elif shape == "triangle":
    m = (yy - c[0] < r * 0.8) & (yy - c[0] > -r) & (np.abs(xx - c[1]) < (yy - c[0] + r) * 0.6)
  else:
    m = ((np.abs(yy - c[0]) < r * 0.3) & (np.abs(xx - c[1]) < r)) | (
      (np.abs(xx - c[1]) < r * 0.3) & (np.abs(yy - c[0]) < r)
    )
  return m


def _texture(size, rng):
  f = rng.uniform(0.3, 1.2)
  a = rng.uniform(0, np.pi)
  yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  g = np.sin(f * (np.cos(a) * xx + np.sin(a) * yy))[..., None]
  col = rng.uniform(0, 1, 3)
  return np.clip(0.5 + 0.4 * g * col + rng.normal(0, 0.1, (size, size, 3)), 0, 1)


def standin(n_per_class: int, seed: int, size: int = 32):
  rng = np.random.default_rng(seed)
  out = {"stylized": [], "edge": [], "filled": []}
  labels = []
  for ci, s in enumerate(SHAPES):
    for _ in range(n_per_class):
      m = _mask(s, size, rng)
      out["stylized"].append(np.where(m[..., None], _texture(size, rng), _texture(size, rng)))
      edge = m ^ ndimage.binary_erosion(m, iterations=1)
      out["edge"].append(np.repeat((1.0 - edge)[..., None], 3, -1))
      out["filled"].append(np.repeat((1.0 - m)[..., None], 3, -1))
      labels.append(ci)
  return {
    k: (np.stack(v).astype(np.float32), np.array(labels, np.int32), list(SHAPES))
    for k, v in out.items()
  }


def train_and_evaluate(c, workdir: str) -> dict:
  if c.data_root:
    sets = data.load_texture_shape(c.data_root, tuple(c.image_size))
  else:
    sets = standin(c.standin_per_class, c.data_seed, c.image_size[0])
  xs, ys, classes = sets["stylized"]
  tr, te = data.stratified_split(ys, c.test_per_class, c.data_seed)
  ncls = len(classes)
  yoh = np.eye(ncls, dtype=np.float32)[ys]
  model = models.texture_cnn(tuple(c.channels), ncls)
  results = {"data_source": c.data_root or "standin", "classes": classes}
  tx = protocol.make_optimizer(c.optimizer, c.learning_rate)
  loop_args = {"log_every": c.log_every, "checkpoint_every": c.checkpoint_every}
  for method in c.methods:
    for seed in c.seeds:
      reg = RegConfig(method, **c.reg)
      st = protocol.create_state(
        model, xs[:2], prng.stream_key(seed, "model"), tx, reverse=ReverseConfig()
      )
      results["num_params"] = count_params(st.params)
      name = seeds.seed_key(method, seed)
      get = protocol.minibatches(xs[tr], yoh[tr], c.batch_size, seed, "train")
      r = protocol.run_phase(st, reg, get, c.num_steps, workdir, name, **loop_args)
      results[f"{name}/sec_per_step"] = protocol.sec_per_step(r)
      pred = training.make_predict(r.state)
      x_te = xs[te][:64]
      o, _ = training.apply_chain(
        r.state, r.state.params, x_te, False, ReverseConfig(output_activation=reg.output_activation)
      )
      results[f"{name}/recon_rel_error"] = analysis.relative_error(o.recons[0], x_te)
      for split in ("stylized", "edge", "filled"):
        if split not in sets:
          continue
        x, y, _ = sets[split]
        if split == "stylized":
          x, y = x[te], y[te]
        p = np.asarray(pred(x)).argmax(-1)
        results[f"{name}/{split}_acc"] = float(np.mean(p == y))
        for ci, cname in enumerate(classes):
          if np.any(y == ci):
            results[f"{name}/{split}_acc_{cname}"] = float(np.mean(p[y == ci] == ci))
  results.update(seeds.aggregate_over_seeds(results))
  if "std" in c.methods:
    for m in c.methods:
      results[f"{m}_over_std_sec_per_step"] = (
        results[f"{m}/sec_per_step_mean"] / results["std/sec_per_step_mean"]
      )
  return results
