"""Robustness evaluation of ABS, Binary ABS and the baselines (Schott et al. 2019, Sec. 5-7,
Table 1), with ``rvl_jax.abs.robustness.Protocol``.

    python -m experiments.abs.main --config=experiments/abs/configs/robustness.py:smoke --workdir=DIR

Writes into DIR: ``table1.md`` / ``table1.json`` (measured median / accuracy-at-eps beside the
paper's), ``distances/<model>.npz`` (per-sample distances of every attack, the adversarials of
the all-attacks minimum), ``plots/accuracy_vs_distortion.png``, quantile and per-class galleries
per model, ``plots/distal.png``, and ``results.json`` (flat keys). Models already evaluated in
DIR are loaded instead of re-attacked (resume).
"""

from __future__ import annotations

import os
import time

from absl import logging

from rvl_jax.abs import evaluation
from rvl_jax.abs import robustness as rob
from rvl_jax.core import experiment, prng
from rvl_jax.core import io as rio
from rvl_jax.data import mnist


def _log(msg):
  logging.info(msg)
  print(msg, flush=True)


def _flat_results(summary, clean_acc, claims) -> dict:
  out = {}
  for metric, rows in summary.get("robust_accuracy", {}).items():
    for per in rows.values():
      for name, acc in per.items():
        out[f"{metric}/autoattack/{name}/robust_accuracy"] = acc
  for metric, rows in summary.items():
    if metric in ("clean_accuracy", "robust_accuracy"):
      continue
    for attack, per in rows.items():
      for name, s in per.items():
        out[f"{metric}/{attack}/{name}/median"] = s["median"]
        out[f"{metric}/{attack}/{name}/accuracy"] = s["accuracy"]
  for name, a in clean_acc.items():
    out[f"clean_accuracy/{name}"] = a
  for c, v in claims.items():
    out[f"claims/{c}"] = v
  return out


def train_and_evaluate(config, workdir: str) -> dict:
  t_start = time.time()
  data = mnist.load_mnist(
    config.data_source, config.data_dir or None, config.test_fraction, config.seed
  )
  x, y = evaluation.balanced_subset(data.test_images, data.test_labels, config.num_images)
  _log(f"robustness: {len(y)} evaluation images from {data.source} (held-out split)")
  abs_columns = rob.AbsColumns(**config.abs)
  protocol = rob.Protocol(
    data=data,
    x=x,
    y=y,
    workdir=workdir,
    seed=config.seed,
    weights_dir=config.weights_dir,
    columns=config.models,
    attacks=config.attacks,
    abs_attacks=config.abs_attacks,
    batch_size=config.batch_size,
    abs_columns=abs_columns,
    ge=rob.GradientEstimation(**config.ge),
    madry=rob.MadryColumn(**config.madry),
    autoattack=rob.AutoAttackRow(**config.autoattack),
    recompute=config.recompute_attacks,
    log=_log,
  )

  results = {"num_images": len(y), "data_source": data.source}
  columns = {}
  for name in config.models:
    columns[name] = col = protocol.evaluate(name)
    results[f"images/{name}"] = col.num_images
    if col.seconds is not None:
      results[f"seconds/{name}"] = col.seconds

  scale = (
    f"Scale: {len(y)} held-out images ({data.source}) for the CNN/NN/Madry columns, "
    f"{min(abs_columns.num_images, len(y))} for the ABS columns "
    f"(ABS queries with n_iter={abs_columns.query_n_iter}, adversarials re-verified "
    f"with n_iter={abs_columns.verify_n_iter})."
  )
  md, summary, claims = protocol.report(columns, scale)
  plots = experiment.plots_dir(workdir)
  rob.write_figures(columns, x, y, plots)

  distal = rob.DistalPanel(**config.distal)
  if distal.enabled:
    fns = {m: protocol.model(m).logits_fn for m in distal.models if m in config.models}
    results.update(
      rob.distal_panel(
        distal,
        fns,
        prng.stream_key(config.seed, "distal"),
        os.path.join(plots, "distal.png"),
        log=_log,
      )
    )

  results.update(_flat_results(summary, {n: c.clean_accuracy for n, c in columns.items()}, claims))
  madry_eval = os.path.join(workdir, "madry_eval.json")
  if "madry" in config.models and os.path.exists(madry_eval):
    for k, v in rio.read_json(madry_eval).items():
      results[f"madry/{k}"] = v
  results["wall_seconds"] = time.time() - t_start
  _log(md)
  return results
