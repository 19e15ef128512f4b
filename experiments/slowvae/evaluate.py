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

import os
from typing import Any, Callable

from absl import app, flags, logging

from rvl_jax.core import experiment
from rvl_jax.core import io as rio
from rvl_jax.disentanglement import metrics as dm
from rvl_jax.slowvae.evaluation import DEFAULT_LOADER, resolve_loader, score_representation


def evaluate_run(
  workdir: str, *, loader: str | Callable[[str], Any] = DEFAULT_LOADER, **scoring
) -> dict:
  """Scores the run in ``workdir`` and writes the files listed in the module docstring.

  Args:
    workdir: the run directory.
    loader: 'module:function' or a function: workdir -> (representation_fn, dataset).
    **scoring: keywords of ``rvl_jax.slowvae.evaluation.score_representation`` (key, metrics,
      scale, options, num_plot_points).

  Returns:
    The flat keys merged into the run's results.json.
  """
  if not os.path.isdir(workdir):
    raise FileNotFoundError(
      f"argument 'workdir': expected an existing run directory, got {workdir!r}"
    )
  load = resolve_loader(loader) if isinstance(loader, str) else loader
  representation_fn, dataset = load(workdir)
  logging.info("evaluating %s", workdir)
  res = score_representation(representation_fn, dataset, **scoring)
  pdir = os.path.join(workdir, "plots")
  os.makedirs(pdir, exist_ok=True)
  for name, fig in res.figures.items():
    rio.save_figure(fig, os.path.join(pdir, f"{name}.png"))
  rio.save_npz(os.path.join(workdir, "disentanglement_matrices.npz"), **res.matrices)
  rio.write_json(os.path.join(workdir, "disentanglement.json"), res.summary)
  results_path = os.path.join(workdir, "results.json")
  merged = rio.read_json(results_path) if os.path.exists(results_path) else {}
  merged.update(res.flat)
  rio.write_json(results_path, merged)
  return res.flat


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
