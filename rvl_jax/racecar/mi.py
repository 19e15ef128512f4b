"""Binned mutual-information estimator and MI planes (Xie & Thuerey, Sec. 4 and appendix B.1; the estimator of Shwartz-Ziv & Tishby 2017).

For a layer's activations T (one row per input pattern, every pattern once so p(x) is uniform) each
unit is binned (30 bins, edges linspace(-1, 1, 30) for bounded activations, or 30 equal bins between
the layer's min and max), every distinct binned row is one state t, and since T is a deterministic
function of X: I(X;T) = H(T) and I(T;Y) = H(T) - sum_y p(y) H(T | Y = y). Log base 2.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np


def bin_activations(
  t, num_bins: int = 30, value_range=(-1.0, 1.0), adaptive: bool = False
) -> np.ndarray:
  """np.digitize every unit. adaptive=True: equal bins between the layer's min and max (ReLU)."""
  t = np.asarray(t, np.float64).reshape(len(t), -1)
  if adaptive:
    lo, hi = float(t.min()), float(t.max())
    if hi <= lo:
      hi = lo + 1e-12
    edges = np.linspace(lo, hi, num_bins)
  else:
    edges = np.linspace(value_range[0], value_range[1], num_bins)
  return np.digitize(t, edges)


def _entropy_of_rows(rows: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
  if len(rows) == 0:
    return 0.0
  _, inv = np.unique(rows, axis=0, return_inverse=True)
  inv = inv.reshape(-1)
  if weights is None:
    counts = np.bincount(inv).astype(np.float64)
  else:
    counts = np.bincount(inv, weights=weights)
  p = counts[counts > 0] / counts.sum()
  return float(-(p * np.log2(p)).sum())


def entropy_bits(labels) -> float:
  labels = np.asarray(labels).reshape(len(labels), -1)
  return _entropy_of_rows(labels)


def mutual_information(t, y, num_bins: int = 30, value_range=(-1.0, 1.0), adaptive: bool = False):
  """(I(X;T), I(T;Y)) in bits for activations t [N, ...] and labels y [N] (int) or one-hot [N, C]."""
  y = np.asarray(y)
  if y.ndim == 2:
    y = np.argmax(y, axis=1)
  if len(y) != len(t):
    raise ValueError(f"argument 'y': expected {len(t)} labels, got {len(y)}")
  b = bin_activations(t, num_bins, value_range, adaptive)
  h_t = _entropy_of_rows(b)
  h_t_given_y = 0.0
  for c in np.unique(y):
    mask = y == c
    h_t_given_y += mask.mean() * _entropy_of_rows(b[mask])
  return h_t, h_t - h_t_given_y


def mi_plane(
  layer_activations: Sequence, y, num_bins: int = 30, adaptive: Optional[Sequence[bool]] = None
):
  """Lists (I(X;D_m), I(D_m;Y)) over layers."""
  ix, iy = [], []
  for m, t in enumerate(layer_activations):
    ad = bool(adaptive[m]) if adaptive is not None else False
    a, b = mutual_information(t, y, num_bins, adaptive=ad)
    ix.append(a)
    iy.append(b)
  return np.array(ix), np.array(iy)


def plot_mi_planes(
  planes: Dict[str, tuple], path, title: str = "MI plane", h_y: Optional[float] = None
):
  """planes: {model name: (I(X;D) array, I(D;Y) array)}, one polyline per model, points = layers."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from rvl_jax.core.io import save_figure

  fig, ax = plt.subplots(figsize=(5, 4))
  for name, (ix, iy) in planes.items():
    ax.plot(ix, iy, "-o", label=name, ms=4)
    for m, (a, b) in enumerate(zip(ix, iy)):
      ax.annotate(str(m + 1), (a, b), fontsize=6)
  if h_y is not None:
    ax.axhline(h_y, color="grey", ls=":", lw=0.8)
  ax.set_xlabel("I(X;D) [bits]")
  ax.set_ylabel("I(D;Y) [bits]")
  ax.set_title(title)
  ax.legend(fontsize=7)
  save_figure(fig, path)
