"""Running the attack list of Schott et al. (2019), Sec. 5 and Table 1, on one model: registry,
chunking, bookkeeping.

``run_attacks(model, x, y, key, attack_configs)`` runs every configured attack that applies to
the model and returns, per attack key, the per-sample minimal distance in that attack's metric,
the corresponding adversarials, the query counts and the wall time. Keys ending in ``_ge`` use
the finite-difference gradient and are repeated for every step size in ``ge_steps`` (the best
per sample is kept); their true-gradient twins run only on differentiable models.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.attacks import boundary_attack as boundary
from rvl_jax.attacks import core, gradient, noise
from rvl_jax.attacks import latent as latent_descent
from rvl_jax.attacks import pointwise_attack as pointwise
from rvl_jax.attacks import transfer_attack as transfer
from rvl_jax.attacks.core import LogitsFn
from rvl_jax.core import progress


@dataclasses.dataclass(frozen=True)
class Model:
  """A classifier under attack.

  Attributes:
    name: key used in reports ('cnn', 'binary_cnn', 'nn', 'madry', 'binary_abs', 'abs', ...).
    logits_fn: x (N, 28, 28, 1) in [0, 1] -> (N, 10) logits (jax-traceable).
    differentiable: whether true-gradient attacks apply (binarized models: STE inside logits_fn).
    binary: post-process adversarials for an input-binarizing model.
    abs_fn: x -> (logits, reconstructions (N, 10, 28, 28, 1)) for Latent Descent (ABS only).
    batch_size: images per attack call (memory bound; the last chunk is padded).
  """

  name: str
  logits_fn: LogitsFn
  differentiable: bool = True
  binary: bool = False
  abs_fn: Optional[Callable] = None
  batch_size: int = 100


# attack key -> (metric, kind)
ATTACKS = {
  "salt_pepper": ("l0", "free"),
  "pointwise_10x": ("l0", "free"),
  "gaussian": ("l2", "free"),
  "boundary": ("l2", "free"),
  "pointwise_l2": ("l2", "free"),
  "transfer": ("l2+linf", "transfer"),
  "latent_descent": ("l2", "abs"),
  "fgm": ("l2", "grad"),
  "fgm_ge": ("l2", "ge"),
  "deepfool_l2": ("l2", "grad"),
  "deepfool_l2_ge": ("l2", "ge"),
  "bim_l2": ("l2", "grad"),
  "bim_l2_ge": ("l2", "ge"),
  "fgsm": ("linf", "grad"),
  "fgsm_ge": ("linf", "ge"),
  "deepfool_linf": ("linf", "grad"),
  "deepfool_linf_ge": ("linf", "ge"),
  "bim_linf": ("linf", "grad"),
  "bim_linf_ge": ("linf", "ge"),
  "mim": ("linf", "grad"),
  "mim_ge": ("linf", "ge"),
}


def applicable(model: Model, key: str) -> bool:
  kind = ATTACKS[key][1]
  if kind == "grad":
    return model.differentiable
  if kind == "abs":
    return model.abs_fn is not None
  return True


def _call(model: Model, key: str, x, y, rng, params: Mapping, substitute_fn, directions):
  """One attack call on one chunk; returns a tracker."""
  f = model.logits_fn
  b = model.binary
  p = dict(params)
  base = key[:-3] if key.endswith("_ge") else key
  if key.endswith("_ge"):
    p["gradient"] = "ge"
  if base == "salt_pepper":
    return noise.salt_and_pepper(f, x, y, rng, binary=b, **p)
  if base == "pointwise_10x":
    return pointwise.pointwise(f, x, y, rng, metric="l0", binary=b, **p)
  if base == "pointwise_l2":
    return pointwise.pointwise(f, x, y, rng, metric="l2", binary=b, **p)
  if base == "gaussian":
    return noise.additive_gaussian(f, x, y, rng, binary=b, **p)
  if base == "boundary":
    return boundary.boundary(f, x, y, rng, binary=b, **p)
  if base == "transfer":
    if substitute_fn is None and directions is None:
      raise ValueError("argument 'substitute_fn': the transfer attack needs a substitute model")
    return transfer.transfer(f, substitute_fn, x, y, binary=b, directions=directions, **p)
  if base == "latent_descent":
    return latent_descent.latent_descent(model.abs_fn, x, y, binary=b, **p)
  if base == "fgm":
    return gradient.fgm(f, x, y, binary=b, **p)
  if base == "fgsm":
    return gradient.fgsm(f, x, y, binary=b, **p)
  if base == "deepfool_l2":
    return gradient.deepfool(f, x, y, norm="l2", binary=b, **p)
  if base == "deepfool_linf":
    return gradient.deepfool(f, x, y, norm="linf", binary=b, **p)
  if base == "bim_l2":
    return gradient.bim(f, x, y, norm="l2", binary=b, **p)
  if base == "bim_linf":
    return gradient.bim(f, x, y, norm="linf", binary=b, **p)
  if base == "mim":
    return gradient.mim(f, x, y, binary=b, **p)
  raise ValueError(f"unknown attack key {key!r}; expected one of {sorted(ATTACKS)}")


def _chunked(model, key, x, y, rng, params, substitute_fn, directions):
  n = x.shape[0]
  bs = min(model.batch_size, n)
  parts = []
  # A line with rate and ETA per chunk of images (ABS columns run many small chunks); one chunk
  # (a CNN column) only reports its end.
  bar = progress.Progress(n, desc=f"[{model.name}] {key}", unit="img") if bs < n else None
  for c, start in enumerate(range(0, n, bs)):
    stop = min(start + bs, n)
    xi, yi = x[start:stop], y[start:stop]
    pad = bs - (stop - start)
    if pad:
      xi = np.concatenate([xi, np.repeat(xi[:1], pad, 0)])
      yi = np.concatenate([yi, np.repeat(yi[:1], pad, 0)])
    di = None
    if directions is not None:
      di = {
        k: jnp.asarray(
          np.concatenate(
            [np.asarray(v)[start:stop]]
            + ([np.repeat(np.asarray(v)[start : start + 1], pad, 0)] if pad else [])
          )
        )
        for k, v in directions.items()
      }
    tr = _call(model, key, xi, yi, jax.random.fold_in(rng, c), params, substitute_fn, di)
    tr = jax.device_get(tr)
    keep = stop - start
    parts.append(
      {
        "dist": {m: np.asarray(v)[:keep] for m, v in tr.dist.items()},
        "best": {m: np.asarray(v)[:keep] for m, v in tr.best.items()},
        "queries": np.asarray(tr.queries)[:keep],
      }
    )
    if bar is not None:
      bar.update(keep)
  if bar is not None:
    bar.close()
  return {
    "dist": {m: np.concatenate([p["dist"][m] for p in parts]) for m in core.METRICS},
    "best": {m: np.concatenate([p["best"][m] for p in parts]) for m in core.METRICS},
    "queries": np.concatenate([p["queries"] for p in parts]),
  }


def _min_records(records):
  out = records[0]
  for r in records[1:]:
    for m in core.METRICS:
      better = r["dist"][m] < out["dist"][m]
      out["dist"][m] = np.where(better, r["dist"][m], out["dist"][m])
      out["best"][m] = np.where(better[:, None, None, None], r["best"][m], out["best"][m])
    out["queries"] = out["queries"] + r["queries"]
  return out


def run_attacks(
  model: Model,
  x,
  y,
  rng,
  attack_configs: Mapping[str, Mapping],
  *,
  ge_steps: Sequence[float] = (0.01, 0.1, 1.0),
  substitute_fn=None,
  directions=None,
  log: Callable[[str], None] = print,
  skip: Sequence[str] = (),
  on_result: Optional[Callable[[str, dict], None]] = None,
) -> Dict[str, dict]:
  """Runs every configured, applicable attack on ``model``.

  Args:
    attack_configs: attack key (see ``ATTACKS``) -> keyword parameters of that attack.
    ge_steps: finite-difference step sizes for the ``*_ge`` attacks (best per sample kept).
    substitute_fn / directions: substitute model, or precomputed substitute perturbations,
      for the transfer attack.
    log: receives one line per attack (start and result).
    skip: attack keys not to run (e.g. those an interrupted run already saved). Each attack's
      random stream is folded from its position in ``attack_configs``, so a run that skips the
      finished attacks draws the same streams for the rest as an uninterrupted run.
    on_result: called as ``on_result(key, record)`` after each attack (e.g. to save progress).

  Returns:
    attack key -> {'metric': 'l2'|'linf'|'l0' (transfer: both l2 and linf entries are made as
    'transfer' in each metric by the caller), 'dist': {metric: (N,)}, 'best': {metric: (N, ...)},
    'queries': (N,), 'seconds': float}.
  """
  x = np.asarray(x, np.float32)
  y = np.asarray(y, np.int32)
  out = {}
  for i, (key, params) in enumerate(attack_configs.items()):
    if key not in ATTACKS:
      raise ValueError(
        f"argument 'attack_configs': unknown attack {key!r}; expected one of {sorted(ATTACKS)}"
      )
    if not applicable(model, key) or key in skip:
      continue
    t0 = time.time()
    log(f"[{model.name}] {key}: started on {x.shape[0]} images ({i + 1} of {len(attack_configs)})")
    rk = jax.random.fold_in(rng, i)
    params = dict(params or {})
    if key.endswith("_ge"):
      steps = params.pop("ge_steps", ge_steps)
      recs = []
      for s in steps:
        recs.append(
          _chunked(model, key, x, y, rk, dict(params, ge_step=float(s)), substitute_fn, directions)
        )
      rec = _min_records(recs)
    else:
      rec = _chunked(model, key, x, y, rk, params, substitute_fn, directions)
    rec["metric"] = ATTACKS[key][0]
    rec["seconds"] = time.time() - t0
    out[key] = rec
    metric = rec["metric"].split("+")[0]
    d = rec["dist"][metric]
    log(
      f"[{model.name}] {key}: {rec['seconds']:.1f}s, median {metric} "
      f"{np.median(d):.3g}, success {np.mean(np.isfinite(d)):.0%}, "
      f"mean queries {np.mean(rec['queries']):.0f}"
    )
    if on_result is not None:
      on_result(key, rec)
  return out


def distances_by_metric(records: Mapping[str, dict]) -> Dict[str, Dict[str, np.ndarray]]:
  """metric -> attack key -> per-sample distances, as the Table-1 report expects."""
  table = {"l2": {}, "linf": {}, "l0": {}}
  for key, rec in records.items():
    for metric in rec["metric"].split("+"):
      table[metric][key] = rec["dist"][metric]
  return table
