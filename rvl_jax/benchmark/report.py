"""Result tables and the paper's figures (R^2 is clipped at 0 for display only)."""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np

from rvl_jax.benchmark import datasets


def _plt():
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  return plt


def aggregate(rows: Sequence[Mapping], key: str = "test/rsquared"):
  """{(model, split): (mean, std, n)} over seeds from run result rows."""
  groups: Dict[tuple, List[float]] = {}
  for r in rows:
    groups.setdefault((r["model"], r["split"]), []).append(float(r[key]))
  return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in groups.items()}


def leaderboard_markdown(
  rows: Sequence[Mapping], key: str = "test/rsquared", title: str = ""
) -> str:
  """Markdown table: models x splits, R^2 x 100 as mean +- std (n seeds), unclipped."""
  agg = aggregate(rows, key)
  models = sorted({m for m, _ in agg}, key=lambda m: [r["model"] for r in rows].index(m))
  splits = [s for s in datasets.VARIANTS if any(s == sp for _, sp in agg)]
  lines = ([f"### {title}", ""] if title else []) + [
    "| model | " + " | ".join(splits) + " |",
    "|---|" + "---|" * len(splits),
  ]
  for m in models:
    cells = []
    for s in splits:
      if (m, s) in agg:
        mean, std, n = agg[(m, s)]
        cells.append(f"{100 * mean:.1f} ± {100 * std:.1f} (n={n})")
      else:
        cells.append("–")
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def plot_r2_per_split(rows: Sequence[Mapping], key: str = "test/rsquared", title: str = ""):
  """Bar plot of R^2 (clipped at 0 for display) per split and model (paper Fig. 4)."""
  plt = _plt()
  agg = aggregate(rows, key)
  models = list(dict.fromkeys(r["model"] for r in rows))
  splits = [s for s in datasets.VARIANTS if any(s == sp for _, sp in agg)]
  fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(splits), 3.2))
  width = 0.8 / max(len(models), 1)
  for i, m in enumerate(models):
    means = [max(agg.get((m, s), (np.nan,))[0], 0.0) for s in splits]
    stds = [agg.get((m, s), (0, 0))[1] for s in splits]
    ax.bar(np.arange(len(splits)) + i * width, means, width, yerr=stds, label=m)
  ax.set_xticks(np.arange(len(splits)) + 0.4 - width / 2)
  ax.set_xticklabels(splits)
  ax.set_ylim(0, 1.05)
  ax.set_ylabel("R² (clipped at 0)")
  ax.set_title(title)
  ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def plot_per_factor(
  scores: Mapping[str, float], factor_names, prefixes=("test/", "train/"), title=""
):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(factor_names), 3))
  width = 0.8 / len(prefixes)
  for i, p in enumerate(prefixes):
    vals = [max(scores.get(f"{p}rsquared_{f}", np.nan), 0.0) for f in factor_names]
    ax.bar(np.arange(len(factor_names)) + i * width, vals, width, label=p.strip("/"))
  ax.set_xticks(np.arange(len(factor_names)) + 0.4 - width / 2)
  ax.set_xticklabels(factor_names, fontsize=8)
  ax.set_ylim(0, 1.05)
  ax.set_ylabel("R² (clipped at 0)")
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def plot_extrapolation_scatter(ood: Mapping[str, np.ndarray], factor_names, title=""):
  """Predicted vs true value of the OOD factor, one panel per factor (paper Fig. 6)."""
  plt = _plt()
  facs = sorted(set(ood["factor"].tolist()))
  fig, axes = plt.subplots(
    1, max(len(facs), 1), figsize=(2.6 * max(len(facs), 1), 2.6), squeeze=False
  )
  for ax, j in zip(axes[0], facs):
    sel = ood["factor"] == j
    ax.scatter(ood["truth"][sel], ood["prediction"][sel], s=3, alpha=0.3)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.axhline(ood["train_mean"][sel][0], color="r", lw=0.8, label="train mean")
    ax.set_title(factor_names[j], fontsize=9)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
  axes[0][0].legend(fontsize=7)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return fig


def plot_ratio_hist(ratios, title=""):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(3.4, 2.6))
  ax.hist(np.clip(ratios, 0, 2), bins=40, range=(0, 2))
  ax.axvline(1.0, color="k", lw=0.8)
  ax.set_xlabel("r = |f(x) - ȳ| / |y - ȳ| (clipped at 2)")
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  return fig


def plot_corr_matrix(labels, matrix, title=""):
  plt = _plt()
  n = len(labels)
  fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
  im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
  for i in range(n):
    for j in range(n):
      if np.isfinite(matrix[i, j]):
        ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
  ax.set_xticks(range(n))
  ax.set_yticks(range(n))
  ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
  ax.set_yticklabels(labels, fontsize=7)
  fig.colorbar(im, ax=ax)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  return fig
