"""Evaluation of noise-trained models (Rusak et al. 2020, Sec. 3.3): top-k on corrupted sets,
CE/mCE (Hendrycks & Dietterich 2019), eps*.

* ``IMAGENET_C_ORDER``, ``NOISE_CORRUPTIONS``, ``ALEXNET_ERRORS`` (AlexNet's top-1 error per
  corruption, averaged over the five severities, the mCE normalisation of ImageNet-C).
* ``corruption_error`` / ``mean_corruption_error`` / ``summarize_corruption_table``: the
  per-corruption and per-severity tables -> full / w/o-noise means, CE and mCE (AlexNet or any
  other baseline normalisation).
* ``evaluate_arrays`` / ``evaluate_corrupted_sets``: top-1/top-5 of a classifier on arrays.
* ``epsilon_star``: median noise-robustness radius along noise directions (Rusak et al. 2020,
  Sec. 3.3, Table 2).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import batched, validation

NOISE_CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise")

# AlexNet top-1 error averaged over the five severities (Hendrycks & Dietterich 2019).
ALEXNET_ERRORS = {
  "gaussian_noise": 0.886428,
  "shot_noise": 0.894468,
  "impulse_noise": 0.922640,
  "defocus_blur": 0.819880,
  "glass_blur": 0.826268,
  "motion_blur": 0.785948,
  "zoom_blur": 0.798360,
  "snow": 0.866816,
  "frost": 0.826572,
  "fog": 0.819324,
  "brightness": 0.564592,
  "contrast": 0.853204,
  "elastic_transform": 0.646056,
  "pixelate": 0.717840,
  "jpeg_compression": 0.606500,
}
# The 15 benchmark corruptions in the order of ImageNet-C (the keys above).
IMAGENET_C_ORDER = tuple(ALEXNET_ERRORS)


def corruption_error(top1_percent_per_severity, baseline_error: float) -> float:
  """CE_c x 100 = sum_s E_s / sum_s E^base_s with E = 1 - top1 (equal-size severities).

  ``top1_percent_per_severity``: a number (the mean over severities) or a sequence per severity.
  ``baseline_error``: baseline (AlexNet) error averaged over severities, as a fraction.
  """
  mean_top1 = float(np.mean(np.asarray(top1_percent_per_severity, np.float64)))
  return (100.0 - mean_top1) / (100.0 * baseline_error) * 100.0


def mean_corruption_error(
  per_corruption_top1: Mapping[str, object],
  baseline_errors: Optional[Mapping[str, float]] = None,
  corruptions: Optional[Sequence[str]] = None,
) -> Dict[str, float]:
  """Per-corruption CE (x100) and their mean 'mCE' over ``corruptions`` (default: all 15)."""
  baseline_errors = ALEXNET_ERRORS if baseline_errors is None else baseline_errors
  names = (
    tuple(corruptions)
    if corruptions is not None
    else tuple(c for c in IMAGENET_C_ORDER if c in per_corruption_top1)
  )
  missing = [c for c in names if c not in per_corruption_top1 or c not in baseline_errors]
  if missing:
    raise ValueError(f"argument 'per_corruption_top1': missing corruptions {missing}")
  ce = {c: corruption_error(per_corruption_top1[c], baseline_errors[c]) for c in names}
  return {"ce": ce, "mCE": float(np.mean(list(ce.values())))}


def summarize_corruption_table(
  top1: Mapping[str, object],
  top5: Optional[Mapping[str, object]] = None,
  *,
  clean_top1: Optional[float] = None,
  clean_top5: Optional[float] = None,
  baseline_errors: Optional[Mapping[str, float]] = "alexnet",
  noise_corruptions: Sequence[str] = NOISE_CORRUPTIONS,
) -> Dict:
  """The summary of the result files released with Rusak et al. 2020 from per-corruption tables.

  Args:
    top1, top5: ``{corruption: % value or per-severity list}``.
    clean_top1, clean_top5: clean accuracies (%) to include.
    baseline_errors: per-corruption baseline errors (fractions) for CE/mCE, None for none, or
      'alexnet': ``ALEXNET_ERRORS`` when every corruption is one of ImageNet-C's 15.
    noise_corruptions: left out of the 'without_noise' means.

  Returns:
    'per_corruption' rows (top1, top5, ce, per-severity lists), 'full_top1/5' and
    'without_noise_top1/5' (means over all (corruption, severity) cells; with equal severities
    per corruption the mean of the per-corruption means) and 'mCE' when a baseline applies.
  """
  names = list(top1.keys())
  rows = {}
  for c in names:
    row = {"top1": float(np.mean(top1[c]))}
    if np.ndim(top1[c]):
      row["top1_per_severity"] = [float(v) for v in np.asarray(top1[c]).ravel()]
    if top5 is not None and c in top5:
      row["top5"] = float(np.mean(top5[c]))
      if np.ndim(top5[c]):
        row["top5_per_severity"] = [float(v) for v in np.asarray(top5[c]).ravel()]
    rows[c] = row
  out = {"per_corruption": rows}
  if clean_top1 is not None:
    out["clean_top1"] = float(clean_top1)
  if clean_top5 is not None:
    out["clean_top5"] = float(clean_top5)
  w_o = [c for c in names if c not in noise_corruptions]
  for key in ("top1", "top5"):
    if all(key in rows[c] for c in names):
      out[f"full_{key}"] = float(np.mean([rows[c][key] for c in names]))
      if w_o:
        out[f"without_noise_{key}"] = float(np.mean([rows[c][key] for c in w_o]))
  if isinstance(baseline_errors, str) and baseline_errors == "alexnet":
    baseline_errors = ALEXNET_ERRORS if all(c in ALEXNET_ERRORS for c in names) else None
  if baseline_errors is not None:
    m = mean_corruption_error({c: rows[c]["top1"] for c in names}, baseline_errors, names)
    for c in names:
      rows[c]["ce"] = m["ce"][c]
    out["mCE"] = m["mCE"]
  return out


def baseline_errors_from(summary_or_top1: Mapping) -> Dict[str, float]:
  """Per-corruption errors (fractions) of a reference model, for CE relative to our vanilla."""
  rows = summary_or_top1.get("per_corruption", summary_or_top1)
  return {
    c: 1 - (float(np.mean(v["top1"] if isinstance(v, Mapping) else v)) / 100)
    for c, v in rows.items()
  }


# ----------------------------------------------------------------------------------------
# Accuracy on arrays


def evaluate_arrays(logits_fn: Callable, images, labels, batch_size: int = 500) -> Dict[str, float]:
  """Top-1 and top-5 accuracy (%) of ``logits_fn`` on (images, labels)."""
  validation.check_images("images", images)
  labels = np.asarray(labels)
  logits = batched.batched_apply(logits_fn, np.asarray(images, np.float32), batch_size)
  pred_order = np.argsort(-logits, axis=1)
  top1 = float(np.mean(pred_order[:, 0] == labels) * 100)
  k = min(5, logits.shape[1])
  top5 = float(np.mean(np.any(pred_order[:, :k] == labels[:, None], axis=1)) * 100)
  return {"top1": top1, "top5": top5}


def evaluate_corrupted_sets(
  logits_fn: Callable, corrupted: Mapping[str, object], labels, batch_size: int = 500
) -> Dict[str, Dict]:
  """``corrupted[name]`` is an array (one severity) or a list of arrays (one per severity).

  Returns {'top1': {name: value or [per severity]}, 'top5': {...}}.
  """
  top1, top5 = {}, {}
  for name, sets in corrupted.items():
    if isinstance(sets, (list, tuple)):
      res = [evaluate_arrays(logits_fn, s, labels, batch_size) for s in sets]
      top1[name] = [r["top1"] for r in res]
      top5[name] = [r["top5"] for r in res]
    else:
      r = evaluate_arrays(logits_fn, sets, labels, batch_size)
      top1[name], top5[name] = r["top1"], r["top5"]
  return {"top1": top1, "top5": top5}


# ----------------------------------------------------------------------------------------
# eps*: median noise-robustness along noise directions (Rusak et al. 2020, Sec. 3.3)


def _line_search(logits_fn, x, y, n, coarse_base: float, coarse_steps: int, bisection_steps: int):
  """Per-image smallest clipped L2 distance along unit directions ``n`` that flips the label."""
  b = x.shape[0]
  flat = lambda a: a.reshape(b, -1)  # noqa: E731
  bshape = (b,) + (1,) * (x.ndim - 1)

  def probe(eta):
    xe = jnp.clip(x + eta.reshape(bshape) * n, 0, 1)
    wrong = jnp.argmax(logits_fn(xe), axis=-1) != y
    dist = jnp.sqrt(jnp.sum(jnp.square(flat(xe - x)), axis=1))
    return wrong, dist

  wrong0, _ = probe(jnp.zeros((b,)))
  # Coarse search: first power coarse_base**k (k = 0..coarse_steps-1) that misclassifies.
  found = wrong0
  upper = jnp.zeros((b,))
  lower = jnp.zeros((b,))
  best = jnp.where(wrong0, 0.0, jnp.inf)
  for k in range(coarse_steps):
    eta_k = jnp.full((b,), coarse_base**k)
    wrong, dist = probe(eta_k)
    newly = (~found) & wrong
    upper = jnp.where(newly, eta_k, upper)
    lower = jnp.where(newly, (coarse_base ** (k - 1)) if k > 0 else 0.0, lower)
    best = jnp.where(newly, dist, best)
    found = found | wrong
  active = found & ~wrong0
  # Bisection: start at the upper end, halve the step, move down when wrong, up when right.
  eta = upper
  step = (upper - lower) / 2

  def body(_, carry):
    eta, step, best = carry
    eta = jnp.where(active, eta, 0.0)
    wrong, dist = probe(eta)
    best = jnp.where(active & wrong, jnp.minimum(best, dist), best)
    eta = jnp.where(wrong, eta - step, eta + step)
    return eta, step / 2, best

  eta, step, best = jax.lax.fori_loop(0, bisection_steps, body, (eta - step, step / 2, best))
  return best


_RUN_CACHE: Dict = {}


def epsilon_star(
  logits_fn: Callable,
  images,
  labels,
  directions: str = "gaussian",
  *,
  key=None,
  noise_fn: Optional[Callable] = None,
  params=None,
  noise_params=None,
  batch_size: int = 250,
  coarse_base: float = 1.8,
  coarse_steps: Optional[int] = None,
  bisection_steps: int = 40,
) -> Dict[str, float]:
  """eps* = median over images of the smallest L2 norm along a noise direction flipping the label.

  Each image gets its own direction (normalised to unit L2 norm); the distance is searched with
  probes ``clip(x + eta n, 0, 1)`` at eta = coarse_base**k, then ``bisection_steps`` halvings,
  and measured after clipping (Rusak et al. 2020, Sec. 3.3).

  Args:
    logits_fn: jax-traceable ``x -> logits`` (inference mode), or ``(params, x) -> logits``
      when ``params`` is given (the compiled search is then reused across parameter values).
    images, labels: test set (N, H, W, C) in [0, 1], (N,).
    directions: 'gaussian', 'uniform' (zero-mean) or 'generator' (``noise_fn(key, shape)``, or
      ``noise_fn(noise_params, key, shape)`` when ``noise_params`` is given, samples a trained
      generator).
    key: PRNG key of the directions (default: ``PRNGKey(0)``).
    noise_fn, params, noise_params: see above.
    batch_size: images searched at once.
    coarse_base: ratio of the coarse probes.
    coarse_steps: number of coarse probes; default ``round(ln(784) / ln(1.8))`` = 11.
    bisection_steps: halvings after the coarse search.

  Returns:
    ``{'eps_star': median, 'mean_finite': mean of the finite distances, 'fraction_unflipped':
    ..., 'distances': (N,) array}``; images never flipped count as +inf, images misclassified
    at eta = 0 count 0.

  Raises:
    ValueError: naming 'directions' or 'noise_fn' when they do not fit.
  """
  validation.check_images("images", images)
  validation.check_in_choices("directions", directions, ("gaussian", "uniform", "generator"))
  if directions == "generator" and noise_fn is None:
    raise ValueError("argument 'noise_fn': required for directions='generator'")
  if coarse_steps is None:
    coarse_steps = int(round(math.log(784) / math.log(coarse_base)))
  key = jax.random.PRNGKey(0) if key is None else key

  cache_key = (
    logits_fn,
    noise_fn,
    directions,
    coarse_base,
    coarse_steps,
    bisection_steps,
    params is None,
    noise_params is None,
  )
  run = _RUN_CACHE.get(cache_key)
  if run is None:

    def sample(np_, k, shape):
      if directions == "gaussian":
        return jax.random.normal(k, shape)
      if directions == "uniform":
        return jax.random.uniform(k, shape, minval=-1.0, maxval=1.0)
      return noise_fn(k, shape) if np_ is None else noise_fn(np_, k, shape)

    def run(p, np_, keys, x, y):
      lf = logits_fn if p is None else (lambda z: logits_fn(p, z))
      d = jax.vmap(lambda k: sample(np_, k, (1,) + x.shape[1:])[0])(keys)
      norms = jnp.sqrt(jnp.sum(jnp.square(d.reshape(d.shape[0], -1)), axis=1))
      d = d / jnp.maximum(norms, 1e-12).reshape((-1,) + (1,) * (x.ndim - 1))
      return _line_search(lf, x, y, d, coarse_base, coarse_steps, bisection_steps)

    run = jax.jit(run)
    if len(_RUN_CACHE) > 32:
      _RUN_CACHE.clear()
    _RUN_CACHE[cache_key] = run

  images = np.asarray(images, np.float32)
  inputs = {
    "key": np.asarray(jax.random.split(key, len(images))),
    "x": images,
    "y": np.asarray(labels, np.int32),
  }
  dist = batched.batched_apply(
    lambda b: run(params, noise_params, b["key"], b["x"], b["y"]), inputs, batch_size
  )
  finite = dist[np.isfinite(dist)]
  return {
    "eps_star": float(np.median(dist)),
    "mean_finite": float(finite.mean()) if finite.size else float("nan"),
    "fraction_unflipped": float(np.mean(~np.isfinite(dist))),
    "distances": dist,
  }
