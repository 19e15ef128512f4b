"""The two study families and ``run_study``: compute the missing cells, then write the matrix
(``matrix.json``), a markdown table (``summary.md``), the heat map normalised against the vanilla
model (``plots/<family>_heatmap.png``) and the rank correlations between scenarios."""

from __future__ import annotations

import os
from typing import Any, Dict, Sequence

import numpy as np

from rvl_jax.core import io as rio
from rvl_jax.core import validation
from rvl_jax.study import mnist_scenarios, mnist_zoo, runner
from rvl_jax.study import results as results_lib

MNIST = runner.Family(
  name="mnist",
  load_data=lambda settings, seed, variant: mnist_zoo.load_data(settings, seed),
  train_model=mnist_zoo.train_model,
  scenarios=mnist_scenarios.SCENARIOS,
  model_fields=mnist_zoo.MODEL_FIELDS,
  scenario_fields=mnist_zoo.SCENARIO_FIELDS,
  data_fields=mnist_zoo.DATA_FIELDS,
  reference="vanilla",
)

# Headline columns of each family (rank correlations and the heat map use these).
HEADLINE = {
  "mnist": (
    "clean/accuracy",
    "autoattack/linf_robust",
    "autoattack/l2_robust",
    "decision_battery/median_l2",
    "mnist_c/mean",
    "affine/interpolation",
    "affine/extrapolation_mean",
  ),
}


def get_family(name: str) -> runner.Family:
  validation.check_in_choices("family", name, ("mnist", "factor"))
  if name == "mnist":
    return MNIST
  from rvl_jax.study import factor_zoo  # pylint: disable=import-outside-toplevel

  return factor_zoo.family()


def headline_columns(family: str, columns: Sequence[str]) -> list:
  if family == "factor":
    from rvl_jax.study import factor_zoo  # pylint: disable=import-outside-toplevel

    wanted = factor_zoo.HEADLINE
  else:
    wanted = HEADLINE[family]
  return [c for c in wanted if c in columns]


def report(
  family: runner.Family, matrix: results_lib.Matrix, models: Sequence[str], workdir: str
) -> Dict[str, Any]:
  """Writes matrix.json, summary.md and the heat map; returns the flat summary and the rank
  correlations."""
  summary = results_lib.summarize(matrix)
  columns = results_lib.columns_of(summary)
  head = headline_columns(family.name, columns)
  values = results_lib.means(summary, models, head)
  rhos = results_lib.rank_correlations(values, head)
  rio.write_json(
    os.path.join(workdir, f"{family.name}_matrix.json"),
    {"per_seed": matrix, "summary": summary, "rank_correlations": rhos},
  )
  text = [
    f"# {family.name} family",
    "",
    "## Headline columns (mean ± std over seeds)",
    "",
    results_lib.markdown_table(summary, models, head),
    "",
    "## Every column",
    "",
    results_lib.markdown_table(summary, models, columns),
    "",
    "## Spearman rank correlations between headline columns (across models)",
    "",
    results_lib.markdown_correlations(rhos),
    "",
  ]
  with rio.atomic_write(os.path.join(workdir, f"{family.name}_summary.md"), "w") as f:
    f.write("\n".join(text))
  if models and head:
    # against the family's reference model, or the first model when the reference is not run
    reference = family.reference if family.reference in models else models[0]
    norm = results_lib.normalise_against(values, list(models).index(reference))
    fig = results_lib.heatmap(
      norm, models, head, f"{family.name}: relative change against {reference}"
    )
    rio.save_figure(fig, os.path.join(workdir, "plots", f"{family.name}_heatmap.png"))
  flat = {
    f"{m}/{c}/{stat}": v
    for m, cols in summary.items()
    for c, cell in cols.items()
    for stat, v in cell.items()
    if stat != "n"
  }
  return {"summary": flat, "rank_correlations": rhos, "columns": head, "values": np.asarray(values)}


def run_study(family_name: str, settings, *, workdir: str, **options: Any) -> Dict[str, Any]:
  """Runs one family's missing cells (none with ``compute=False``: a report of the cached
  cells) and writes its report into ``workdir``."""
  # options: run_family's keywords (models, scenarios, seeds; optional cache, compute).
  family = get_family(family_name)
  out = runner.run_family(family, settings, workdir=workdir, **options)
  out.update(report(family, out["matrix"], options["models"], workdir))
  return out
