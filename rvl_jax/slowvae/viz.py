"""Figures of Klindt et al. 2021 (App. G.4): correlation heat map, latent-vs-ground-truth scatter,
latent traversals."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats


def correlation_heatmap(sorted_corr: np.ndarray, factor_names: Sequence[str], title: str = ""):
  """|corr| x100 between factors (rows) and MCC-sorted latents (columns)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from rvl_jax.disentanglement.plots import annotate_cells

  c = np.abs(np.asarray(sorted_corr))[: len(factor_names)] * 100
  fig, ax = plt.subplots(figsize=(0.6 * c.shape[1] + 1.5, 0.5 * c.shape[0] + 1.2))
  im = ax.imshow(c, vmin=0, vmax=100, cmap="viridis")
  annotate_cells(ax, c, fontsize=7)
  ax.set_yticks(range(c.shape[0]), list(factor_names))
  ax.set_xticks(range(c.shape[1]), [f"z{j}" for j in range(c.shape[1])])
  ax.set_xlabel("latent (sorted by MCC assignment)")
  ax.set_title(title)
  fig.colorbar(im, ax=ax, fraction=0.04)
  fig.tight_layout()
  return fig


def latent_vs_factor_scatter(
  codes: np.ndarray,
  factors: np.ndarray,
  factor_names: Sequence[str],
  color_factor: Optional[int] = None,
  max_points: int = 2000,
  seed: int = 0,
  method: str = "spearman",
  title: str = "",
):
  """Latent-vs-factor scatter (Klindt et al. 2021, App. G.4): per factor j, ground truth (x) vs
  matched latent (row 1) and the
  second-best latent (row 2), optionally coloured by a categorical factor."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  codes = np.asarray(codes, np.float64)
  factors = np.asarray(factors, np.float64)
  f = factors.shape[1]
  if method == "spearman":
    corr = np.array(
      [
        [
          stats.spearmanr(factors[:, i], codes[:, j])[0]
          if np.std(codes[:, j]) > 0 and np.std(factors[:, i]) > 0
          else 0.0
          for j in range(codes.shape[1])
        ]
        for i in range(f)
      ]
    )
  else:
    corr = np.array(
      [
        [
          np.corrcoef(factors[:, i], codes[:, j])[0, 1]
          if np.std(codes[:, j]) > 0 and np.std(factors[:, i]) > 0
          else 0.0
          for j in range(codes.shape[1])
        ]
        for i in range(f)
      ]
    )
  corr = np.nan_to_num(np.abs(corr))
  from scipy.optimize import linear_sum_assignment

  rows, cols = linear_sum_assignment(-corr)
  best = dict(zip(rows, cols))
  rng = np.random.default_rng(seed)
  idx = rng.permutation(codes.shape[0])[:max_points]
  fig, axes = plt.subplots(2, f, figsize=(2.4 * f, 4.6), squeeze=False)
  colors = None if color_factor is None else factors[idx, color_factor]
  for i in range(f):
    order = np.argsort(-corr[i])
    first = best.get(i, order[0])
    second = [j for j in order if j != first][0] if codes.shape[1] > 1 else first
    for row, j in enumerate((first, second)):
      ax = axes[row, i]
      ax.scatter(
        factors[idx, i],
        codes[idx, j],
        s=2,
        alpha=0.5,
        **({} if colors is None else {"c": colors, "cmap": "brg"}),
      )
      ax.set_title(f"{factor_names[i]} vs z{j} ({corr[i, j]:.2f})", fontsize=8)
      ax.tick_params(labelsize=6)
  axes[0, 0].set_ylabel("matched latent")
  axes[1, 0].set_ylabel("second-best latent")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig


def traversal_codes(
  codes: np.ndarray, reference: np.ndarray, num_values: int = 40, lo: float = 0.05, hi: float = 0.95
) -> np.ndarray:
  """Latent traversals (Klindt et al. 2021, App. G.4): for each latent, ``num_values`` values from
  the inverse CDF of a Gaussian
  fitted to that latent's encoded means (probabilities linspace(lo, hi)), other latents fixed at
  ``reference``. Returns (d, num_values, d)."""
  codes = np.asarray(codes, np.float64)
  mean, std = codes.mean(0), codes.std(0) + 1e-8
  q = stats.norm.ppf(np.linspace(lo, hi, num_values))
  d = codes.shape[1]
  out = np.repeat(np.repeat(np.asarray(reference, np.float64)[None, None], d, 0), num_values, 1)
  for j in range(d):
    out[j, :, j] = mean[j] + std[j] * q
  return out.astype(np.float32)


def traversal_figure(
  decode_fn: Callable[[np.ndarray], np.ndarray],
  codes: np.ndarray,
  reference: np.ndarray,
  num_values: int = 8,
  title: str = "",
):
  """Grid of decoded traversals: one row per latent (sorted by encoded-mean variance)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  t = traversal_codes(codes, reference, num_values)
  d = t.shape[0]
  order = np.argsort(-np.var(codes, 0))
  imgs = np.asarray(decode_fn(t.reshape(d * num_values, d)))
  imgs = imgs.reshape((d, num_values) + imgs.shape[1:])
  fig, axes = plt.subplots(d, num_values, figsize=(num_values * 0.9, d * 0.9), squeeze=False)
  for r, j in enumerate(order):
    for c in range(num_values):
      im = imgs[j, c]
      ax = axes[r, c]
      ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray", vmin=0, vmax=1)
      ax.set_xticks([])
      ax.set_yticks([])
    axes[r, 0].set_ylabel(f"z{j}", fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return fig


def traversal_gif(decode_fn, codes, reference, path: str, num_values: int = 40):
  """Animated traversal (all latents side by side), written with Pillow."""
  from PIL import Image

  t = traversal_codes(codes, reference, num_values)
  d = t.shape[0]
  imgs = np.asarray(decode_fn(t.transpose(1, 0, 2).reshape(num_values * d, d)))
  imgs = imgs.reshape((num_values, d) + imgs.shape[1:])
  frames = []
  for k in range(num_values):
    row = np.concatenate(list(imgs[k]), axis=1)
    if row.shape[-1] == 1:
      row = row[..., 0]
    frames.append(Image.fromarray((np.clip(row, 0, 1) * 255).astype(np.uint8)))
  tmp = path + ".tmp.gif"
  frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=80, loop=0)
  import os

  os.replace(tmp, path)
  return path
