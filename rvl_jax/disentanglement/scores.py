"""Array-level disentanglement scores: codes (n, d) and factors (n, F) in, a dict out.

All scores here are on the unit scale ([0, 1]); the representation-level functions in
`rvl_jax.disentanglement.metrics` (and `evaluate_all`) report them x100 like the paper.

Conventions follow the reference evaluation code (disentanglement_lib + the SlowVAE MCC module):
factors are integer indices for the discrete metrics, codes are real numbers (encoder means).
"""

from __future__ import annotations

import copy
import functools
import os
import time
import warnings
from concurrent import futures
from typing import Any

import numpy as np
import scipy.optimize
import scipy.stats
from absl import logging

from rvl_jax.core import validation
from rvl_jax.disentanglement import _checks


def _as_rng(seed_or_key) -> np.random.Generator:
  """An int seed, a numpy Generator or a JAX PRNG key (None -> seed 0) -> numpy Generator."""
  from rvl_jax.data import ground_truth  # local import keeps the array scores light

  return ground_truth.as_numpy_rng(0 if seed_or_key is None else seed_or_key)


def single_blas_thread(fn):
  """Runs ``fn`` with one BLAS thread.

  The metric problems are tiny in the feature dimension (d ~ 10 codes): multi-threaded BLAS only
  adds synchronisation, which is very costly on a loaded machine (a default LogisticRegression on
  128 x 10 points, 40 classes: 0.6 s with 2 OpenBLAS threads vs 0.016 s with one, measured on the
  shared 2-core CPU).
  """

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=1, user_api="blas"):
      return fn(*args, **kwargs)

  return wrapper


def _seed_from(rng: np.random.Generator) -> int:
  return int(rng.integers(0, 2**31 - 1))


# --------------------------------------------------------------------------------------------
# MCC
# --------------------------------------------------------------------------------------------


def _rank_columns(x: np.ndarray) -> np.ndarray:
  return scipy.stats.rankdata(x, axis=0, method="average")


def correlation_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Pearson correlation between the columns of two arrays.

  Args:
    a: (n, p) array.
    b: (n, q) array.

  Returns:
    (p, q) correlations in [-1, 1]; a constant column gives 0.
  """
  a = a - a.mean(axis=0)
  b = b - b.mean(axis=0)
  na = np.sqrt((a * a).sum(axis=0))
  nb = np.sqrt((b * b).sum(axis=0))
  with np.errstate(divide="ignore", invalid="ignore"):
    corr = (a.T @ b) / np.outer(na, nb)
  corr = np.where(np.isfinite(corr), corr, 0.0)  # constant columns: correlation treated as 0
  return np.clip(corr, -1.0, 1.0)


@single_blas_thread
def mean_corr_coef(
  latents, factors, method: str = "spearman", *, noise_padding: bool = True, key=0
) -> dict[str, Any]:
  """Mean correlation coefficient (MCC) with an optimal one-to-one latent assignment.

  Args:
    latents: (n, d) codes (e.g. encoder means), d >= F.
    factors: (n, F) ground-truth factors (discrete indices or continuous values).
    method: 'spearman' (the reference configuration) or 'pearson' (the function's default in the
      reference code; used for the synthetic experiments).
    noise_padding: pad the factors with d - F rows of N(0, 1) noise before the assignment, as the
      reference code does (the noise rows take part in the Hungarian matching but not in the
      score). False: rectangular assignment of the F factors only.
    key: seed / numpy Generator / JAX key for the padding noise.

  Returns:
    dict with 'score' (mean |corr| of the matched pairs, in [0, 1]), 'per_factor' (F,),
    'assignment' (F,) latent index matched to each factor, 'permutation' (d,) latent order
    (factors first, then noise rows / unmatched latents), 'correlation' (F, d) factor-by-latent
    correlation (unsorted), 'sorted_correlation' (d, d) padded-factor-by-reordered-latent matrix
    whose first F diagonal entries are the matched correlations.
  """
  if method not in ("spearman", "pearson"):
    raise ValueError(f"argument 'method': expected 'spearman' or 'pearson', got {method!r}")
  z = _checks.as_codes("latents", latents)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0], discrete=False)
  n, d = z.shape
  f = y.shape[1]
  if d < f:
    raise ValueError(
      f"argument 'latents': MCC needs at least as many latents as factors (one distinct latent "
      f"per factor), got {d} latents for {f} factors"
    )
  rng = _as_rng(key)
  if noise_padding and d > f:
    rows = np.concatenate([y, rng.standard_normal((n, d - f))], axis=1)
  else:
    rows = y
  if method == "spearman":
    rows_t, z_t = _rank_columns(rows), _rank_columns(z)
  else:
    rows_t, z_t = rows, z
  corr = correlation_matrix(rows_t, z_t)  # (rows, d)
  row_idx, col_idx = scipy.optimize.linear_sum_assignment(-np.abs(corr))
  perm = np.empty(rows.shape[1], dtype=np.int64)
  perm[row_idx] = col_idx
  if rows.shape[1] < d:  # rectangular assignment: append the unmatched latents
    rest = np.setdiff1d(np.arange(d), perm)
    perm = np.concatenate([perm, rest])
  sorted_corr = corr[:, perm] if rows.shape[1] == d else correlation_matrix(rows_t, z_t[:, perm])
  per_factor = np.abs(np.diag(sorted_corr)[:f])
  return {
    "score": float(per_factor.mean()),
    "per_factor": per_factor,
    "assignment": perm[:f].copy(),
    "permutation": perm,
    "correlation": corr[:f],
    "sorted_correlation": sorted_corr,
    "method": method,
  }


# --------------------------------------------------------------------------------------------
# Discretisation and mutual information
# --------------------------------------------------------------------------------------------


def histogram_discretize(codes, num_bins: int = 20) -> np.ndarray:
  """Equal-width histogram binning per code column (edges from np.histogram) -> ints in [0, bins).

  Matches the reference discretiser (np.digitize with the left edges, values 1..bins) shifted to
  start at 0.

  Args:
    codes: float codes (n, d).
    num_bins: bins per column.

  Returns:
    int64 (n, d) bin indices in [0, num_bins).
  """
  z = _checks.as_codes("codes", codes)
  num_bins = _checks.check_positive_int("num_bins", num_bins)
  out = np.empty(z.shape, dtype=np.int64)
  for i in range(z.shape[1]):
    edges = np.histogram(z[:, i], bins=num_bins)[1]
    out[:, i] = np.digitize(z[:, i], edges[:-1]) - 1
  return out


def _relabel(y: np.ndarray) -> tuple[np.ndarray, list[int]]:
  """Maps each column to contiguous labels 0..k-1; returns labels and per-column class counts."""
  out = np.empty(y.shape, dtype=np.int64)
  sizes = []
  for j in range(y.shape[1]):
    _, inv = np.unique(y[:, j], return_inverse=True)
    out[:, j] = inv.ravel()
    sizes.append(int(inv.max()) + 1)
  return out, sizes


def _one_hot_blocks(labels: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
  offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
  return labels + offsets, offsets


@single_blas_thread
def mutual_info_matrix(a_labels, b_labels, *, chunk: int = 20000) -> np.ndarray:
  """Discrete mutual information (nats) between every column of a (n, p) and of b (n, q) -> (p, q).

  Identical to sklearn.metrics.mutual_info_score applied pair by pair, computed for all pairs at
  once from one joint count matrix (one-hot products accumulated over chunks of rows).

  Args:
    a_labels: discrete labels (n, p).
    b_labels: discrete labels (n, q).
    chunk: rows per one-hot block (bounds memory).

  Returns:
    float64 (p, q) mutual information in nats.
  """
  a, sa = _relabel(np.asarray(a_labels))
  b, sb = _relabel(np.asarray(b_labels))
  n = a.shape[0]
  ia, oa = _one_hot_blocks(a, sa)
  ib, ob = _one_hot_blocks(b, sb)
  ta, tb = int(sum(sa)), int(sum(sb))
  joint = np.zeros((ta, tb), dtype=np.float64)
  for s in range(0, n, chunk):
    ca = np.zeros((min(chunk, n - s), ta), dtype=np.float32)
    cb = np.zeros((min(chunk, n - s), tb), dtype=np.float32)
    r = np.arange(ca.shape[0])[:, None]
    ca[r, ia[s : s + chunk]] = 1.0
    cb[r, ib[s : s + chunk]] = 1.0
    joint += (ca.T @ cb).astype(np.float64)  # per-chunk counts are exact in float32
  pa = np.concatenate([np.bincount(a[:, i], minlength=sa[i]) for i in range(a.shape[1])]) / n
  pb = np.concatenate([np.bincount(b[:, j], minlength=sb[j]) for j in range(b.shape[1])]) / n
  pj = joint / n
  with np.errstate(divide="ignore", invalid="ignore"):
    terms = np.where(pj > 0, pj * (np.log(pj) - np.log(np.outer(pa, pb))), 0.0)
  # Sum each (p_i x q_j) block.
  row_block = np.repeat(np.arange(len(sa)), sa)
  col_block = np.repeat(np.arange(len(sb)), sb)
  out = np.zeros((len(sa), len(sb)))
  np.add.at(out, (row_block[:, None], col_block[None, :]), terms)
  return np.maximum(out, 0.0)


def discrete_entropy(labels) -> np.ndarray:
  """Entropy of each column of discrete labels.

  Args:
    labels: discrete labels (n, q).

  Returns:
    float64 (q,) entropies in nats.
  """
  y, sizes = _relabel(np.asarray(labels))
  h = []
  for j in range(y.shape[1]):
    p = np.bincount(y[:, j], minlength=sizes[j]) / y.shape[0]
    p = p[p > 0]
    h.append(float(-(p * np.log(p)).sum()))
  return np.asarray(h)


# --------------------------------------------------------------------------------------------
# MIG
# --------------------------------------------------------------------------------------------


def mig(codes, factors, *, num_bins: int = 20) -> dict[str, Any]:
  """Mutual information gap (Chen et al. 2018) with the reference histogram discretiser.

  Args:
    codes: float codes (n, d).
    factors: integer factor values (n, F).
    num_bins: histogram bins per code (20 in the reference).

  Returns:
    'score' in [0, 1], 'per_factor' gaps (F,), 'mutual_info' (d, F) in nats, 'entropy' (F,).

  Raises:
    ValueError: naming 'codes' when there are fewer than 2 code dimensions.
  """
  z = _checks.as_codes("codes", codes)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0])
  if z.shape[1] < 2:
    raise ValueError(f"argument 'codes': MIG needs at least 2 code dimensions, got {z.shape[1]}")
  m = mutual_info_matrix(histogram_discretize(z, num_bins), y)
  h = discrete_entropy(y)
  top = np.sort(m, axis=0)[::-1]
  with np.errstate(divide="ignore", invalid="ignore"):
    gaps = np.where(h > 0, (top[0] - top[1]) / h, 0.0)
  return {"score": float(gaps.mean()), "per_factor": gaps, "mutual_info": m, "entropy": h}


# --------------------------------------------------------------------------------------------
# Modularity and Explicitness (Ridgeway & Mozer)
# --------------------------------------------------------------------------------------------


def modularity_from_mutual_info(mutual_info) -> tuple[float, np.ndarray]:
  m2 = np.asarray(mutual_info, dtype=np.float64) ** 2
  theta = m2.max(axis=1)
  f = m2.shape[1]
  with np.errstate(divide="ignore", invalid="ignore"):
    delta = (m2.sum(axis=1) - theta) / (theta * (f - 1.0))
    per = 1.0 - delta
  per = np.where(theta == 0.0, 0.0, per)
  return float(per.mean()), per


def modularity(codes, factors, *, num_bins: int = 20) -> dict[str, Any]:
  """Modularity (Ridgeway & Mozer 2018) from the binned-code x factor MI matrix.

  Args:
    codes: float codes (n, d).
    factors: integer factor values (n, F).
    num_bins: histogram bins per code.

  Returns:
    'score' in [0, 1], 'per_code' (d,), 'mutual_info' (d, F) in nats.

  Raises:
    ValueError: naming 'factors' when there are fewer than 2 factors.
  """
  z = _checks.as_codes("codes", codes)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0])
  if y.shape[1] < 2:
    raise ValueError(f"argument 'factors': modularity needs at least 2 factors, got {y.shape[1]}")
  m = mutual_info_matrix(histogram_discretize(z, num_bins), y)
  score, per = modularity_from_mutual_info(m)
  return {"score": score, "per_code": per, "mutual_info": m}


def _split_default(z, y, test_codes, test_factors, name):
  """Uses the given test set, or holds out the last third of the points (2:1 = 10,000:5,000)."""
  if (test_codes is None) != (test_factors is None):
    raise ValueError(f"{name}: pass both 'test_codes' and 'test_factors' or neither")
  if test_codes is None:
    n_train = int(round(z.shape[0] * 2 / 3))
    if n_train < 1 or n_train >= z.shape[0]:
      raise ValueError(
        f"argument 'codes': {name} needs at least 3 points to split, got {z.shape[0]}"
      )
    return z[:n_train], y[:n_train], z[n_train:], y[n_train:]
  zt = _checks.as_codes("test_codes", test_codes)
  if zt.shape[1] != z.shape[1]:
    raise ValueError(
      f"argument 'test_codes': expected {z.shape[1]} code dimensions (as 'codes'), got {zt.shape[1]}"
    )
  yt = _checks.as_factors("test_factors", test_factors, num_rows=zt.shape[0])
  if yt.shape[1] != y.shape[1]:
    raise ValueError(
      f"argument 'test_factors': expected {y.shape[1]} factors (as 'factors'), got {yt.shape[1]}"
    )
  return z, y, zt, yt


def _multiclass_auc(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
  """Macro one-vs-rest ROC-AUC over the class-indicator columns with both labels present."""
  from sklearn.metrics import roc_auc_score

  aucs = []
  for c_idx, c in enumerate(classes):
    t = y_true == c
    if t.all() or not t.any():
      continue
    aucs.append(roc_auc_score(t, proba[:, c_idx]))
  return float(np.mean(aucs)) if aucs else float("nan")


@single_blas_thread
def explicitness(
  codes, factors, test_codes=None, test_factors=None, *, key=0, max_iter: int = 100
) -> dict[str, Any]:
  """Explicitness (Ridgeway & Mozer): default LogisticRegression per factor on z-scored codes.

  Codes are z-scored with the training mean/std; per factor the one-vs-rest ROC-AUC of the
  predicted probabilities is averaged over the class columns. Without a test set, the last third
  of the points is held out.

  Args:
    codes: float codes (n, d).
    factors: integer factor values (n, F).
    test_codes: held-out codes (m, d), or None.
    test_factors: held-out factors (m, F), or None (both or neither).
    key: seed or key of the classifiers.
    max_iter: LogisticRegression iterations.

  Returns:
    'score' (test), 'train', 'per_factor_test', 'per_factor_train' (all in [0, 1]).
  """
  from sklearn.linear_model import LogisticRegression

  z = _checks.as_codes("codes", codes)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0])
  z, y, zt, yt = _split_default(z, y, test_codes, test_factors, "explicitness")
  mean, std = z.mean(axis=0), z.std(axis=0)
  std = np.where(std > 0, std, 1.0)
  zn, ztn = (z - mean) / std, (zt - mean) / std
  rng = _as_rng(key)
  tr, te = [], []
  for j in range(y.shape[1]):
    classes = np.unique(y[:, j])
    if classes.size < 2:
      tr.append(1.0), te.append(1.0)
      continue
    clf = LogisticRegression(max_iter=max_iter, random_state=_seed_from(rng))
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      clf.fit(zn, y[:, j])
    tr.append(_multiclass_auc(y[:, j], clf.predict_proba(zn), clf.classes_))
    te.append(_multiclass_auc(yt[:, j], clf.predict_proba(ztn), clf.classes_))
  tr, te = np.asarray(tr), np.asarray(te)
  return {
    "score": float(np.nanmean(te)),
    "train": float(np.nanmean(tr)),
    "per_factor_test": te,
    "per_factor_train": tr,
  }


# --------------------------------------------------------------------------------------------
# DCI (Eastwood & Williams) with gradient-boosted trees
# --------------------------------------------------------------------------------------------


def _entropy_base(p: np.ndarray, base: int, axis: int) -> np.ndarray:
  p = p / p.sum(axis=axis, keepdims=True)
  with np.errstate(divide="ignore", invalid="ignore"):
    h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=axis)
  return h / np.log(base)


def dci_from_importance(importance) -> dict[str, Any]:
  """Disentanglement and completeness (Eastwood & Williams 2018) from an importance matrix.

  Args:
    importance: R (d codes, F factors); an all-zero matrix counts as uniform.

  Returns:
    'disentanglement', 'completeness' (in [0, 1]), 'disentanglement_per_code',
    'completeness_per_factor', 'code_weight'.
  """
  r = np.abs(np.asarray(importance, dtype=np.float64))
  d, f = r.shape
  if r.sum() == 0.0:
    r = np.ones_like(r)
  dis_per_code = 1.0 - _entropy_base(r + 1e-11, base=f, axis=1) if f > 1 else np.ones(d)
  code_weight = r.sum(axis=1) / r.sum()
  comp_per_factor = 1.0 - _entropy_base(r + 1e-11, base=d, axis=0) if d > 1 else np.ones(f)
  factor_weight = r.sum(axis=0) / r.sum()
  return {
    "disentanglement": float((dis_per_code * code_weight).sum()),
    "completeness": float((comp_per_factor * factor_weight).sum()),
    "disentanglement_per_code": dis_per_code,
    "completeness_per_factor": comp_per_factor,
    "code_weight": code_weight,
  }


DCI_ESTIMATORS = ("gbt", "hist_gbt")


def _dci_estimator(
  estimator: str, n_estimators: int, max_depth: int, learning_rate: float, seed: int
):
  """The per-factor classifier of DCI.

  'gbt' is the reference: scikit-learn's exact GradientBoostingClassifier (no early stopping).
  'hist_gbt' is a faster approximation: HistGradientBoostingClassifier with the same number of
  boosting rounds, depth and learning rate, features binned into 255 quantiles, leaves of >= 1
  sample, no early stopping; its importances are split gains (see `_hist_gbt_importance`).
  """
  if estimator == "gbt":
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(
      n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate, random_state=seed
    )
  from sklearn.ensemble import HistGradientBoostingClassifier

  return HistGradientBoostingClassifier(
    max_iter=n_estimators,
    max_depth=max_depth,
    learning_rate=learning_rate,
    max_leaf_nodes=None,
    min_samples_leaf=1,
    l2_regularization=0.0,
    early_stopping=False,
    random_state=seed,
  )


def _hist_gbt_importance(model, num_codes: int) -> np.ndarray:
  """Gain importance of a fitted HistGradientBoostingClassifier (it has no feature_importances_).

  The loss reductions of all splits, summed per feature over every tree and normalised to sum 1 -
  the bookkeeping of GradientBoostingClassifier.feature_importances_ (raw impurity decreases
  averaged over trees, then normalised), with the gradient-boosting split gain in place of the
  squared-error impurity decrease.
  """
  total = np.zeros(num_codes)
  for stage in model._predictors:  # pylint: disable=protected-access
    for predictor in stage:
      nodes = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
      total += np.bincount(
        nodes["feature_idx"], weights=np.maximum(nodes["gain"], 0.0), minlength=num_codes
      )
  return total / total.sum() if total.sum() > 0 else total


# Range of the seed every scikit-learn tree splitter draws from its RandomState when it is built
# (RAND_R_MAX in sklearn/tree/_utils.pxd).
_TREE_SEED_MAX = 2147483647


# The parameters a GradientBoostingClassifier hands on, unchanged, to each regression tree it fits.
_TREE_PARAMS = (
  "max_depth",
  "min_samples_split",
  "min_samples_leaf",
  "min_weight_fraction_leaf",
  "min_impurity_decrease",
  "max_features",
  "max_leaf_nodes",
  "ccp_alpha",
)


@functools.lru_cache(maxsize=None)
def _stage_parallel_gbt_class():
  """GradientBoostingClassifier whose one-vs-rest trees of a boosting stage fit concurrently.

  A multiclass stage fits one regression tree per class on that class's column of the negative
  gradient (Friedman 2001, Algorithm 6), and the trees of a stage only read the gradient computed
  before them and write their own raw-prediction column, so they are independent given their
  seeds. In the stock loop each tree draws its splitter seed from the shared RandomState, in class
  order; here every tree gets a copy of the state it would have seen there, and the shared state
  is advanced by the same draws, so the fitted model is identical to the stock one (tested). The
  trees run on ``tree_pool_`` (a concurrent.futures executor, set after construction); without
  it, with one tree per stage, subsampling or sparse inputs, the stock stage runs.

  Two per-tree costs that cannot change the model are skipped (Python work under the GIL; up to
  about 15 % of a fit's CPU time at 1,000 points, a few per cent at 10,000): re-validating the
  tree's constructor arguments (scikit-learn's ``skip_parameter_validation``) and re-checking the
  all-ones sample weights the boosting loop passes (``None`` builds the same tree: the criterion
  multiplies by a weight of 1).
  """
  import sklearn
  from sklearn.ensemble import GradientBoostingClassifier
  from sklearn.ensemble._gb import _update_terminal_regions
  from sklearn.tree import DecisionTreeRegressor

  class StageParallelGradientBoostingClassifier(GradientBoostingClassifier):
    def _fit_stage(
      self,
      i,
      X,
      y,
      raw_predictions,
      sample_weight,
      sample_mask,
      random_state,
      X_csc=None,
      X_csr=None,
    ):
      pool = getattr(self, "tree_pool_", None)
      num_trees = self.n_trees_per_iteration_
      if pool is None or num_trees < 2 or self.subsample < 1.0 or X_csc is not None:
        return super()._fit_stage(
          i,
          X,
          y,
          raw_predictions,
          sample_weight,
          sample_mask,
          random_state,
          X_csc=X_csc,
          X_csr=X_csr,
        )
      neg_gradient = -self._loss.gradient(
        y_true=y, raw_prediction=raw_predictions, sample_weight=None
      )
      tree_states = []
      for _ in range(num_trees):
        tree_states.append(copy.deepcopy(random_state))
        random_state.randint(0, _TREE_SEED_MAX)
      unit_weights = sample_weight is None or bool(np.all(sample_weight == 1.0))

      def fit_tree(k):
        with sklearn.config_context(skip_parameter_validation=True):  # thread-local setting
          return fit_validated_tree(k)

      def fit_validated_tree(k):
        tree = DecisionTreeRegressor(
          criterion="squared_error",
          splitter="best",
          random_state=tree_states[k],
          **{name: getattr(self, name) for name in _TREE_PARAMS},
        )
        tree.fit(
          X,
          neg_gradient[:, k],
          sample_weight=None if unit_weights else sample_weight,
          check_input=False,
        )
        _update_terminal_regions(
          self._loss,
          tree.tree_,
          X,
          (y == k).astype(np.float64),
          neg_gradient[:, k],
          raw_predictions,
          sample_weight,
          sample_mask,
          learning_rate=self.learning_rate,
          k=k,
        )
        return tree

      self.estimators_[i, :] = list(pool.map(fit_tree, range(num_trees)))
      return raw_predictions

  return StageParallelGradientBoostingClassifier


def _dci_fit_factor(
  estimator: str, z, y, zt, yt, seed, n_estimators, max_depth, learning_rate, label, tree_pool=None
):
  """Fits one factor's classifier: (importance (d,), train accuracy, test accuracy).

  With ``tree_pool`` (reference estimator only) the trees of each boosting stage are fitted on
  that executor; the model is the same as without it.
  """
  if np.unique(y).size < 2:  # a constant factor carries no information to importance
    return np.zeros(z.shape[1]), 1.0, float(np.mean(yt == y[0]))
  from threadpoolctl import threadpool_limits  # a scikit-learn dependency

  if estimator == "gbt" and tree_pool is not None:
    model = _stage_parallel_gbt_class()(
      n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate, random_state=seed
    )
    model.tree_pool_ = tree_pool
  else:
    model = _dci_estimator(estimator, n_estimators, max_depth, learning_rate, seed)
  # One OpenMP thread per fit (the histogram estimator is OpenMP-parallel): the parallelism is
  # over factors, and nested thread pools only add synchronisation on a loaded machine.
  with threadpool_limits(limits=1, user_api="openmp"):
    t0 = time.perf_counter()
    model.fit(z, y)
    logging.info(
      "dci: %s (%d classes) fitted in %.1f s", label, np.unique(y).size, time.perf_counter() - t0
    )
    if estimator == "gbt":
      importance = np.abs(model.feature_importances_)
    else:
      importance = _hist_gbt_importance(model, z.shape[1])
    return (
      importance,
      float(np.mean(model.predict(z) == y)),
      float(np.mean(model.predict(zt) == yt)),
    )


@single_blas_thread
def dci(
  codes,
  factors,
  test_codes=None,
  test_factors=None,
  *,
  n_estimators: int = 100,
  max_depth: int = 3,
  learning_rate: float = 0.1,
  key=0,
  n_jobs: int | None = None,
  estimator: str = "gbt",
) -> dict[str, Any]:
  """DCI disentanglement with one gradient-boosted tree classifier per factor.

  Defaults equal the reference (scikit-learn's GradientBoostingClassifier with 100 trees, depth 3,
  learning rate 0.1). Without an explicit test set, the last third of the points is held out
  (10,000 + 5,000 like the reference when 15,000 points are passed).

  Args:
    codes: float codes (n, d).
    factors: integer factor values (n, F).
    test_codes: held-out codes (m, d), or None.
    test_factors: held-out factors (m, F), or None (both or neither).
    n_estimators: boosting rounds per factor.
    max_depth: tree depth.
    learning_rate: boosting learning rate.
    key: seed or key of the per-factor classifier seeds.
    n_jobs: threads fitting trees (the tree builder releases the GIL). With the reference
      estimator, all factors run at once and the one-vs-rest trees of each boosting stage go to
      one pool of n_jobs threads, so a 40-class factor no longer bounds the wall time; with
      'hist_gbt', factors are fitted n_jobs at a time. None: the CPU count. The per-factor seeds
      are drawn in factor order before any fit and each tree gets the seed of the sequential
      loop, so the scores are identical for every n_jobs.
    estimator: 'gbt' (reference, exact GradientBoostingClassifier) or 'hist_gbt' (a faster
      approximation, HistGradientBoostingClassifier with gain importances; its scores differ from
      the reference's - see docs/disentanglement.md).

  Returns:
    'score' (= disentanglement, in [0, 1]), 'disentanglement', 'completeness',
    'informativeness_train', 'informativeness_test' (accuracies), 'importance' (d, F) and the
    per-code / per-factor vectors.

  Raises:
    ValueError: naming 'estimator' or 'n_estimators' for a bad value.
  """
  import joblib  # a scikit-learn dependency

  validation.check_in_choices("estimator", estimator, DCI_ESTIMATORS)
  z = _checks.as_codes("codes", codes)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0])
  z, y, zt, yt = _split_default(z, y, test_codes, test_factors, "dci")
  n_estimators = _checks.check_positive_int("n_estimators", n_estimators)
  f = y.shape[1]
  if n_jobs is None:
    n_jobs = os.cpu_count() or 1
  n_jobs = _checks.check_positive_int("n_jobs", n_jobs)
  rng = _as_rng(key)
  seeds = [_seed_from(rng) for _ in range(f)]  # in factor order, whatever the fit order
  # Largest class counts first: multiclass boosting fits one tree per class and round, so this
  # order balances the workers (longest-processing-time-first scheduling).
  order = sorted(range(f), key=lambda j: -np.unique(y[:, j]).size)
  fit = [
    functools.partial(
      _dci_fit_factor,
      estimator,
      z,
      y[:, j],
      zt,
      yt[:, j],
      seeds[j],
      n_estimators,
      max_depth,
      learning_rate,
      f"factor {j + 1}/{f}",
    )
    for j in order
  ]
  if estimator == "gbt" and n_jobs > 1:
    # The factors only coordinate (gradients, line searches); their trees share one pool.
    with futures.ThreadPoolExecutor(n_jobs) as trees, futures.ThreadPoolExecutor(f) as factors:
      pending = [factors.submit(job, tree_pool=trees) for job in fit]
      fitted = [p.result() for p in pending]
  else:
    fitted = joblib.Parallel(n_jobs=n_jobs, backend="threading", batch_size=1)(
      joblib.delayed(job)() for job in fit
    )
  results = dict(zip(order, fitted))
  importance = np.stack([results[j][0] for j in range(f)], axis=1)
  acc_train = [results[j][1] for j in range(f)]
  acc_test = [results[j][2] for j in range(f)]
  out = dci_from_importance(importance)
  out.update(
    {
      "score": out["disentanglement"],
      "importance": importance,
      "informativeness_train": float(np.mean(acc_train)),
      "informativeness_test": float(np.mean(acc_test)),
      "accuracy_train_per_factor": np.asarray(acc_train),
      "accuracy_test_per_factor": np.asarray(acc_test),
    }
  )
  return out


# --------------------------------------------------------------------------------------------
# SAP (Kumar et al.)
# --------------------------------------------------------------------------------------------


@single_blas_thread
def sap(
  codes,
  factors,
  test_codes=None,
  test_factors=None,
  *,
  svm_c: float = 0.01,
  class_weight: str | None = "balanced",
  key=0,
) -> dict[str, Any]:
  """SAP score: per (code, factor) a LinearSVC on that single code; mean top-two accuracy gap.

  Defaults are the reference library's (C = 0.01, balanced class weights; the paper's prose says
  "default parameters": pass svm_c=1.0, class_weight=None for that). Without a test set, the last
  third of the points is held out.

  Args:
    codes: float codes (n, d).
    factors: integer factor values (n, F).
    test_codes: held-out codes (m, d), or None.
    test_factors: held-out factors (m, F), or None (both or neither).
    svm_c: LinearSVC regularisation C.
    class_weight: 'balanced' or None.
    key: seed or key of the classifiers.

  Returns:
    'score' in [0, 1], 'per_factor' gaps (F,) and 'score_matrix' (d, F).

  Raises:
    ValueError: naming 'codes' when there are fewer than 2 code dimensions.
  """
  from sklearn.svm import LinearSVC

  z = _checks.as_codes("codes", codes)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0])
  z, y, zt, yt = _split_default(z, y, test_codes, test_factors, "sap")
  if z.shape[1] < 2:
    raise ValueError(f"argument 'codes': SAP needs at least 2 code dimensions, got {z.shape[1]}")
  rng = _as_rng(key)
  d, f = z.shape[1], y.shape[1]
  s = np.zeros((d, f))
  for i in range(d):
    for j in range(f):
      seed = _seed_from(rng)
      if np.unique(y[:, j]).size < 2:
        s[i, j] = float(np.mean(yt[:, j] == y[0, j]))
        continue
      clf = LinearSVC(C=svm_c, class_weight=class_weight, random_state=seed)
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(z[:, i : i + 1], y[:, j])
      s[i, j] = float(np.mean(clf.predict(zt[:, i : i + 1]) == yt[:, j]))
  top = np.sort(s, axis=0)
  gaps = top[-1] - top[-2]
  return {"score": float(gaps.mean()), "per_factor": gaps, "score_matrix": s}


# --------------------------------------------------------------------------------------------
# BetaVAE and FactorVAE classifiers (the sampling lives in metrics.py)
# --------------------------------------------------------------------------------------------


@single_blas_thread
def beta_vae_from_features(
  train_features, train_labels, eval_features, eval_labels, *, key=0, max_iter: int = 100
) -> dict[str, Any]:
  """BetaVAE score: default LogisticRegression on mean |z1 - z2| features -> factor index."""
  from sklearn.linear_model import LogisticRegression

  x = _checks.as_codes("train_features", train_features)
  xe = _checks.as_codes("eval_features", eval_features)
  yl = np.asarray(train_labels).astype(np.int64).ravel()
  ye = np.asarray(eval_labels).astype(np.int64).ravel()
  if np.unique(yl).size < 2:
    acc = float(np.mean(ye == yl[0]))
    return {"score": acc, "train_accuracy": 1.0, "eval_accuracy": acc}
  clf = LogisticRegression(max_iter=max_iter, random_state=_seed_from(_as_rng(key)))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    clf.fit(x, yl)
  tr, ev = float(clf.score(x, yl)), float(clf.score(xe, ye))
  return {"score": ev, "train_accuracy": tr, "eval_accuracy": ev}


def factor_vae_from_votes(train_votes, eval_votes) -> dict[str, Any]:
  """FactorVAE majority-vote classifier: each latent predicts its most-voted factor."""
  tv = np.asarray(train_votes, dtype=np.float64)
  ev = np.asarray(eval_votes, dtype=np.float64)
  classifier = np.argmax(tv, axis=0)
  cols = np.arange(tv.shape[1])
  train_acc = float(tv[classifier, cols].sum() / max(tv.sum(), 1.0))
  eval_acc = float(ev[classifier, cols].sum() / max(ev.sum(), 1.0))
  return {
    "score": eval_acc,
    "train_accuracy": train_acc,
    "eval_accuracy": eval_acc,
    "classifier": classifier,
  }
