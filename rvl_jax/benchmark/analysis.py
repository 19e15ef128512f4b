"""Analyses beyond the headline R^2 (Schott et al. 2022, Sec. 5).

All functions take predictions aligned with grid indices (the ``grid_indices`` returned by
``evaluate_model(..., return_predictions=True)``), so no re-inference is needed.

* :func:`modularity` -- ID-factor vs OOD-factor R^2 on D_one-ood (Schott et al. 2022, Sec. 5.2,
  Fig. 5; rvl default interpretation: per factor j, OOD R^2_j over the images whose OOD factor is j; ID R^2_j
  over the images whose OOD factor is not j; sigma^2 from the full grid; mean over j).
* :func:`mean_ratios` -- towards-the-mean ratios r = |f(x)_j - ybar_j| / |y_j - ybar_j| for
  the OOD factor of every D_one-ood image, ybar the train-split mean (Schott et al. 2022, Sec. 5.3,
  Eq. 2).
* :func:`ood_errors` / :func:`error_correlation` -- Pearson correlation of OOD-factor errors
  between models and with the true OOD values ("ground truth" row, Schott et al. 2022, Sec. 5.3).
* :func:`dci` -- DCI disentanglement of a code (delegates to rvl_jax.disentanglement).
"""

from __future__ import annotations

from typing import Dict, Mapping

import numpy as np

from rvl_jax.benchmark import datasets, splits


def _targets(name, grid_indices):
  spec = datasets.get_spec(name)
  f = datasets.index_to_factors(spec.factor_sizes, grid_indices)
  return datasets.normalize_factors(spec.factor_sizes, f).astype(np.float64)


def modularity(name: str, variant: str, grid_indices, predictions, **split_kw) -> Dict[str, float]:
  """OOD-factor and ID-factor R^2 on D_one-ood (see module docstring).

  Returns a flat dict: ``ood_rsquared_{f}``, ``id_rsquared_{f}``, ``ood_rsquared`` (mean over
  splittable factors that occur as OOD factor), ``id_rsquared`` (mean over all factors),
  ``n_one_ood``.
  """
  spec = datasets.get_spec(name)
  preds = np.asarray(predictions, np.float64)
  y = _targets(name, grid_indices)
  one, ood_f = splits.one_ood(name, variant, grid_indices, **split_kw)
  var = datasets.grid_variance(spec.factor_sizes)
  out = {"n_one_ood": int(one.sum())}
  ood, idr = [], []
  for j, fname in enumerate(spec.factor_names):
    sel_ood = one & (ood_f == j)
    sel_id = one & (ood_f != j)
    if sel_ood.any():
      r = 1.0 - np.mean((preds[sel_ood, j] - y[sel_ood, j]) ** 2) / var[j]
      out[f"ood_rsquared_{fname}"] = float(r)
      ood.append(r)
    if sel_id.any():
      r = 1.0 - np.mean((preds[sel_id, j] - y[sel_id, j]) ** 2) / var[j]
      out[f"id_rsquared_{fname}"] = float(r)
      idr.append(r)
  out["ood_rsquared"] = float(np.mean(ood)) if ood else float("nan")
  out["id_rsquared"] = float(np.mean(idr)) if idr else float("nan")
  return out


def ood_errors(name: str, variant: str, grid_indices, predictions, **split_kw):
  """Errors on the OOD factor of every D_one-ood image.

  Returns dict with ``error`` (prediction - truth), ``truth`` (normalised OOD value),
  ``prediction``, ``factor`` (OOD factor index), ``train_mean`` (of that factor) and
  ``mask`` (which input rows are in D_one-ood), all in input order.
  """
  preds = np.asarray(predictions, np.float64)
  y = _targets(name, grid_indices)
  one, ood_f = splits.one_ood(name, variant, grid_indices, **split_kw)
  rows = np.flatnonzero(one)
  f = ood_f[rows]
  mean = splits.train_mean(name, variant, **split_kw)
  return dict(
    error=preds[rows, f] - y[rows, f],
    truth=y[rows, f],
    prediction=preds[rows, f],
    factor=f,
    train_mean=mean[f],
    mask=one,
  )


def mean_ratios(name: str, variant: str, grid_indices, predictions, **split_kw) -> np.ndarray:
  """Towards-the-mean ratios r for the OOD factor of each D_one-ood image.

  Schott et al. 2022, Sec. 5.3, Eq. 2.
  """
  e = ood_errors(name, variant, grid_indices, predictions, **split_kw)
  denom = np.abs(e["truth"] - e["train_mean"])
  keep = denom > 1e-12
  return np.abs(e["prediction"][keep] - e["train_mean"][keep]) / denom[keep]


def ratio_summary(ratios) -> Dict[str, float]:
  r = np.asarray(ratios, np.float64)
  return {
    "ratio_share_in_0_1": float(np.mean((r >= 0) & (r <= 1))) if r.size else float("nan"),
    "ratio_median": float(np.median(r)) if r.size else float("nan"),
    "ratio_count": int(r.size),
  }


def pearson(a, b) -> float:
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  a = a - a.mean()
  b = b - b.mean()
  den = np.sqrt((a * a).sum() * (b * b).sum())
  return float((a * b).sum() / den) if den > 0 else float("nan")


def error_correlation(
  name: str,
  variant: str,
  grid_indices,
  predictions: Mapping[str, np.ndarray],
  subtract_train_mean: bool = False,
  **split_kw,
):
  """Pearson correlation matrix of OOD-factor errors between models (+ ground-truth row).

  ``predictions`` maps a model label to its predictions on the SAME images (``grid_indices``).
  Returns ``(labels, matrix)``: labels = model labels + ['ground truth']; the last row/column
  holds rho(e_m, y_ood) (or y_ood minus the factor's train mean with ``subtract_train_mean``).
  The diagonal (a model with itself) is set to NaN, as in the paper's figure.
  """
  labels = list(predictions)
  errs = {}
  truth = None
  for k in labels:
    e = ood_errors(name, variant, grid_indices, predictions[k], **split_kw)
    errs[k] = e["error"]
    truth = e["truth"] - (e["train_mean"] if subtract_train_mean else 0.0)
  vecs = [errs[k] for k in labels] + [truth]
  n = len(vecs)
  mat = np.full((n, n), np.nan)
  for i in range(n):
    for j in range(n):
      if i != j:
        mat[i, j] = pearson(vecs[i], vecs[j])
  return labels + ["ground truth"], mat


def dci(codes, factors, **kw) -> Dict[str, float]:
  """DCI disentanglement/completeness/informativeness of a code (rvl_jax.disentanglement.dci)."""
  from rvl_jax import disentanglement  # pylint: disable=import-outside-toplevel

  return disentanglement.dci(np.asarray(codes), np.asarray(factors), **kw)
