"""Figures of Klindt et al. 2021 (App. G.4): MCC-ordered correlation heat map,
latent-vs-ground-truth scatter coloured by the categorical factor, best-vs-second-best latent scatter.

All functions take the arrays (codes (n, d), factors (n, F)) and an MCC result from
`rvl_jax.disentanglement.mean_corr_coef`, and return a matplotlib Figure (save it with
`rvl_jax.core.io.save_figure`).
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rvl_jax.disentanglement import _checks  # noqa: E402


def _names(factor_names, f):
  if factor_names is None:
    return [f"factor {j}" for j in range(f)]
  if len(factor_names) != f:
    raise ValueError(f"argument 'factor_names': expected {f} names, got {len(factor_names)}")
  return list(factor_names)


def annotate_cells(ax, mat: np.ndarray, fontsize: int = 8) -> None:
  """Writes each cell's value (rounded, x100 scale) on the heat map ``ax`` shows of ``mat``: white
  on the dark cells (< 60), black on the light ones."""
  for i in range(mat.shape[0]):
    for j in range(mat.shape[1]):
      ax.text(
        j,
        i,
        f"{mat[i, j]:.0f}",
        ha="center",
        va="center",
        fontsize=fontsize,
        color="white" if mat[i, j] < 60 else "black",
      )


def sorted_abs_correlation(mcc_result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
  """(d, F) |corr| x100 with latents reordered by the MCC permutation, and the latent order."""
  corr = np.abs(np.asarray(mcc_result["correlation"]))  # (F, d)
  perm = np.asarray(mcc_result["permutation"])
  return 100.0 * corr[:, perm].T, perm


def correlation_heatmap(
  mcc_result: dict[str, Any], factor_names: Sequence[str] | None = None, title: str | None = None
):
  """Heat map of |correlation| x100 (rows: latents ordered by the MCC assignment, columns:
  factors), so matched pairs lie on the diagonal."""
  mat, perm = sorted_abs_correlation(mcc_result)
  d, f = mat.shape
  names = _names(factor_names, f)
  fig, ax = plt.subplots(figsize=(1.0 + 0.9 * f, 0.8 + 0.45 * d))
  im = ax.imshow(mat, vmin=0, vmax=100, cmap="viridis", aspect="auto")
  annotate_cells(ax, mat)
  ax.set_xticks(range(f), names, rotation=30, ha="right")
  ax.set_yticks(range(d), [f"z{p}" for p in perm])
  ax.set_xlabel("ground-truth factor")
  ax.set_ylabel("latent (MCC order)")
  method = mcc_result.get("method", "spearman")
  ax.set_title(title or f"|{method}| x100, MCC = {100 * mcc_result['score']:.1f}")
  fig.colorbar(im, ax=ax, fraction=0.05)
  fig.tight_layout()
  return fig


def _second_best(mcc_result) -> np.ndarray:
  corr = np.abs(np.asarray(mcc_result["correlation"])).copy()
  assign = np.asarray(mcc_result["assignment"])
  corr[np.arange(corr.shape[0]), assign] = -1.0
  return np.argmax(corr, axis=1)


def _check_arrays(codes, factors):
  z = _checks.as_codes("codes", codes)
  y = _checks.as_factors("factors", factors, num_rows=z.shape[0], discrete=False)
  return z, y


def _colour_args(y, color_by, class_names):
  if color_by is None:
    return None, None
  c = y[:, color_by]
  classes = np.unique(c)
  labels = class_names if class_names is not None else [f"{v:g}" for v in classes]
  return c, list(zip(classes, labels))


def latent_scatter(
  codes,
  factors,
  mcc_result: dict[str, Any],
  *,
  factor_names: Sequence[str] | None = None,
  color_by: int | None = 0,
  class_names: Sequence[str] | None = None,
  num_points: int = 2000,
  second_row: bool = True,
  seed: int = 0,
):
  """Scatter of each factor's ground-truth value (x) against its matched latent (y); second row:
  the second-best latent. Points coloured by factor ``color_by`` (dSprites: shape)."""
  z, y = _check_arrays(codes, factors)
  f = y.shape[1]
  names = _names(factor_names, f)
  rng = np.random.default_rng(seed)
  idx = rng.permutation(z.shape[0])[:num_points]
  z, y = z[idx], y[idx]
  assign = np.asarray(mcc_result["assignment"])
  second = _second_best(mcc_result)
  corr = np.asarray(mcc_result["correlation"])
  c, legend = _colour_args(y, color_by, class_names)
  rows = 2 if second_row else 1
  fig, axes = plt.subplots(rows, f, figsize=(2.6 * f, 2.4 * rows), squeeze=False)
  for r, which in enumerate([assign, second][:rows]):
    for j in range(f):
      ax = axes[r, j]
      jitter = (
        rng.uniform(-0.2, 0.2, size=y.shape[0]) if np.all(y[:, j] == np.round(y[:, j])) else 0
      )
      if legend is None:
        ax.scatter(y[:, j] + jitter, z[:, which[j]], s=2, alpha=0.5)
      else:
        for k, (value, label) in enumerate(legend):
          m = c == value
          ax.scatter(
            y[m, j] + (jitter[m] if np.ndim(jitter) else 0),
            z[m, which[j]],
            s=2,
            alpha=0.5,
            color=f"C{k}",
            label=label,
          )
      ax.set_title(f"{names[j]}: z{which[j]} ({100 * abs(corr[j, which[j]]):.0f})", fontsize=9)
      if j == 0:
        ax.set_ylabel("matched latent" if r == 0 else "second-best latent")
      if r == rows - 1:
        ax.set_xlabel("ground truth")
  if legend is not None:
    axes[0, -1].legend(markerscale=4, fontsize=7, loc="best")
  fig.tight_layout()
  return fig


def best_vs_second_scatter(
  codes,
  factors,
  mcc_result: dict[str, Any],
  *,
  factor_names: Sequence[str] | None = None,
  num_points: int = 2000,
  seed: int = 0,
):
  """For each factor: matched latent (x) vs second-best latent (y), coloured by the factor value."""
  z, y = _check_arrays(codes, factors)
  f = y.shape[1]
  names = _names(factor_names, f)
  idx = np.random.default_rng(seed).permutation(z.shape[0])[:num_points]
  z, y = z[idx], y[idx]
  assign, second = np.asarray(mcc_result["assignment"]), _second_best(mcc_result)
  fig, axes = plt.subplots(1, f, figsize=(2.6 * f, 2.5), squeeze=False)
  for j in range(f):
    ax = axes[0, j]
    sc = ax.scatter(z[:, assign[j]], z[:, second[j]], c=y[:, j], s=2, cmap="viridis")
    ax.set_title(names[j], fontsize=9)
    ax.set_xlabel(f"z{assign[j]} (best)")
    ax.set_ylabel(f"z{second[j]} (second)")
    fig.colorbar(sc, ax=ax, fraction=0.05)
  fig.tight_layout()
  return fig
