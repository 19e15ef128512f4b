"""The metric oracle table: identity and rotated factor oracles scored by every metric, next to an
independent reference measurement (``rvl_jax.disentanglement.oracle.REFERENCE_ORACLE_TABLE``).
Writes results.json ('<row>/<metric>') and oracle_table.md."""

from __future__ import annotations

import os

from rvl_jax.core import io as rio
from rvl_jax.disentanglement import metrics as dm
from rvl_jax.disentanglement import oracle

METRICS = ("mcc", "mig", "beta_vae", "factor_vae", "dci", "modularity", "sap")


def train_and_evaluate(config, workdir: str) -> dict:
  counts = dm.scaled_counts(config.scale) if config.scale != 1.0 else {}
  counts.pop("dci", None)
  res = oracle.run_oracle_table(
    key=config.seed,
    rotation_seed=config.rotation_seed,
    counts=counts,
    dci_trees=config.dci_trees,
    dci_num_train=config.dci_num_train,
    dci_num_test=config.dci_num_train // 2,
  )
  out = {}
  lines = ["| row | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
  for row in ("identity", "rotation"):
    scores, ref = res[row]["scores"], oracle.REFERENCE_ORACLE_TABLE[row]
    out.update({f"{row}/{m}": float(scores[m]) for m in METRICS})
    lines.append(f"| {row} | " + " | ".join(f"{scores[m]:.1f}" for m in METRICS) + " |")
    lines.append(
      f"| {row} (reference) | "
      + " | ".join(f"{ref[m]:.1f}" if m in ref else "-" for m in METRICS)
      + " |"
    )
  with rio.atomic_write(os.path.join(workdir, "oracle_table.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  rio.write_json(os.path.join(workdir, "counts.json"), res["identity"]["counts"])
  return out
