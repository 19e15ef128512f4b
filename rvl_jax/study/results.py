"""The study's results: the models x scenarios matrix (mean and spread over seeds), a markdown
table, a heat map normalised per column against the vanilla model, and Spearman rank
correlations between columns (does robustness in one scenario predict it in another?)."""

from __future__ import annotations

import itertools
import math
from typing import Dict, List, Mapping, Sequence

import numpy as np
from scipy import stats

Matrix = Dict[str, Dict[str, List[float]]]  # model -> column -> value per seed


def summarize(matrix: Matrix) -> Dict[str, Dict[str, Dict[str, float]]]:
  """model -> column -> {'mean', 'std', 'n'} (population std over seeds, NaNs left out)."""
  out = {}
  for model, cols in matrix.items():
    out[model] = {}
    for col, values in cols.items():
      v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
      out[model][col] = {
        "mean": float(v.mean()) if v.size else float("nan"),
        "std": float(v.std()) if v.size else float("nan"),
        "n": int(v.size),
      }
  return out


def columns_of(summary: Mapping[str, Mapping[str, object]]) -> List[str]:
  cols: List[str] = []
  for model_cols in summary.values():
    cols += [c for c in model_cols if c not in cols]
  return cols


def means(summary, models: Sequence[str], columns: Sequence[str]) -> np.ndarray:
  """(models, columns) array of means (NaN where missing)."""
  return np.array(
    [[summary.get(m, {}).get(c, {}).get("mean", float("nan")) for c in columns] for m in models],
    np.float64,
  )


def normalise_against(values: np.ndarray, reference_row: int) -> np.ndarray:
  """Relative change per column against one row: (v - ref) / |ref| (v - ref where ref is 0)."""
  ref = values[reference_row : reference_row + 1]
  scale = np.where(np.abs(ref) > 1e-12, np.abs(ref), 1.0)
  return (values - ref) / scale


def rank_correlations(
  values: np.ndarray, columns: Sequence[str], min_models: int = 3
) -> Dict[str, float]:
  """Spearman's rho across models between every pair of columns ('a ~ b' keys).

  Models where either column is NaN are left out of that pair; a pair with fewer than
  ``min_models`` models, or a constant column, gives NaN.
  """
  out = {}
  for i, j in itertools.combinations(range(len(columns)), 2):
    ok = np.isfinite(values[:, i]) & np.isfinite(values[:, j])
    a, b = values[ok, i], values[ok, j]
    if ok.sum() < min_models or np.ptp(a) == 0 or np.ptp(b) == 0:
      rho = float("nan")
    else:
      rho = float(stats.spearmanr(a, b).statistic)
    out[f"{columns[i]} ~ {columns[j]}"] = rho
  return out


def _fmt(cell: Mapping[str, float]) -> str:
  if not cell or not math.isfinite(cell["mean"]):
    return "n/a"
  return f"{cell['mean']:.3f} ± {cell['std']:.3f}"


def markdown_table(summary, models: Sequence[str], columns: Sequence[str]) -> str:
  """Models as rows, columns as columns, 'mean ± std over seeds' cells."""
  lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
  for m in models:
    lines.append(f"| {m} | " + " | ".join(_fmt(summary.get(m, {}).get(c)) for c in columns) + " |")
  return "\n".join(lines)


def markdown_correlations(rhos: Mapping[str, float]) -> str:
  lines = ["| columns | Spearman rho |", "|---|---|"]
  for pair, rho in rhos.items():
    lines.append(f"| {pair} | {'n/a' if not math.isfinite(rho) else f'{rho:+.2f}'} |")
  return "\n".join(lines)


def heatmap(values: np.ndarray, models: Sequence[str], columns: Sequence[str], title: str):
  """A matplotlib figure of normalised values (red: worse than the reference, blue: better)."""
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  lim = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
  lim = float(min(max(lim, 1e-3), 2.0))
  fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(columns), 1.2 + 0.4 * len(models)))
  im = ax.imshow(np.clip(values, -lim, lim), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
  for (i, j), v in np.ndenumerate(values):
    ax.text(j, i, "" if not np.isfinite(v) else f"{v:+.2f}", ha="center", va="center", fontsize=6)
  ax.set_xticks(range(len(columns)))
  ax.set_xticklabels(columns, rotation=60, ha="right", fontsize=7)
  ax.set_yticks(range(len(models)))
  ax.set_yticklabels(models, fontsize=8)
  ax.set_title(title, fontsize=9)
  fig.colorbar(im, ax=ax, fraction=0.03)
  fig.tight_layout()
  return fig
