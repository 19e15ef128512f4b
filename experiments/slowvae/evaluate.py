"""Score a trained run with every disentanglement metric of Klindt et al. 2021 (App. C) and write
the results.

    python -m experiments.slowvae.evaluate --workdir=RUN [--scale=1.0] [--metrics=mcc,mig]
        [--seed=0] [--dci_trees=100] [--dci_estimator=gbt|hist_gbt]
        [--loader=rvl_jax.slowvae:load_representation]

The run is loaded with ``rvl_jax.slowvae.load_representation(workdir) -> (representation_fn,
dataset)`` (or any ``module:function`` given by --loader with the same contract). Sample counts
are the reference configuration (disentanglement_lib, Locatello et al. 2019) unless --scale
multiplies them (e.g. --scale=0.1 for a
quick CPU look; the scale is recorded with the results). Writes into RUN:
  results.json       merged: 'disentanglement/<metric>' (x100) and timing/count keys
  disentanglement.json  scores, per-metric timing and counts, MCC assignment and matrices
  disentanglement_matrices.npz  correlation, MI, importance and SAP matrices
  plots/correlation_heatmap.png, plots/latent_scatter.png, plots/best_vs_second.png
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from absl import app, flags, logging

from rvl_jax import disentanglement as dis
from rvl_jax.core import experiment, prng
from rvl_jax.core import io as rio
from rvl_jax.disentanglement import metrics as dm
from rvl_jax.disentanglement import plots

DEFAULT_LOADER = "rvl_jax.slowvae:load_representation"


def resolve_loader(spec: str = DEFAULT_LOADER) -> Callable[[str], Any]:
  """'package.module:function' -> the function, with a clear error when it is missing."""
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


def _first_categorical(dataset) -> int | None:
  cat = tuple(getattr(dataset, "categorical", ()) or ())
  return cat.index(True) if True in cat else None


def evaluate_run(
  workdir: str,
  *,
  loader: str | Callable[[str], Any] = DEFAULT_LOADER,
  key=0,
  metrics: Sequence[str] | None = None,
  scale: float = 1.0,
  options: Mapping[str, Mapping[str, Any]] | None = None,
  num_plot_points: int = 2000,
) -> dict:
  """Scores the run in ``workdir``; returns the flat keys merged into its results.json."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(
      f"argument 'workdir': expected an existing run directory, got {workdir!r}"
    )
  if not scale > 0:
    raise ValueError(f"argument 'scale': expected a positive number, got {scale!r}")
  load = resolve_loader(loader) if isinstance(loader, str) else loader
  representation_fn, dataset = load(workdir)
  if metrics is None:
    metrics = dm.ALL_METRICS if dm.is_factor_grid(dataset) else ("mcc",)
  metrics = tuple(metrics)
  counts = dm.scaled_counts(scale, metrics=metrics) if scale != 1.0 else None
  logging.info(
    "evaluating %s on %s with metrics %s (scale %g)",
    workdir,
    getattr(dataset, "name", type(dataset).__name__),
    metrics,
    scale,
  )
  out = dis.evaluate_all(
    representation_fn, dataset, key, metrics=metrics, counts=counts, options=options
  )
  details = out["details"]

  # Figures of Klindt et al. 2021 (App. G.4) from a separate fixed sample (independent of which
  # metrics ran).
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
  num_factors = plot_res["factors"].shape[1]
  names = list(getattr(dataset, "factor_names", None) or [])
  names = names if len(names) == num_factors else None
  pdir = os.path.join(workdir, "plots")
  os.makedirs(pdir, exist_ok=True)
  rio.save_figure(
    plots.correlation_heatmap(unit, factor_names=names),
    os.path.join(pdir, "correlation_heatmap.png"),
  )
  color_by = _first_categorical(dataset)
  class_names = None
  if (
    names is not None
    and color_by is not None
    and names[color_by] == "shape"
    and tuple(getattr(dataset, "factor_sizes", ()))[color_by : color_by + 1] == (3,)
  ):
    class_names = ["square", "ellipse", "heart"]  # dSprites shape order
  rio.save_figure(
    plots.latent_scatter(
      plot_res["codes"],
      plot_res["factors"],
      unit,
      factor_names=names,
      color_by=color_by,
      class_names=class_names,
      num_points=num_plot_points,
    ),
    os.path.join(pdir, "latent_scatter.png"),
  )
  rio.save_figure(
    plots.best_vs_second_scatter(
      plot_res["codes"], plot_res["factors"], unit, factor_names=names, num_points=num_plot_points
    ),
    os.path.join(pdir, "best_vs_second.png"),
  )

  matrices = {}
  for name, res in details.items():
    for k in (
      "correlation",
      "sorted_correlation",
      "mutual_info",
      "importance",
      "score_matrix",
      "permutation",
      "assignment",
      "train_votes",
      "eval_votes",
    ):
      if k in res:
        matrices[f"{name}_{k}"] = np.asarray(res[k])
  rio.save_npz(os.path.join(workdir, "disentanglement_matrices.npz"), **matrices)
  summary = {
    "scores": out["scores"],
    "timing": out["timing"],
    "counts": out["counts"],
    "scale": scale,
    "mcc_assignment": details["mcc"]["assignment"] if "mcc" in details else None,
    "mcc_per_factor": details["mcc"]["per_factor"] if "mcc" in details else None,
    "factor_names": names,
  }
  rio.write_json(os.path.join(workdir, "disentanglement.json"), summary)

  flat = {f"disentanglement/{k}": float(v) for k, v in out["scores"].items()}
  for name, t in out["timing"].items():
    flat[f"disentanglement/timing/{name}_s"] = float(t["total_s"])
  flat["disentanglement/count_scale"] = float(scale)
  results_path = os.path.join(workdir, "results.json")
  merged = rio.read_json(results_path) if os.path.exists(results_path) else {}
  merged.update(flat)
  rio.write_json(results_path, merged)
  return flat


_WORKDIR = experiment.define_flag(flags.DEFINE_string, "workdir", None, "Run directory to score.")
_SCALE = flags.DEFINE_float("scale", 1.0, "Multiplier on the reference sample counts.")
_METRICS = flags.DEFINE_list("metrics", None, f"Subset of {list(dm.ALL_METRICS)} (default: all).")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed for the metric samples.")
_DCI_TREES = flags.DEFINE_integer("dci_trees", 100, "Trees per GBT in DCI (100 = reference).")
_DCI_ESTIMATOR = flags.DEFINE_enum(
  "dci_estimator",
  "gbt",
  ["gbt", "hist_gbt"],
  "DCI classifier: 'gbt' (reference) or 'hist_gbt' (faster, approximate scores).",
)
_LOADER = flags.DEFINE_string(
  "loader",
  DEFAULT_LOADER,
  "'module:function' returning (representation_fn, dataset) for a workdir.",
)


def main(argv):
  del argv
  if not _WORKDIR.value:
    raise app.UsageError("--workdir is required")
  dci = {"n_estimators": _DCI_TREES.value, "estimator": _DCI_ESTIMATOR.value}
  options = {"dci": dci} if dci != {"n_estimators": 100, "estimator": "gbt"} else None
  flat = evaluate_run(
    _WORKDIR.value,
    loader=_LOADER.value,
    key=_SEED.value,
    metrics=_METRICS.value,
    scale=_SCALE.value,
    options=options,
  )
  for k in sorted(flat):
    print(f"{k}: {flat[k]:.2f}")


if __name__ == "__main__":
  app.run(main)
