"""Robustness lower bounds of ABS (Schott et al. 2019, Sec. 4, eqs. 5-8; Appendix A.4-A.6).

Units: un-normalised squared errors (the code's per-pixel scores times 784).

* L2 (6.1): eps_x = min_{c != y} max(0, (d_c^2 - L_y) / (2 (d_c + r_y))) with
  L_y = 784 e*_y, r_y = ||G_y(z*) - x||, d_c = min_z ||G_c(z) - x|| (beta = 0 search).
  For Binary ABS the class scalings gamma enter as the smallest root of
  gamma_y ((r + eps)^2 + k) = gamma_c (d_c - eps)^2 on the binarized input.
* L-inf (6.2): largest eps (bisection) with
  sum_i (|e_i| + eps)^2 + 0.5 ||z*||^2  <  min_z sum_i max(0, |G_c(z)_i - x_i| - eps)^2
  for all c != y, the right side from a dead-zone latent search (beta = 0).
Misclassified samples get 0.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from rvl_jax.abs import inference as inf
from rvl_jax.abs import models as models_lib
from rvl_jax.core import batched

N = inf.N_PIXELS


def _prepare(model: models_lib.ABS, x):
  x = models_lib.check_mnist_images("x", x)
  xf = np.asarray(x, np.float32).reshape(len(x), -1)
  if model.options.binary:
    xf = np.asarray(inf.binarize(xf))
  return xf


def _search(model, xf, beta, deadzone=None, batch_size=None):
  o = model.options
  z, imgs, sq = model.bank
  bs = max(1, min(batch_size or o.batch_size, len(xf)))

  def fn(batch):
    xb, dz = batch
    return inf.latent_search(
      model.params,
      z,
      imgs,
      sq,
      jnp.asarray(xb),
      **o.search_kwargs(beta=beta, return_recon=True),
      deadzone=None if dz is None else jnp.asarray(dz),
      use_deadzone=dz is not None,
    )

  dz = None if deadzone is None else np.asarray(deadzone, np.float32)
  return batched.batched_apply(fn, (xf, dz), bs)


def solve_radius(L_y, r_y, d_c, gamma_y=1.0, gamma_c=1.0):
  """Smallest eps >= 0 with gamma_y ((r+eps)^2 + k) = gamma_c (d - eps)^2, k = L_y - r^2.

  Equals (d^2 - L) / (2 (d + r)) for gamma_y = gamma_c; 0 if not certified at eps = 0;
  capped at d.
  """
  L_y, r_y, d_c = (np.asarray(a, np.float64) for a in (L_y, r_y, d_c))
  gamma_y = np.asarray(gamma_y, np.float64)
  gamma_c = np.asarray(gamma_c, np.float64)
  a = gamma_y - gamma_c
  b = 2.0 * (gamma_y * r_y + gamma_c * d_c)
  c0 = gamma_y * L_y - gamma_c * d_c**2
  disc = np.maximum(b**2 - 4.0 * a * c0, 0.0)
  with np.errstate(divide="ignore", invalid="ignore"):
    eps = np.where(b + np.sqrt(disc) > 0, -2.0 * c0 / (b + np.sqrt(disc)), 0.0)
  eps = np.where(c0 >= 0, 0.0, eps)
  return np.clip(eps, 0.0, d_c)


def l2_lower_bound(model: models_lib.ABS, x, y, batch_size=None, full=None) -> dict:
  """Per-image certified L2 radius (Sec. 4, eqs. 5-8; Appendix A.4).

  Returns dict with 'bound' (N,) and parts.

  ``full``: optionally the output of ``model.infer(x, return_recon=True)`` (reused).
  """
  y = np.asarray(y, np.int64)
  xf = _prepare(model, x)
  if full is None:
    full = _search(model, xf, model.options.beta, batch_size=batch_size)
  rec0 = _search(model, xf, 0.0, batch_size=batch_size)
  n = len(y)
  idx = np.arange(n)
  gamma = np.asarray(model.options.gamma if model.options.binary else np.ones(10), np.float64)
  pred = np.argmax(-gamma * full["scores"], axis=-1)
  L_y = N * full["scores"][idx, y].astype(np.float64)
  r_y = np.linalg.norm(xf - full["recon"][idx, y], axis=-1).astype(np.float64)
  d = np.sqrt(np.maximum(N * rec0["scores"].astype(np.float64), 0.0))  # (n, C)
  eps = solve_radius(L_y[:, None], r_y[:, None], d, gamma[y][:, None], gamma[None, :])
  eps[idx, y] = np.inf
  bound = np.min(eps, axis=-1)
  bound = np.where(pred == y, bound, 0.0)
  return {"bound": bound, "L_y": L_y, "r_y": r_y, "d": d, "pred": pred}


def linf_lower_bound(
  model: models_lib.ABS, x, y, *, bisection_steps: int = 8, eps_max: float = 0.5, batch_size=None
) -> dict:
  """Per-image certified L-inf radius by bisection with dead-zone searches (Appendix A.6, with
  the closed forms corrected)."""
  y = np.asarray(y, np.int64)
  xf = _prepare(model, x)
  n = len(y)
  idx = np.arange(n)
  full = _search(model, xf, model.options.beta, batch_size=batch_size)
  pred = np.argmax(-full["scores"], axis=-1)
  e = np.abs(full["recon"][idx, y] - xf).astype(np.float64)  # (n, P)
  kl = 0.5 * np.sum(full["latents"][idx, y].astype(np.float64) ** 2, -1)

  def certified(eps):
    lower = np.sum((e + eps[:, None]) ** 2, -1) + kl
    up = N * _search(model, xf, 0.0, deadzone=eps, batch_size=batch_size)["scores"].astype(
      np.float64
    )
    up[idx, y] = np.inf
    return lower < np.min(up, -1)

  lo = np.zeros(n)
  hi = np.full(n, eps_max)
  ok0 = certified(lo)
  for _ in range(bisection_steps):
    mid = 0.5 * (lo + hi)
    ok = certified(mid)
    lo = np.where(ok, mid, lo)
    hi = np.where(ok, hi, mid)
  bound = np.where((pred == y) & ok0, lo, 0.0)
  return {"bound": bound, "pred": pred}


def summarize(bound) -> dict:
  b = np.asarray(bound, np.float64)
  return {
    "mean": float(np.mean(b)),
    "median": float(np.median(b)),
    "fraction_positive": float(np.mean(b > 0)),
    "sem": float(np.std(b) / np.sqrt(max(len(b), 1))),
  }
