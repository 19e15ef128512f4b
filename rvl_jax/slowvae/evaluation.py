"""Scoring a trained representation with every disentanglement metric of Klindt et al. 2021
(App. C), with the figures of App. G.4: the library part of ``experiments.slowvae.evaluate``, which
loads the run and writes the results.

``score_representation(representation_fn, dataset, ...)`` returns a `RunScores` (flat scores, a
JSON summary, the metrics' matrices and the figures); ``resolve_loader('module:function')`` finds
the function that loads a run directory as ``(representation_fn, dataset)``.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, Mapping, Sequence

import numpy as np
from absl import logging

from rvl_jax.core import prng, validation
from rvl_jax.disentanglement import metrics as dm
from rvl_jax.disentanglement import plots

DEFAULT_LOADER = "rvl_jax.slowvae:load_representation"

# The matrices of the metrics' details kept in the .npz of a run's scores.
MATRIX_KEYS = (
  "correlation",
  "sorted_correlation",
  "mutual_info",
  "importance",
  "score_matrix",
  "permutation",
  "assignment",
  "train_votes",
  "eval_votes",
)


def resolve_loader(spec: str = DEFAULT_LOADER) -> Callable[[str], Any]:
  """'package.module:function' -> the function, with a clear error when it is missing.

  Args:
    spec: the loader, 'module:function'; the function maps a run directory to
      ``(representation_fn, dataset)``.

  Returns:
    The function.

  Raises:
    ValueError: naming 'loader' when ``spec`` has no ':'.
    RuntimeError: when the module cannot be imported or lacks the function.
  """
  if ":" not in spec:
    raise ValueError(f"argument 'loader': expected 'module:function', got {spec!r}")
  module_name, fn_name = spec.split(":", 1)
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise RuntimeError(
      f"cannot import {module_name!r} to load the run ({e}); the loader {spec!r} must exist "
      "and return (representation_fn, dataset)"
    ) from e
  fn = getattr(module, fn_name, None)
  if fn is None:
    raise RuntimeError(
      f"{module_name}.{fn_name}(workdir) is not available: the module exists but does not "
      f"define {fn_name!r}. It must return (representation_fn: images -> codes, dataset: "
      "GroundTruthData); pass --loader=module:function to use another loader."
    )
  return fn


@dataclasses.dataclass
class RunScores:
  """What ``score_representation`` computes for one run.

  Attributes:
    flat: 'disentanglement/<metric>' (x100), 'disentanglement/timing/<metric>_s' and
      'disentanglement/count_scale', the keys merged into a run's results.json.
    summary: scores, per-metric timing and counts, the scale, the MCC assignment and per-factor
      scores, the factor names (JSON-ready).
    matrices: '<metric>_<matrix>' arrays (correlation, MI, importance, SAP, votes).
    figures: 'correlation_heatmap', 'latent_scatter', 'best_vs_second' matplotlib figures.
  """

  flat: Dict[str, float]
  summary: Dict[str, Any]
  matrices: Dict[str, np.ndarray]
  figures: Dict[str, Any]


def _first_categorical(dataset) -> int | None:
  cat = tuple(getattr(dataset, "categorical", ()) or ())
  return cat.index(True) if True in cat else None


def _figures(representation_fn, dataset, key, options, num_plot_points: int):
  """The figures of Klindt et al. 2021 (App. G.4) from a separate fixed sample (independent of
  which metrics ran); returns (figures, factor names or None)."""
  mcc_opts = dict((options or {}).get("mcc", {}))
  plot_key = prng.fold_in_name(dm.as_key(key), "plots")
  plot_res = dm.compute_mcc(
    representation_fn,
    dataset,
    plot_key,
    num_train=max(num_plot_points, 100),
    keep_codes=True,
    **mcc_opts,
  )
  unit = dict(plot_res, score=plot_res["score"] / 100.0)
  codes, factors = plot_res["codes"], plot_res["factors"]
  names = list(getattr(dataset, "factor_names", None) or [])
  names = names if len(names) == factors.shape[1] else None
  color_by = _first_categorical(dataset)
  class_names = None
  if (
    names is not None
    and color_by is not None
    and names[color_by] == "shape"
    and tuple(getattr(dataset, "factor_sizes", ()))[color_by : color_by + 1] == (3,)
  ):
    class_names = ["square", "ellipse", "heart"]  # dSprites shape order
  figures = {
    "correlation_heatmap": plots.correlation_heatmap(unit, factor_names=names),
    "latent_scatter": plots.latent_scatter(
      codes,
      factors,
      unit,
      factor_names=names,
      color_by=color_by,
      class_names=class_names,
      num_points=num_plot_points,
    ),
    "best_vs_second": plots.best_vs_second_scatter(
      codes, factors, unit, factor_names=names, num_points=num_plot_points
    ),
  }
  return figures, names


def score_representation(
  representation_fn,
  dataset,
  *,
  key=0,
  metrics: Sequence[str] | None = None,
  scale: float = 1.0,
  options: Mapping[str, Mapping[str, Any]] | None = None,
  num_plot_points: int = 2000,
) -> RunScores:
  """Every metric (or ``metrics``) of ``rvl_jax.disentanglement.evaluate_all`` and the figures.

  Args:
    representation_fn, dataset, key, options: as in ``evaluate_all``.
    metrics: the metrics (default: all on a factor grid, MCC only on a continuous source).
    scale: multiplier on the reference sample counts (``scaled_counts``; 1.0: the reference).
    num_plot_points: points in the scatter figures.

  Returns:
    A `RunScores`.

  Raises:
    ValueError: naming 'scale' when it is not positive.
  """
  if not scale > 0:
    raise ValueError(f"argument 'scale': expected a positive number, got {scale!r}")
  validation.check_positive_int("num_plot_points", num_plot_points)
  if metrics is None:
    metrics = dm.ALL_METRICS if dm.is_factor_grid(dataset) else ("mcc",)
  metrics = tuple(metrics)
  counts = dm.scaled_counts(scale, metrics=metrics) if scale != 1.0 else None
  logging.info(
    "scoring %s with metrics %s (scale %g)",
    getattr(dataset, "name", type(dataset).__name__),
    metrics,
    scale,
  )
  out = dm.evaluate_all(
    representation_fn, dataset, key, metrics=metrics, counts=counts, options=options
  )
  details = out["details"]
  figures, names = _figures(representation_fn, dataset, key, options, num_plot_points)
  matrices = {
    f"{name}_{k}": np.asarray(res[k])
    for name, res in details.items()
    for k in MATRIX_KEYS
    if k in res
  }
  mcc = details.get("mcc", {})
  summary = {
    "scores": out["scores"],
    "timing": out["timing"],
    "counts": out["counts"],
    "scale": scale,
    "mcc_assignment": mcc.get("assignment"),
    "mcc_per_factor": mcc.get("per_factor"),
    "factor_names": names,
  }
  flat = {f"disentanglement/{k}": float(v) for k, v in out["scores"].items()}
  for name, t in out["timing"].items():
    flat[f"disentanglement/timing/{name}_s"] = float(t["total_s"])
  flat["disentanglement/count_scale"] = float(scale)
  return RunScores(flat=flat, summary=summary, matrices=matrices, figures=figures)
