"""Sweep: train models x splits x seeds (each run into its own sub-directory, skipped when its
results.json exists, so an interrupted sweep resumes), then write the leaderboard table,
the R^2-per-split figure and, for extrapolation, the error-correlation analysis across runs.
"""

from __future__ import annotations

import copy
import os

import numpy as np

from experiments.benchmark import train
from rvl_jax.benchmark import analysis, report
from rvl_jax.core import experiment
from rvl_jax.core import io as rio
from rvl_jax.core import seeds as seeds_lib


def run_name(dataset, model, split, seed):
  return seeds_lib.seed_key(f"{dataset}_{model}_{split}", seed)


def train_and_evaluate(config, workdir: str) -> dict:
  rows = []
  models = [m for m in config.models.split(",") if m]
  splits = [s for s in config.splits.split(",") if s]
  seeds = [int(s) for s in str(config.seeds).split(",") if str(s).strip()]
  for seed in seeds:  # seed-major: every split gets one seed first
    for model in models:
      for split in splits:
        sub = os.path.join(workdir, "runs", run_name(config.dataset, model, split, seed))
        res_path = os.path.join(sub, "results.json")
        if not os.path.exists(res_path):
          if not config.run_missing:
            continue
          run_cfg = copy.deepcopy(config.run)
          with run_cfg.unlocked():
            run_cfg.dataset, run_cfg.model, run_cfg.split, run_cfg.seed = (
              config.dataset,
              model,
              split,
              seed,
            )
          experiment.launch(train.train_and_evaluate, run_cfg, sub)
        rows.append(rio.read_json(res_path))
  table = report.leaderboard_markdown(rows, title=f"{config.dataset}: test R² × 100")
  table_train = report.leaderboard_markdown(
    rows, key="train/rsquared", title=f"{config.dataset}: train R² × 100"
  )
  with rio.atomic_write(os.path.join(workdir, "leaderboard.md"), "w") as f:
    f.write(table + "\n" + table_train)
  rio.write_json(os.path.join(workdir, "leaderboard.json"), rows)
  pdir = experiment.plots_dir(workdir)
  rio.save_figure(
    report.plot_r2_per_split(rows, title=config.dataset), os.path.join(pdir, "r2_per_split.png")
  )
  out = {}
  for (model, split), (mean, std, n) in report.aggregate(rows).items():
    out[f"{model}/{split}/rsquared_mean"] = mean
    out[f"{model}/{split}/rsquared_std"] = std
    out[f"{model}/{split}/n_seeds"] = n
  for (model, split), (mean, std, n) in report.aggregate(rows, "train/rsquared").items():
    out[f"{model}/{split}/train_rsquared_mean"] = mean
  # Error correlation on extrapolation (same evaluation images for every run).
  extrap = [r for r in rows if r["split"] == "extrapolation"]
  if len(extrap) >= 2:
    preds, idx = {}, None
    for r in extrap:
      z = np.load(
        os.path.join(
          workdir,
          "runs",
          run_name(config.dataset, r["model"], "extrapolation", r["seed"]),
          "predictions.npz",
        )
      )
      if idx is None:
        idx = z["test_indices"]
      elif not np.array_equal(idx, z["test_indices"]):
        raise ValueError(
          "runs were evaluated on different images; use the same eval_seed/eval_test"
        )
      preds[seeds_lib.seed_key(r["model"], r["seed"])] = z["test_predictions"]
    labels, mat = analysis.error_correlation(config.dataset, "extrapolation", idx, preds)
    rio.write_json(
      os.path.join(workdir, "error_correlation.json"), {"labels": labels, "matrix": mat.tolist()}
    )
    rio.save_figure(
      report.plot_corr_matrix(labels, mat, f"{config.dataset} extrapolation errors"),
      os.path.join(pdir, "error_correlation.png"),
    )
    n = len(labels) - 1
    pairs = [mat[i, j] for i in range(n) for j in range(n) if i < j]
    out["errors/rho_model_model_min"] = float(np.min(pairs))
    out["errors/rho_model_model_mean"] = float(np.mean(pairs))
    out["errors/rho_model_truth_max"] = float(np.nanmax(mat[:n, n]))
  return out
