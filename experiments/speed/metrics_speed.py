"""Wall time of every disentanglement metric at disentanglement_lib's sample counts.

    python -m experiments.speed.metrics_speed [--scale=1.0] [--metrics=mig,dci]
        [--representation=moments|linear] [--dci_trees=100] [--seed=0] [--out=FILE.json]
    python -m experiments.speed.metrics_speed --dci_compare [--scale=1.0] [--repeats=1]

Representation: a 10-dimensional jit-compiled JAX function of procedural dSprites images
('moments': mass, centroid, second and third image moments; 'linear': a fixed random projection
followed by tanh). Per metric the script prints the time spent rendering images (data), computing
the representation, and in the metric itself (estimators, classifiers), plus the score. A baseline
row measured in the same run compares the vectorised mutual-information matrix (MIG/Modularity)
with scikit-learn's pairwise `mutual_info_score` on the same 100,000 points.

``--dci_compare`` times DCI alone on the image-free oracle representations of the dSprites factor
grid (`rvl_jax.disentanglement.oracle`, identity and a random rotation) at the DCI sample counts:
the reference estimator fitted one factor after another (n_jobs=1, scikit-learn's own loop) and
with n_jobs=--dci_jobs tree threads (all factors at once, the one-vs-rest trees of every boosting
stage in one shared pool), alternating in each repeat, the same codes for both; it prints wall and
process CPU seconds, the load average around each call, the same-run ratio (median over repeats)
and every score to all digits, and fails unless they are identical; then the histogram
estimator's time and scores next to the reference's.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from rvl_jax import disentanglement as dis
from rvl_jax.data import dsprites
from rvl_jax.disentanglement import metrics as dm

_SCALE = flags.DEFINE_float("scale", 1.0, "Multiplier on disentanglement_lib's sample counts.")
_METRICS = flags.DEFINE_list("metrics", None, f"Subset of {list(dm.ALL_METRICS)} (default: all).")
_REPR = flags.DEFINE_enum(
  "representation", "moments", ["moments", "linear"], "10-d representation of the images."
)
_DCI_TREES = flags.DEFINE_integer("dci_trees", 100, "Trees per GBT in DCI (100 = reference).")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")
_BATCH = flags.DEFINE_integer("representation_batch_size", 1024, "Images per representation call.")
_OUT = flags.DEFINE_string("out", None, "Optional JSON file for the measured numbers.")
_DCI_COMPARE = flags.DEFINE_bool("dci_compare", False, "Only compare DCI estimators / n_jobs.")
_DCI_JOBS = flags.DEFINE_integer("dci_jobs", 2, "Tree-fitting threads of the parallel DCI call.")
_REPEATS = flags.DEFINE_integer("repeats", 1, "Alternating rounds in --dci_compare.")
_DCI_ROWS = flags.DEFINE_list(
  "dci_rows", ["identity", "rotation"], "Oracle representations timed by --dci_compare."
)

_DCI_KEYS = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")


def dci_compare() -> dict:
  """Sequential vs parallel reference DCI (same codes, same run) and the histogram estimator."""
  from rvl_jax.disentanglement import oracle, scores

  counts = dm.scaled_counts(_SCALE.value, metrics=["dci"])["dci"]
  grid = oracle.FactorGrid()
  rng = np.random.default_rng(_SEED.value)
  f_train = grid.sample_factors(rng, counts["num_train"])
  f_test = grid.sample_factors(rng, counts["num_test"])
  print(
    f"DCI on the dSprites oracles: {counts['num_train']} train / {counts['num_test']} test "
    f"points, {_DCI_TREES.value} trees, cpu count {os.cpu_count()}, key {_SEED.value}"
  )
  scores.dci(np.eye(10)[np.arange(60) % 10], np.arange(60)[:, None] % 3, n_estimators=2)  # warm-up
  out = {}
  rotations = {"identity": None, "rotation": oracle.random_rotation(5, 0)}
  for row in _DCI_ROWS.value:
    rot = rotations[row]
    rep = oracle.oracle_representation(grid, rotation=rot)
    z, zt = rep(grid.images_from_factors(f_train)), rep(grid.images_from_factors(f_test))

    def run(**kw):
      load, t, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
      res = scores.dci(z, f_train, zt, f_test, n_estimators=_DCI_TREES.value, key=_SEED.value, **kw)
      wall, cpu = time.perf_counter() - t, time.process_time() - cpu
      print(
        f"  {kw}: {wall:.1f} s wall, {cpu:.1f} s CPU, load average {load:.1f} -> "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
      )
      return wall, res

    times = {"sequential": [], "parallel": []}
    results = {}
    for _ in range(_REPEATS.value):
      for name, jobs in (("sequential", 1), ("parallel", _DCI_JOBS.value)):
        t, results[name] = run(n_jobs=jobs)
        times[name].append(t)
    t_hist, hist = run(n_jobs=_DCI_JOBS.value, estimator="hist_gbt")
    seq, par = results["sequential"], results["parallel"]
    identical = all(seq[k] == par[k] for k in _DCI_KEYS) and np.array_equal(
      seq["importance"], par["importance"]
    )
    t_seq, t_par = float(np.median(times["sequential"])), float(np.median(times["parallel"]))
    print(
      f"{row:<9} reference GBT: sequential {t_seq:8.1f} s, {_DCI_JOBS.value} threads "
      f"{t_par:8.1f} s -> {t_seq / t_par:.2f}x; identical: {identical}"
    )
    for k in _DCI_KEYS:
      print(
        f"{'':<9}   {k:<22} sequential {100 * seq[k]!r:<22} parallel {100 * par[k]!r:<22} "
        f"hist_gbt {100 * hist[k]:.2f}"
      )
    print(f"{'':<9} hist_gbt (approximate estimator): {t_hist:8.1f} s")
    if not identical:
      raise AssertionError(f"{row}: parallel DCI scores differ from the sequential reference")
    out[row] = {
      "sequential_s": times["sequential"],
      "parallel_s": times["parallel"],
      "hist_gbt_s": t_hist,
      "identical": identical,
      "reference": {k: 100 * seq[k] for k in _DCI_KEYS},
      "hist_gbt": {k: 100 * hist[k] for k in _DCI_KEYS},
    }
  return {"dci_compare": out, "counts": counts, "trees": _DCI_TREES.value, "jobs": _DCI_JOBS.value}


def moments_representation(image_size: int = 64):
  """10 image moments of a (n, H, W, 1) batch: mass, centroid (2), 2nd central (3), 3rd (4)."""
  coords = (jnp.arange(image_size, dtype=jnp.float32) + 0.5) / image_size

  def fn(images):
    x = images[..., 0]
    mass = x.sum(axis=(1, 2)) + 1e-6
    py = x.sum(axis=2) / mass[:, None]  # (n, H) marginal over rows
    px = x.sum(axis=1) / mass[:, None]
    cy, cx = py @ coords, px @ coords
    dy = coords[None, :] - cy[:, None]
    dx = coords[None, :] - cx[:, None]
    w = x / mass[:, None, None]
    yy = jnp.einsum("nhw,nh->n", w, dy**2)
    xx = jnp.einsum("nhw,nw->n", w, dx**2)
    xy = jnp.einsum("nhw,nh,nw->n", w, dy, dx)
    yyy = jnp.einsum("nhw,nh->n", w, dy**3)
    xxx = jnp.einsum("nhw,nw->n", w, dx**3)
    xxy = jnp.einsum("nhw,nh,nw->n", w, dy, dx**2)
    xyy = jnp.einsum("nhw,nh,nw->n", w, dy**2, dx)
    return jnp.stack(
      [mass / image_size**2, cy, cx, yy, xx, xy, 10 * yyy, 10 * xxx, 10 * xxy, 10 * xyy], axis=1
    )

  return fn


def linear_representation(seed: int, image_size: int = 64):
  w = jax.random.normal(jax.random.PRNGKey(seed), (image_size * image_size, 10)) / 8.0

  def fn(images):
    return jnp.tanh(images.reshape(images.shape[0], -1) @ w)

  return fn


def mi_baseline(codes: np.ndarray, factors: np.ndarray) -> dict[str, float]:
  from sklearn.metrics import mutual_info_score

  binned = dis.histogram_discretize(codes, 20)
  t = time.perf_counter()
  fast = dis.mutual_info_matrix(binned, factors)
  t_fast = time.perf_counter() - t
  t = time.perf_counter()
  ref = np.array(
    [
      [mutual_info_score(factors[:, j], binned[:, i]) for j in range(factors.shape[1])]
      for i in range(binned.shape[1])
    ]
  )
  t_ref = time.perf_counter() - t
  return {
    "vectorized_s": t_fast,
    "sklearn_pairwise_s": t_ref,
    "max_abs_diff": float(np.abs(fast - ref).max()),
  }


def main(argv):
  del argv
  if _DCI_COMPARE.value:
    res = dci_compare()
    if _OUT.value:
      from rvl_jax.core import io as rio

      rio.write_json(_OUT.value, res)
    return
  data = dsprites.ProceduralDSprites()
  fn = moments_representation() if _REPR.value == "moments" else linear_representation(_SEED.value)
  rep = dm.Representation(fn, batch_size=_BATCH.value)
  metrics = tuple(_METRICS.value or dm.ALL_METRICS)
  counts = dm.scaled_counts(_SCALE.value, metrics=metrics) if _SCALE.value != 1.0 else None
  options = {"dci": {"n_estimators": _DCI_TREES.value}}
  print(
    f"devices: {jax.devices()}  cpu count: {os.cpu_count()}  representation: {_REPR.value} "
    f"(10-d, jit, batch {_BATCH.value})  scale: {_SCALE.value}"
  )
  rows = {}
  header = (
    f"{'metric':<11} {'counts':<58} {'images':>9} {'data_s':>8} {'repr_s':>8} "
    f"{'metric_s':>9} {'total_s':>8} {'score':>7}"
  )
  print(header)
  t_all = time.perf_counter()
  for name in metrics:
    out = dis.evaluate_all(rep, data, _SEED.value, metrics=[name], counts=counts, options=options)
    t = out["timing"][name]
    c = out["counts"][name]
    images = _num_images(name, c)
    rows[name] = dict(t, counts=c, images=images, score=out["scores"][name])
    print(
      f"{name:<11} {json.dumps(c):<58} {images:>9d} {t['data_s']:>8.1f} "
      f"{t['representation_s']:>8.1f} {t['metric_s']:>9.1f} {t['total_s']:>8.1f} "
      f"{out['scores'][name]:>7.1f}",
      flush=True,
    )
  total = time.perf_counter() - t_all
  print(f"all metrics: {total:.1f} s")
  n_mi = (
    dm.DEFAULT_COUNTS["mig"]["num_train"]
    if counts is None
    else counts.get("mig", dm.scaled_counts(_SCALE.value)["mig"])["num_train"]
  )
  timer = dm.Timer()
  codes, factors = dm.sample_codes(rep, data, np.random.default_rng(_SEED.value), n_mi, timer)
  base = mi_baseline(codes, factors)
  print(
    f"baseline: MI matrix (10 codes x 5 factors, {n_mi} points): vectorized "
    f"{base['vectorized_s']:.3f} s vs sklearn pairwise {base['sklearn_pairwise_s']:.3f} s "
    f"({base['sklearn_pairwise_s'] / max(base['vectorized_s'], 1e-9):.1f}x), "
    f"max |diff| {base['max_abs_diff']:.1e}"
  )
  if _OUT.value:
    from rvl_jax.core import io as rio

    rio.write_json(
      _OUT.value,
      {
        "rows": rows,
        "total_s": total,
        "mi_baseline": base,
        "representation": _REPR.value,
        "scale": _SCALE.value,
      },
    )


def _num_images(name: str, c: dict) -> int:
  if name == "beta_vae":
    return 2 * c["batch_size"] * (c["num_train"] + c["num_eval"])
  if name == "factor_vae":
    return c["num_variance_estimate"] + c["batch_size"] * (c["num_train"] + c["num_eval"])
  return c.get("num_train", 0) + c.get("num_test", 0)


if __name__ == "__main__":
  app.run(main)
