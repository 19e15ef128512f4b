"""Evaluation helpers of the ABS experiments: class-balanced image subsets and calibration."""

from __future__ import annotations

import time
from typing import Callable, Dict

import numpy as np


def balanced_subset(images, labels, n: int, num_classes: int = 10):
  """The first ceil(n / num_classes) images of every class (in split order), interleaved.

  Args:
    images: (N, ...) images.
    labels: (N,) integer labels.
    n: number of images to return.
    num_classes: number of classes.

  Returns:
    (images, labels) of the first ``n`` interleaved images (class 0, 1, ..., 9, 0, ...); labels
    as int32.
  """
  per = -(-n // num_classes)
  idx = [np.where(labels == c)[0][:per] for c in range(num_classes)]
  order = np.asarray([i for group in zip(*idx) for i in group][:n])
  return images[order], labels[order].astype(np.int32)


def per_class_subset(images, labels, n: int, num_classes: int = 10):
  """The first max(1, n // num_classes) images of every class, in split order.

  Args:
    images: (N, ...) images.
    labels: (N,) integer labels.
    n: about how many images to return; ``n >= N`` returns everything.
    num_classes: number of classes.

  Returns:
    (images, labels).
  """
  if n >= len(labels):
    return images, labels
  per = max(1, n // num_classes)
  idx = np.sort(np.concatenate([np.flatnonzero(labels == c)[:per] for c in range(num_classes)]))
  return images[idx], labels[idx]


def calibration_stats(probs, labels, n_bins: int = 10) -> Dict[str, float]:
  """Calibration of predicted probabilities (Schott et al. 2019 report the median confidence).

  Args:
    probs: (N, K) probabilities.
    labels: (N,) true labels.
    n_bins: equal-width confidence bins of the expected calibration error.

  Returns:
    ``{'median_confidence', 'nll', 'ece'}``: median top-class probability, mean negative
    log-likelihood of the true class, and expected calibration error.
  """
  probs = np.asarray(probs, np.float64)
  pred = probs.argmax(-1)
  conf = probs.max(-1)
  correct = pred == labels
  nll = -np.mean(np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-300)))
  bins = np.linspace(0, 1, n_bins + 1)
  ece = 0.0
  for lo, hi in zip(bins[:-1], bins[1:]):
    m = (conf > lo) & (conf <= hi)
    if m.any():
      ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
  return {"median_confidence": float(np.median(conf)), "nll": float(nll), "ece": float(ece)}


def reference_checks(
  images,
  labels,
  weights_dir: str,
  *,
  per_class: int = 50,
  batch_size: int = 100,
  stage1_all: bool = True,
  log: Callable[[str], None] = print,
) -> Dict[str, float]:
  """Checks of the released weights (Schott et al. 2019, Sec. 7 and Table 1's clean row).

  ABS / Binary ABS accuracy (stage 1 only on all images, the full model on the first
  ``per_class`` images of every class), median calibrated confidence, mean true-class neg-ELBO
  x 784, the L2 lower bound (Sec. 4) on the same images, and vanilla / Binary CNN accuracy on all
  images.

  Args:
    images: (N, 28, 28, 1) float images in [0, 1].
    labels: (N,) labels.
    weights_dir: the released weights (``rvl_jax.abs.weights``).
    per_class: images per class for the full model and the bound.
    batch_size: images per ABS inference call.
    stage1_all: also report stage-1-only accuracy on all images.
    log: a one-line logger.

  Returns:
    ``{metric: value}``.
  """
  from rvl_jax.abs import baselines, lower_bounds, models  # pylint: disable=g-import-not-at-top
  from rvl_jax.abs import inference as inf  # pylint: disable=g-import-not-at-top
  from rvl_jax.core import batched  # pylint: disable=g-import-not-at-top

  res = {}
  n = len(labels)

  def put(k, v):
    res[k] = v
    log(f"{k}: {v}")

  t0 = time.time()
  for name in ("vanilla_cnn", "binary_cnn"):
    fn = baselines.load_reference_cnn(weights_dir, name)
    pred = np.asarray(batched.batched_apply(fn, images, 500)).argmax(-1)
    put(f"{name}_accuracy_{n}", float(np.mean(pred == labels)))
  abs_m = models.load_reference_abs(weights_dir, batch_size=batch_size)
  bin_m = abs_m.with_options(binary=True)
  if stage1_all:
    for name, m in (("abs", abs_m), ("binary_abs", bin_m)):
      s1 = m.infer(images, n_iter=0, batch_size=500)["logits"]
      put(f"{name}_stage1_accuracy_{n}", float(np.mean(s1.argmax(-1) == labels)))
  sel = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])
  xs, ys = images[sel], labels[sel]
  t1 = time.time()
  full = abs_m.infer(xs, return_recon=True)
  put("abs_seconds_per_image", (time.time() - t1) / len(ys))
  put(f"abs_accuracy_{len(ys)}", float(np.mean(full["logits"].argmax(-1) == ys)))
  put("abs_median_confidence", float(np.median(inf.confidence_softmax(full["logits"]).max(-1))))
  put("abs_true_class_score_x784", float(784 * np.mean(full["scores"][np.arange(len(ys)), ys])))
  lb = lower_bounds.l2_lower_bound(abs_m, xs, ys, full=full)
  for k, v in lower_bounds.summarize(lb["bound"]).items():
    put(f"abs_l2_bound_{k}", v)
  bfull = bin_m.infer(xs)
  put(f"binary_abs_accuracy_{len(ys)}", float(np.mean(bfull["logits"].argmax(-1) == ys)))
  put(
    "binary_abs_median_confidence",
    float(np.median(inf.confidence_softmax(bfull["logits"]).max(-1))),
  )
  put("wall_seconds", time.time() - t0)
  return res
