"""Training + evaluation for SlowVAE and its baselines (config: experiments/slowvae/configs)."""

from __future__ import annotations

import os
import time
from typing import Any, Dict

import jax
from absl import logging

from rvl_jax.core import experiment, loop, prng
from rvl_jax.core import io as rio
from rvl_jax.slowvae import api, datasets, training, viz
from rvl_jax.slowvae.losses import LossConfig


def build(config):
  """(pair source, model, initial state, train_step) from a config."""
  src = datasets.build(config.data)
  model, state = api.create_run_state(config, src)
  step = training.make_train_step(config.method, model, LossConfig(**config.loss))
  return src, model, state, step


def evaluate(config, src, model, params, workdir=None) -> Dict[str, Any]:
  """MCC (+ MIG / all DisLib metrics on discrete data) on a fixed evaluation set, and figures."""
  from rvl_jax import disentanglement as dis

  rep = training.make_representation_fn(config.method, model, params, config.eval.batch_size)
  # config.eval.seed, not config.seed: runs of every seed are scored on the same points.
  factors, obs = src.sample(prng.numpy_rng(config.eval.seed, "eval/points"), config.eval.num_points)
  codes = rep(obs)
  out: Dict[str, Any] = {}
  mcc = dis.mean_corr_coef(codes, factors, method=config.eval.mcc_method, key=config.eval.seed)
  out["mcc"] = 100.0 * mcc["score"]
  for name, v in zip(src.factor_names, mcc["per_factor"]):
    out[f"mcc_per_factor/{name}"] = 100.0 * float(v)
  if src.discrete and config.eval.metrics in ("mcc_mig", "all"):
    out["mig"] = 100.0 * dis.mig(codes, factors)["score"]
  if src.discrete and config.eval.metrics == "all" and src.ground_truth is not None:
    res = dis.evaluate_all(
      training.pure_representation(config.method, model, params),
      src.ground_truth,
      config.eval.seed,
      counts=dis.scaled_counts(config.eval.metric_count_scale),
    )
    out.update({f"dislib/{k}": float(v) for k, v in res["scores"].items()})
  if workdir is not None and config.eval.plots:
    pdir = experiment.plots_dir(workdir)
    title = f"{config.method} on {config.data.name}"
    rio.save_figure(
      viz.correlation_heatmap(mcc["sorted_correlation"], src.factor_names, title),
      os.path.join(pdir, "correlation.png"),
    )
    cat = [i for i, c in enumerate(getattr(src.ground_truth, "categorical", ())) if c]
    color = cat[0] if cat else None
    if config.data.name == "dsprites":
      color = 0
    rio.save_figure(
      viz.latent_vs_factor_scatter(
        codes,
        factors,
        src.factor_names,
        color_factor=color,
        max_points=config.eval.scatter_points,
        method=config.eval.mcc_method,
        title=title,
      ),
      os.path.join(pdir, "latent_vs_factor.png"),
    )
    if config.eval.traversals and config.method != "pcl" and len(src.image_shape) == 3:
      dec = training.make_decode_fn(model, params, config.loss.likelihood)
      rio.save_figure(
        viz.traversal_figure(dec, codes, codes[0], 8, title), os.path.join(pdir, "traversals.png")
      )
      viz.traversal_gif(
        dec,
        codes,
        codes[0],
        os.path.join(pdir, "traversals.gif"),
        num_values=20 if config.train.num_steps < 1000 else 40,
      )
  return out


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  src, model, state, step = build(config)
  seed, b = config.seed, config.train.batch_pairs

  def get_batch(s):
    batch = src.batch(seed, s, b)
    return {"x1": batch["x1"], "x2": batch["x2"]}

  t0 = time.time()
  result = loop.train(
    state=state,
    train_step=step,
    get_batch=get_batch,
    num_steps=config.train.num_steps,
    workdir=workdir,
    log_every=config.train.log_every,
    checkpoint_every=config.train.checkpoint_every,
    desc=f"{config.method}/{config.data.name}",
  )
  train_s = time.time() - t0
  out: Dict[str, Any] = {
    "train_seconds": train_s,
    "steps_per_second": result.steps_per_second,
    "compile_seconds": result.compile_seconds,
  }
  out.update({f"train/{k}": v for k, v in result.metrics.items()})
  # The authors' early-stop rule for dSprites (Klindt et al. 2021, App. E), applied as a flag on the
  # logged history.
  if config.data.name == "dsprites" and config.method != "pcl":
    bad = [
      r["step"]
      for r in result.history
      if r.get("recon") is not None
      and r["step"] > config.early_stop.after_step
      and r["recon"] > config.early_stop.recon_threshold
    ]
    out["discarded_by_reference_rule"] = bool(bad)
  params = jax.device_get(result.state.params)
  out.update(evaluate(config, src, model, params, workdir))
  logging.info("slowvae results: %s", out)
  return out
