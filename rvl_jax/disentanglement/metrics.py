"""Representation-level disentanglement metrics (Klindt et al. 2021, App. C; disentanglement_lib).

Every metric has the same signature::

    compute_<metric>(representation_fn, dataset, key, *, <options>, <sample counts>,
                     representation_batch_size=256, jit=True) -> dict

* ``representation_fn``: images (n, H, W, C) float32 -> codes (n, d), any framework. JAX functions
  are jit-compiled once and applied in fixed-size padded batches (bounded memory); functions that
  cannot be traced (numpy, PyTorch, ...) are called batch by batch without jit.
* ``dataset``: a `rvl_jax.data.ground_truth.GroundTruthData` (a discrete factor grid).
* ``key``: a JAX PRNG key or an int seed; the result is a deterministic function of it.

Sample-count defaults are the reference configuration (disentanglement_lib, Locatello et al.
2019), held once in ``DEFAULT_COUNTS``; pass smaller counts explicitly for quick runs (see
`scaled_counts`). An unknown keyword raises TypeError naming it. Scores are reported x100 like the
paper; the intermediate matrices come along in the returned dict, and ``timing`` separates
rendering the images (``data_s``), computing the representation (``representation_s``) and the
metric itself (``metric_s``).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
from absl import logging

from rvl_jax.core import batched, prng, validation
from rvl_jax.core import progress as _progress
from rvl_jax.data import ground_truth
from rvl_jax.disentanglement import _checks, scores

# Reference configuration (the disentanglement_lib gin files of the SlowVAE release).
DEFAULT_COUNTS: dict[str, dict[str, int]] = {
  "mcc": {"num_train": 10_000},
  "beta_vae": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000},
  "factor_vae": {
    "batch_size": 64,
    "num_train": 10_000,
    "num_eval": 5_000,
    "num_variance_estimate": 10_000,
  },
  "mig": {"num_train": 100_000},
  "dci": {"num_train": 10_000, "num_test": 5_000},
  "sap": {"num_train": 10_000, "num_test": 5_000},
  "modularity": {"num_train": 100_000, "num_test": 5_000},
}
ALL_METRICS: tuple[str, ...] = tuple(DEFAULT_COUNTS)
# The smallest value a metric accepts for a count (1 where not named): variances and correlations
# need two points.
_LEAST_COUNTS: dict[str, dict[str, int]] = {
  "factor_vae": {"batch_size": 2, "num_variance_estimate": 2},
  **{m: {"num_train": 2} for m in ("mcc", "beta_vae", "mig", "dci", "sap", "modularity")},
}
# The keywords every compute_<metric> takes besides its counts and options, with their defaults.
_REPRESENTATION_DEFAULTS = {"representation_batch_size": 256, "jit": True}


def scaled_counts(
  factor: float, *, minimum: int = 2, metrics: Sequence[str] = ALL_METRICS
) -> dict[str, dict[str, int]]:
  """Reference sample counts multiplied by ``factor`` (batch sizes kept) - an explicit reduction.

  Args:
    factor: the multiplier (e.g. 0.1).
    minimum: the smallest count returned.
    metrics: the metrics to include.

  Returns:
    ``{metric: {count name: count}}``, to pass as ``counts=`` to ``evaluate_all``.
  """
  out = {}
  for name in metrics:
    out[name] = {
      k: (v if k == "batch_size" else max(minimum, int(round(v * factor))))
      for k, v in DEFAULT_COUNTS[name].items()
    }
  return out


def as_key(key) -> jax.Array:
  if isinstance(key, (int, np.integer)):
    return jax.random.PRNGKey(int(key))
  return key


def metric_rng(key, metric: str) -> np.random.Generator:
  """The numpy Generator a metric draws from: the key's stream named 'metric/<metric>', so a
  metric's result does not depend on which other metrics are computed."""
  return ground_truth.as_numpy_rng(prng.fold_in_name(as_key(key), f"metric/{metric}"))


class Timer:
  """Accumulates wall time per phase ('data', 'representation'); metric time is the rest."""

  def __init__(self):
    self.t0 = time.perf_counter()
    self.acc = {"data": 0.0, "representation": 0.0}

  def add(self, phase: str, seconds: float):
    self.acc[phase] += seconds

  def summary(self) -> dict[str, float]:
    total = time.perf_counter() - self.t0
    return {
      "data_s": self.acc["data"],
      "representation_s": self.acc["representation"],
      "metric_s": max(total - self.acc["data"] - self.acc["representation"], 0.0),
      "total_s": total,
    }


_TRACE_ERRORS = (
  jax.errors.TracerArrayConversionError,
  jax.errors.ConcretizationTypeError,
  jax.errors.TracerIntegerConversionError,
  jax.errors.TracerBoolConversionError,
)


class Representation:
  """Wraps images -> codes for bounded-memory, jit-compiled, batched evaluation.

  Args:
    fn: images (n, H, W, C) -> codes (n, d); any framework (outputs are converted to numpy).
    batch_size: images per call (the last batch is padded, so a jitted fn compiles once).
    jit: True (default) jit-compiles fn; if tracing fails (a non-JAX function) it falls back to
      plain calls with a log message. False never jits.
  """

  def __init__(self, fn: Callable[[Any], Any], batch_size: int = 256, jit: bool = True):
    if not callable(fn):
      raise TypeError(
        f"argument 'representation_fn': expected a callable images -> codes, got "
        f"{type(fn).__name__}"
      )
    self.fn = fn
    self.batch_size = _checks.check_positive_int("representation_batch_size", batch_size)
    self._jitted = jax.jit(fn) if jit else None
    self.num_codes: int | None = None

  def _call(self, x):
    if self._jitted is not None:
      try:
        return self._jitted(x)
      except _TRACE_ERRORS as e:
        logging.info(
          "representation_fn is not traceable by jax.jit (%s); calling it without jit.",
          type(e).__name__,
        )
        self._jitted = None
    return self.fn(x)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    codes = batched.batched_apply(self._call, images, self.batch_size)
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] != np.shape(images)[0]:
      raise ValueError(
        f"argument 'representation_fn': expected codes of shape (n, d) for {np.shape(images)[0]} "
        f"images, got shape {codes.shape}"
      )
    if not np.all(np.isfinite(codes)):
      bad = int(np.sum(~np.isfinite(codes)))
      raise ValueError(
        f"argument 'representation_fn': expected finite codes, got {bad} NaN/inf entries "
        f"(of {codes.size}); the representation is broken (diverged training?)"
      )
    if self.num_codes is None:
      self.num_codes = codes.shape[1]
    return codes.astype(np.float64)


def _as_representation(fn, batch_size: int, jit: bool) -> Representation:
  return fn if isinstance(fn, Representation) else Representation(fn, batch_size, jit)


def is_factor_grid(dataset) -> bool:
  """True for a discrete factor grid (GroundTruthData-like): every metric applies."""
  return all(
    hasattr(dataset, a)
    for a in ("factor_sizes", "sample_factors", "images_from_factors", "num_factors")
  )


def _check_dataset(dataset, *, allow_continuous: bool = False) -> None:
  if is_factor_grid(dataset):
    return
  if allow_continuous and callable(getattr(dataset, "sample", None)):
    return
  needed = ("factor_sizes", "sample_factors", "images_from_factors", "num_factors")
  missing = [a for a in needed if not hasattr(dataset, a)]
  extra = (
    (" or, for MCC on continuous data, an object with sample(rng, n) -> (factors, observations)")
    if allow_continuous
    else " (continuous data sets support MCC only)"
  )
  raise TypeError(
    f"argument 'dataset': expected a GroundTruthData (factor grid) with {needed}{extra}, got "
    f"{type(dataset).__name__} missing {missing}"
  )


def codes_for_factors(
  rep: Representation,
  dataset,
  factors: np.ndarray,
  timer: Timer,
  chunk: int = 4096,
  desc: str | None = None,
) -> np.ndarray:
  """Renders and encodes factor vectors (n, F) in chunks of ``chunk`` images -> codes (n, d)."""
  out = []
  starts = range(0, factors.shape[0], chunk)
  if desc is not None and factors.shape[0] > 4 * chunk:
    starts = _progress.progress(starts, desc=desc, unit="chunk")
  for s in starts:
    t = time.perf_counter()
    images = dataset.images_from_factors(factors[s : s + chunk])
    timer.add("data", time.perf_counter() - t)
    t = time.perf_counter()
    out.append(rep(images))
    timer.add("representation", time.perf_counter() - t)
  return np.concatenate(out, axis=0)


def sample_codes(
  rep: Representation,
  dataset,
  rng: np.random.Generator,
  num: int,
  timer: Timer,
  desc: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """(codes (num, d), factors (num, F)) for uniformly drawn grid points.

  A continuous source (no factor grid) is sampled with ``dataset.sample(rng, num) -> (factors,
  observations)``; its factors may be real-valued (MCC only).
  """
  if not is_factor_grid(dataset):
    t = time.perf_counter()
    factors, obs = dataset.sample(rng, num)
    timer.add("data", time.perf_counter() - t)
    t = time.perf_counter()
    codes = rep(np.asarray(obs))
    timer.add("representation", time.perf_counter() - t)
    return codes, np.asarray(factors)
  factors = dataset.sample_factors(rng, num)
  return codes_for_factors(rep, dataset, factors, timer, desc=desc), factors


def _begin(name: str, representation_fn, dataset, key, settings: dict, allow_continuous=False):
  """The common start of every ``compute_<metric>``.

  Checks the data set and ``settings`` (the sample counts of ``DEFAULT_COUNTS[name]``, defaults
  filled in, plus ``representation_batch_size`` and ``jit``); returns the wrapped representation, a
  fresh timer, the metric's numpy stream and the checked counts.
  """
  known = {**DEFAULT_COUNTS[name], **_REPRESENTATION_DEFAULTS}
  for k in settings:
    if k not in known:
      raise TypeError(
        f"compute_{name}() got an unexpected keyword argument {k!r}; expected one of {list(known)}"
      )
  _check_dataset(dataset, allow_continuous=allow_continuous)
  settings = {**known, **settings}
  least = _LEAST_COUNTS.get(name, {})
  counts = {
    k: _checks.check_positive_int(k, settings[k], least.get(k, 1)) for k in DEFAULT_COUNTS[name]
  }
  rep = _as_representation(
    representation_fn, settings["representation_batch_size"], settings["jit"]
  )
  return rep, Timer(), metric_rng(key, name), counts


def _train_test_codes(rep, dataset, rng, timer, counts: dict, desc: str | None = None):
  """(codes, factors) of ``counts['num_train']`` then of ``counts['num_test']`` grid points."""
  z, y = sample_codes(rep, dataset, rng, counts["num_train"], timer, desc=desc)
  zt, yt = sample_codes(rep, dataset, rng, counts["num_test"], timer)
  return z, y, zt, yt


def _finish(name: str, details: dict, timer: Timer, counts: dict, percent=()) -> dict:
  """The result dict: 'score' (x100, popped from ``details``), the details (those named in
  ``percent`` x100), 'timing', 'counts' and 'metric'."""
  out = {"score": 100.0 * details.pop("score")}
  for k in percent:
    details[k] = 100.0 * details[k]
  out.update(details)
  out["timing"] = timer.summary()
  out["counts"] = dict(counts)
  out["metric"] = name
  return out


# --------------------------------------------------------------------------------------------
# MCC
# --------------------------------------------------------------------------------------------


def compute_mcc(
  representation_fn,
  dataset,
  key,
  *,
  method: str = "spearman",
  noise_padding: bool = True,
  keep_codes: bool = False,
  **settings,
) -> dict:
  """MCC x100 (Klindt et al. 2021, App. C): rank correlation + Hungarian assignment, noise padding.

  With ``keep_codes`` the sampled 'codes' (n, d) and 'factors' (n, F) are returned too (for the
  figures of `rvl_jax.disentanglement.plots`). ``dataset`` may also be a continuous source with
  ``sample(rng, n) -> (factors, observations)`` (KITTI Masks, continuous Natural Sprites).

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (continuous sources allowed).
    method: 'spearman' | 'pearson'.
    noise_padding: d - F rows of N(0, 1) noise take part in the assignment (the reference).
    keep_codes: also return the sampled codes and factors.
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['mcc']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: num_train, points sampled.

  Returns:
    A dict: 'score' (x100); the details 'per_factor', 'correlation', 'sorted_correlation',
    'assignment', 'permutation' (with ``keep_codes`` also 'codes', 'factors'); 'timing' (seconds
    rendering / encoding / scoring); 'counts' (the sample counts used); 'metric' (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  rep, timer, rng, n = _begin("mcc", representation_fn, dataset, key, settings, True)
  codes, factors = sample_codes(rep, dataset, rng, n["num_train"], timer, desc="mcc")
  res = scores.mean_corr_coef(codes, factors, method=method, noise_padding=noise_padding, key=rng)
  if keep_codes:
    res["codes"], res["factors"] = codes, factors
  return _finish("mcc", res, timer, n, percent=("per_factor",))


# --------------------------------------------------------------------------------------------
# BetaVAE
# --------------------------------------------------------------------------------------------


def _beta_vae_points(rep, dataset, rng, num_points, batch_size, timer, chunk_points, bar=None):
  f_count = dataset.num_factors
  feats, labels = [], []
  for s in range(0, num_points, chunk_points):
    p = min(chunk_points, num_points - s)
    k = rng.integers(0, f_count, size=p)
    f1 = dataset.sample_factors(rng, p * batch_size).reshape(p, batch_size, f_count)
    f2 = dataset.sample_factors(rng, p * batch_size).reshape(p, batch_size, f_count)
    rows = np.arange(p)
    f2[rows, :, k] = f1[rows, :, k]
    both = np.concatenate([f1.reshape(-1, f_count), f2.reshape(-1, f_count)], axis=0)
    codes = codes_for_factors(rep, dataset, both, timer)
    c1 = codes[: p * batch_size].reshape(p, batch_size, -1)
    c2 = codes[p * batch_size :].reshape(p, batch_size, -1)
    feats.append(np.mean(np.abs(c1 - c2), axis=1))
    labels.append(k)
    if bar is not None:
      bar.update(p)
  return np.concatenate(feats), np.concatenate(labels)


def compute_beta_vae(representation_fn, dataset, key, **settings) -> dict:
  """BetaVAE score x100 (Higgins et al. 2017): LogisticRegression on mean |z1 - z2| of pairs.

  Each point is the mean absolute code difference of ``batch_size`` image pairs sharing one
  factor k; the classifier predicts k.

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (a factor grid).
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['beta_vae']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: batch_size, pairs per point;
      num_train, training points; num_eval, evaluation points.

  Returns:
    A dict: 'score' (x100); the details 'train_accuracy', 'eval_accuracy' (x100); 'timing' (seconds
    rendering / encoding / scoring); 'counts' (the sample counts used); 'metric' (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  rep, timer, rng, n = _begin("beta_vae", representation_fn, dataset, key, settings)
  batch_size, num_train, num_eval = n.values()
  chunk_points = max(1, 4096 // (2 * batch_size))
  bar = _progress.progress(total=num_train + num_eval, desc="beta_vae", unit="pt")
  xt, yt = _beta_vae_points(rep, dataset, rng, num_train, batch_size, timer, chunk_points, bar)
  xe, ye = _beta_vae_points(rep, dataset, rng, num_eval, batch_size, timer, chunk_points, bar)
  bar.close()
  res = scores.beta_vae_from_features(xt, yt, xe, ye, key=rng)
  return _finish("beta_vae", res, timer, n, percent=("train_accuracy", "eval_accuracy"))


# --------------------------------------------------------------------------------------------
# FactorVAE
# --------------------------------------------------------------------------------------------


def _factor_vae_votes(rep, dataset, rng, sizes, batch_size, global_var, active, timer, parity):
  """Vote matrices (F, d), one for each number of points in ``sizes`` (train, eval), drawn in
  turn from ``rng``."""
  f_count = dataset.num_factors
  active_idx = np.flatnonzero(active)
  chunk_points = max(1, 4096 // batch_size)
  bar = _progress.progress(total=sum(sizes), desc="factor_vae", unit="pt")
  out = []
  for num_points in sizes:
    votes = np.zeros((f_count, global_var.shape[0]), dtype=np.int64)
    for s in range(0, num_points, chunk_points):
      p = min(chunk_points, num_points - s)
      k = rng.integers(0, f_count, size=p)
      f = dataset.sample_factors(rng, p * batch_size).reshape(p, batch_size, f_count)
      rows = np.arange(p)
      f[rows, :, k] = f[rows, 0, k][:, None]
      codes = codes_for_factors(rep, dataset, f.reshape(-1, f_count), timer)
      local_var = np.var(codes.reshape(p, batch_size, -1), axis=1, ddof=1)
      ratio = local_var[:, active] / global_var[active]
      arg = np.argmin(ratio, axis=1)
      # disentanglement_lib quirk: the argmin is taken within the active subset but used as a
      # latent index. library_parity=False maps it back to the true latent index.
      latent = arg if parity else active_idx[arg]
      np.add.at(votes, (k, latent), 1)
      bar.update(p)
    out.append(votes)
  bar.close()
  return out


def compute_factor_vae(
  representation_fn,
  dataset,
  key,
  *,
  prune_threshold: float = 0.05,
  prune_on: str = "std",
  library_parity: bool = True,
  **settings,
) -> dict:
  """FactorVAE score x100 (Kim & Mnih 2018): majority vote of argmin normalised local variance.

  prune_on='std' (library: active if std >= 0.05) or 'variance' (paper prose: variance >= 0.05).

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (a factor grid).
    prune_threshold: activity threshold of a code.
    prune_on: 'std' | 'variance'.
    library_parity: use the argmin index within the active codes as a latent index, as
      disentanglement_lib does.
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['factor_vae']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: batch_size,
      images per vote; num_train, training votes; num_eval, evaluation votes;
      num_variance_estimate, points for the global code variance.

  Returns:
    A dict: 'score' (x100); the details 'train_accuracy', 'eval_accuracy' (x100), 'train_votes',
    'eval_votes'; 'timing' (seconds rendering / encoding / scoring); 'counts' (the sample counts
    used); 'metric' (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  validation.check_in_choices("prune_on", prune_on, ("std", "variance"))
  rep, timer, rng, counts = _begin("factor_vae", representation_fn, dataset, key, settings)
  batch_size, num_train, num_eval, num_variance_estimate = counts.values()
  codes, _ = sample_codes(rep, dataset, rng, num_variance_estimate, timer)
  global_var = np.var(codes, axis=0, ddof=1)
  stat = np.sqrt(global_var) if prune_on == "std" else global_var
  active = stat >= prune_threshold
  if not active.any():
    return _finish(
      "factor_vae",
      {
        "score": 0.0,
        "train_accuracy": 0.0,
        "eval_accuracy": 0.0,
        "num_active_dims": 0,
        "global_variance": global_var,
      },
      timer,
      counts,
    )
  sizes = (num_train, num_eval)
  tv, ev = _factor_vae_votes(
    rep, dataset, rng, sizes, batch_size, global_var, active, timer, library_parity
  )
  res = scores.factor_vae_from_votes(tv, ev)
  res.update(
    {
      "num_active_dims": int(active.sum()),
      "global_variance": global_var,
      "train_votes": tv,
      "eval_votes": ev,
    }
  )
  return _finish("factor_vae", res, timer, counts, percent=("train_accuracy", "eval_accuracy"))


# --------------------------------------------------------------------------------------------
# MIG, DCI, SAP, Modularity / Explicitness
# --------------------------------------------------------------------------------------------


def compute_mig(
  representation_fn,
  dataset,
  key,
  *,
  num_bins: int = 20,
  **settings,
) -> dict:
  """MIG x100 (Chen et al. 2018): histogram discretisation, MI gap normalised by factor entropy.

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (a factor grid).
    num_bins: equal-width histogram bins per code.
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['mig']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: num_train, points sampled.

  Returns:
    A dict: 'score' (x100); the details 'per_factor' (x100), 'mutual_info'; 'timing' (seconds
    rendering / encoding / scoring); 'counts' (the sample counts used); 'metric' (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  rep, timer, rng, n = _begin("mig", representation_fn, dataset, key, settings)
  codes, factors = sample_codes(rep, dataset, rng, n["num_train"], timer, desc="mig")
  res = scores.mig(codes, factors, num_bins=num_bins)
  return _finish("mig", res, timer, n, percent=("per_factor",))


def compute_dci(
  representation_fn,
  dataset,
  key,
  *,
  n_estimators: int = 100,
  n_jobs: int | None = None,
  estimator: str = "gbt",
  **settings,
) -> dict:
  """DCI disentanglement x100 (Eastwood & Williams 2018), one GradientBoostingClassifier per factor.

  Also returns completeness and informativeness (x100) and the importance matrix (d, F).
  n_estimators=100 is the reference; fewer trees is an explicit speed/fidelity trade-off.
  ``n_jobs`` tree-fitting threads (see `scores.dci`; identical scores for every value);
  ``estimator='hist_gbt'`` is the faster, approximate histogram estimator (see `scores.dci`).

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (a factor grid).
    n_estimators: boosting rounds per factor.
    n_jobs: factors fitted in parallel (None: min(factors, CPUs)).
    estimator: 'gbt' | 'hist_gbt'.
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['dci']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: num_train, training
      points; num_test, test points.

  Returns:
    A dict: 'score' (x100); the details 'disentanglement', 'completeness', 'informativeness_train',
    'informativeness_test' (x100), 'importance'; 'timing' (seconds rendering / encoding / scoring);
    'counts' (the sample counts used); 'metric' (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  rep, timer, rng, n = _begin("dci", representation_fn, dataset, key, settings)
  z, y, zt, yt = _train_test_codes(rep, dataset, rng, timer, n)
  res = scores.dci(
    z, y, zt, yt, n_estimators=n_estimators, key=rng, n_jobs=n_jobs, estimator=estimator
  )
  n.update(n_estimators=n_estimators, estimator=estimator)
  percent = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
  return _finish("dci", res, timer, n, percent)


def compute_sap(
  representation_fn,
  dataset,
  key,
  *,
  svm_c: float = 0.01,
  class_weight: str | None = "balanced",
  **settings,
) -> dict:
  """SAP x100 (Kumar et al. 2018): LinearSVC(C=0.01, balanced) per (code, factor), top-two gap.

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (a factor grid).
    svm_c: the LinearSVC regularisation C.
    class_weight: LinearSVC class weights ('balanced' or None).
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['sap']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: num_train, training
      points; num_test, test points.

  Returns:
    A dict: 'score' (x100); the details 'score_matrix'; 'timing' (seconds rendering / encoding /
    scoring); 'counts' (the sample counts used); 'metric' (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  rep, timer, rng, n = _begin("sap", representation_fn, dataset, key, settings)
  z, y, zt, yt = _train_test_codes(rep, dataset, rng, timer, n)
  res = scores.sap(z, y, zt, yt, svm_c=svm_c, class_weight=class_weight, key=rng)
  return _finish("sap", res, timer, n, percent=("per_factor",))


def compute_modularity(
  representation_fn,
  dataset,
  key,
  *,
  num_bins: int = 20,
  explicitness: bool = True,
  **settings,
) -> dict:
  """Modularity x100 (+ Explicitness x100 when ``explicitness``) (Ridgeway & Mozer 2018).

  Args:
    representation_fn, dataset, key: as in ``evaluate_all`` (a factor grid).
    num_bins: histogram bins per code for the mutual information.
    explicitness: also fit the Explicitness classifiers.
    **settings: the sample counts (defaults ``DEFAULT_COUNTS['modularity']``) and
      ``representation_batch_size``, ``jit`` (as in ``evaluate_all``); the counts: num_train,
      training points; num_test, test points (Explicitness).

  Returns:
    A dict: 'score' (x100); the details 'mutual_info', with ``explicitness`` 'explicitness' (x100);
    'timing' (seconds rendering / encoding / scoring); 'counts' (the sample counts used); 'metric'
    (the name).

  Raises:
    ValueError: naming the argument for a non-positive count or an unknown option.
  """
  rep, timer, rng, n = _begin("modularity", representation_fn, dataset, key, settings)
  z, y, zt, yt = _train_test_codes(rep, dataset, rng, timer, n, desc="modularity")
  res = scores.modularity(z, y, num_bins=num_bins)
  if explicitness:
    ex = scores.explicitness(z, y, zt, yt, key=rng)
    res.update(
      {
        "explicitness": 100.0 * ex["score"],
        "explicitness_train": 100.0 * ex["train"],
        "explicitness_per_factor": 100.0 * ex["per_factor_test"],
      }
    )
  return _finish("modularity", res, timer, n)


_COMPUTE = {
  "mcc": compute_mcc,
  "beta_vae": compute_beta_vae,
  "factor_vae": compute_factor_vae,
  "mig": compute_mig,
  "dci": compute_dci,
  "sap": compute_sap,
  "modularity": compute_modularity,
}

# Extra scalar outputs copied into the flat summary of evaluate_all.
_EXTRA_SCALARS = {
  "dci": ("completeness", "informativeness_train", "informativeness_test"),
  "modularity": ("explicitness",),
  "beta_vae": ("train_accuracy",),
  "factor_vae": ("train_accuracy", "num_active_dims"),
}


def evaluate_all(
  representation_fn,
  dataset,
  key,
  *,
  metrics: Sequence[str] | None = None,
  counts: Mapping[str, Mapping[str, int]] | None = None,
  options: Mapping[str, Mapping[str, Any]] | None = None,
  representation_batch_size: int = 256,
  jit: bool = True,
  **count_overrides: int,
) -> dict:
  """Runs every metric of Klindt et al. 2021, App. C (or the chosen ``metrics``) on one
  representation.

  Args:
    representation_fn: images -> codes (n, d), any framework.
    dataset: a GroundTruthData factor grid (all metrics), or a continuous source with
      ``sample(rng, n) -> (factors, observations)`` (MCC only; the default then).
    key: JAX PRNG key or int seed; each metric draws from its own fold of it.
    metrics: subset of ALL_METRICS (default: all).
    counts: per-metric sample counts, e.g. ``{'mig': {'num_train': 10_000}}`` or
      ``scaled_counts(0.1)``; missing entries use the reference configuration (DEFAULT_COUNTS).
    options: per-metric non-count options, e.g. ``{'mcc': {'method': 'pearson'},
      'dci': {'n_estimators': 30}, 'factor_vae': {'library_parity': False}}``.
    representation_batch_size: images per representation call.
    jit: try to jit-compile ``representation_fn`` (a function that cannot be traced is detected
      on the first batch and called without jit).
    **count_overrides: shorthand ``<metric>_<count>=value``, e.g. ``mig_num_train=10_000``.

  Returns:
    {'scores': {metric: x100 score, plus extras such as 'dci_completeness'},
     'details': {metric: full result dict with matrices and timing},
     'timing': {metric: {'data_s', 'representation_s', 'metric_s', 'total_s'}},
     'counts': {metric: counts used}}
  """
  _check_dataset(dataset, allow_continuous=True)
  grid = is_factor_grid(dataset)
  if metrics is None:
    metrics = ALL_METRICS if grid else ("mcc",)
  metrics = tuple(metrics)
  if not grid and tuple(metrics) != ("mcc",):
    raise ValueError(
      f"argument 'metrics': a continuous data set ({type(dataset).__name__}, no factor grid) "
      f"supports MCC only, got {list(metrics)}"
    )
  unknown = [m for m in metrics if m not in _COMPUTE]
  if unknown:
    raise ValueError(f"argument 'metrics': expected a subset of {list(ALL_METRICS)}, got {unknown}")
  used = copy.deepcopy(DEFAULT_COUNTS)
  for name, c in (counts or {}).items():
    if name not in used:
      raise ValueError(
        f"argument 'counts': unknown metric {name!r}; expected one of {list(ALL_METRICS)}"
      )
    for k, v in c.items():
      if k not in used[name]:
        raise ValueError(
          f"argument 'counts': metric {name!r} has no count {k!r}; expected one of "
          f"{list(used[name])}"
        )
      used[name][k] = v
  for flat, v in count_overrides.items():
    matched = [m for m in ALL_METRICS if flat.startswith(m + "_") and flat[len(m) + 1 :] in used[m]]
    if not matched:
      raise TypeError(
        f"evaluate_all() got an unexpected keyword argument {flat!r}; count "
        f"overrides look like '<metric>_<count>', e.g. 'mig_num_train'"
      )
    m = max(matched, key=len)
    used[m][flat[len(m) + 1 :]] = v
  options = dict(options or {})
  for name in options:
    if name not in _COMPUTE:
      raise ValueError(f"argument 'options': unknown metric {name!r}")
  rep = _as_representation(representation_fn, representation_batch_size, jit)
  out = {"scores": {}, "details": {}, "timing": {}, "counts": {}}
  for name in metrics:
    logging.info("disentanglement: computing %s with %s", name, used[name])
    res = _COMPUTE[name](rep, dataset, key, **used[name], **options.get(name, {}))
    out["scores"][name] = res["score"]
    for extra in _EXTRA_SCALARS.get(name, ()):
      if extra in res:
        out["scores"][f"{name}_{extra}"] = float(res[extra])
    out["details"][name] = res
    out["timing"][name] = res["timing"]
    out["counts"][name] = res["counts"]
    logging.info(
      "disentanglement: %s = %.2f (%.1f s)", name, res["score"], res["timing"]["total_s"]
    )
  return out
