"""SVD analysis of first-layer weights and similarity to the training data (Xie & Thuerey, Sec. 3 and
appendix A.3).

The paper measures LPIPS between singular vectors and training images; LPIPS needs downloaded network
weights, so this module provides OFFLINE SUBSTITUTES FOR LPIPS (clearly not LPIPS):
`max_cos` (|cosine| to the best-matching image), `subspace_capture` (share of a template's norm inside
the span of chosen singular vectors) and `mean_ssim`. Singular vectors are sign-free, hence |cos|.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

SUBSTITUTE_NOTE = "offline substitute for LPIPS (not LPIPS)"


def first_layer_matrix(kernel) -> np.ndarray:
  """Dense [in, out] kernel as is; conv HWIO -> [kh*kw*cin, cout]."""
  k = np.asarray(kernel, np.float64)
  if k.ndim == 4:
    k = k.reshape(-1, k.shape[-1])
  if k.ndim != 2:
    raise ValueError(f"argument 'kernel': expected a 2-D or 4-D kernel, got shape {k.shape}")
  return k


def first_layer_svd(kernel):
  """Right singular vectors of M = K^T (= left singular vectors of K) and their sigma.
  Returns (vectors [r, in] one per row, sigma [r]) sorted by decreasing sigma, all r = min(in, out)."""
  k = first_layer_matrix(kernel)
  u, s, _ = np.linalg.svd(k, full_matrices=False)
  return u.T, s


def fix_sign(v: np.ndarray) -> np.ndarray:
  """Makes the largest-magnitude entry of every row positive."""
  v = np.atleast_2d(v)
  idx = np.argmax(np.abs(v), axis=1)
  sgn = np.sign(v[np.arange(len(v)), idx])
  sgn[sgn == 0] = 1
  return v * sgn[:, None]


def vectors_to_images(vectors, image_shape=(28, 28)) -> np.ndarray:
  """Sign-fixed, per-vector min-max normalised uint8 images (0-255)."""
  v = fix_sign(np.asarray(vectors, np.float64))
  lo, hi = v.min(1, keepdims=True), v.max(1, keepdims=True)
  im = (v - lo) / np.maximum(hi - lo, 1e-12)
  return np.round(im * 255).astype(np.uint8).reshape((-1,) + tuple(image_shape))


def _unit_rows(x):
  x = np.asarray(x, np.float64).reshape(len(x), -1)
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cos_matrix(vectors, images) -> np.ndarray:
  """|cos| between every vector (rows) and every image: [num_vectors, num_images]."""
  return np.abs(_unit_rows(vectors) @ _unit_rows(images).T)


def max_cos(vectors, images) -> np.ndarray:
  """max over images of |cos(v_i, x_j)| for every vector v_i (LPIPS substitute)."""
  return cos_matrix(vectors, images).max(axis=1)


def best_cos_per_image(vectors, images) -> np.ndarray:
  """For every image: max over the given vectors of |cos| (LPIPS substitute)."""
  return cos_matrix(vectors, images).max(axis=0)


def subspace_capture(vectors, template) -> float:
  """||V_k^T t|| / ||t||: share of template t's norm inside span(vectors) (LPIPS substitute).
  `vectors` are orthonormal rows (e.g. top-k right singular vectors)."""
  v = np.asarray(vectors, np.float64).reshape(len(vectors), -1)
  t = np.asarray(template, np.float64).reshape(-1)
  q, _ = np.linalg.qr(v.T)
  return float(np.linalg.norm(q.T @ t) / max(np.linalg.norm(t), 1e-12))


def mean_ssim(vectors, images, image_shape=(28, 28)) -> float:
  """Mean SSIM between each min-max normalised v_i and its best-matching (by |cos|) min-max normalised
  image (LPIPS substitute; scikit-image)."""
  from skimage.metrics import structural_similarity

  ims = np.asarray(images, np.float64).reshape((-1,) + tuple(image_shape))
  vis = vectors_to_images(vectors, image_shape).astype(np.float64) / 255.0
  c = cos_matrix(vectors, images)
  vals = []
  for i, v in enumerate(vis):
    x = ims[int(np.argmax(c[i]))]
    x = (x - x.min()) / max(x.max() - x.min(), 1e-12)
    vals.append(structural_similarity(v, x, data_range=1.0))
  return float(np.mean(vals))


def near_one_indices(sigma, tol: float = 0.05) -> np.ndarray:
  """Indices of singular values within `tol` of 1 (the eigenvalue-1 directions of RR)."""
  return np.where(np.abs(np.asarray(sigma) - 1.0) <= tol)[0]


def svd_report(
  kernel, train_images, templates=None, k: int = 2, image_shape=(28, 28), near_one_tol: float = 0.05
) -> Dict[str, object]:
  """All singular vectors with their sigma and the LPIPS-substitute similarity measures."""
  vecs, sig = first_layer_svd(kernel)
  imgs = np.asarray(train_images).reshape(len(train_images), -1)
  mc = max_cos(vecs, imgs)
  near = near_one_indices(sig, near_one_tol)
  rep = {
    "note": SUBSTITUTE_NOTE,
    "sigma": sig,
    "max_cos_all": mc,
    "top1_max_cos": float(mc[0]),
    f"top{k}_max_cos_mean": float(mc[:k].mean()),
    "best_cos_per_image_all": best_cos_per_image(vecs, imgs),
    "num_sigma_near_one": int(len(near)),
    "near_one_indices": near,
  }
  if len(near):
    rep["best_cos_per_image_near_one"] = best_cos_per_image(vecs[near], imgs)
    rep["max_cos_near_one"] = mc[near]
  else:
    rep["best_cos_per_image_near_one"] = np.zeros(len(imgs))
  non = np.setdiff1d(np.arange(len(sig)), near)
  rep["max_cos_other_max"] = float(mc[non].max()) if len(non) else 0.0
  if templates is not None:
    rep[f"top{k}_capture"] = np.array([subspace_capture(vecs[:k], t) for t in templates])
  return rep


def relative_error(recon, target) -> float:
  """||d'_1 - d_1|| / ||d_1||."""
  r, t = np.asarray(recon, np.float64), np.asarray(target, np.float64)
  return float(np.linalg.norm(r - t) / max(np.linalg.norm(t), 1e-12))


def plot_vectors(vectors, sigma, path, image_shape=(28, 28), max_show: int = 20, title: str = ""):
  """Grid of singular-vector images labelled with sigma."""
  n = min(max_show, len(vectors))
  titles = [f"v{i + 1} s={sigma[i]:.2g}" for i in range(n)]
  plot_images(vectors_to_images(vectors[:n], image_shape), path, titles=titles, title=title)


def plot_images(
  images,
  path,
  titles: Optional[Sequence[str]] = None,
  title: str = "",
  cmap="gray",
  cols: Optional[int] = None,
  vmin=None,
  vmax=None,
):
  """Grid of images (`cols` per row, default up to 10); vmin/vmax fix a common grey range (default:
  each image min-max scaled by matplotlib)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from rvl_jax.core.io import save_figure

  images = np.asarray(images)
  n = len(images)
  cols = min(n, cols or 10)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for i in range(n):
    ax = axes.ravel()[i]
    im = images[i]
    if im.ndim == 3 and im.shape[-1] == 1:
      im = im[..., 0]
    ax.imshow(im, cmap=cmap, vmin=vmin, vmax=vmax)
    if titles is not None:
      ax.set_title(titles[i], fontsize=7)
  fig.suptitle(title, fontsize=9)
  save_figure(fig, path)
