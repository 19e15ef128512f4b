"""Oracle readout table (Schott et al. 2022, App. A): the readout MLP on the ground-truth factors
(and on negated factors) per split. Needs no images."""

from __future__ import annotations

import os

from rvl_jax.benchmark import readout
from rvl_jax.core import io as rio


def train_and_evaluate(config, workdir: str) -> dict:
  res = {}
  lines = ["| split | identity | sign flip |", "|---|---|---|"]
  for split in config.splits.split(","):
    row = []
    for flip in (False, True):
      s = readout.oracle_readout(
        config.dataset,
        split,
        sign_flip=flip,
        steps=config.num_steps,
        seed=config.seed,
        max_test=config.max_test or None,
      )
      key = f"{split}/{'sign_flip' if flip else 'identity'}"
      res[f"{key}/rsquared"] = s["rsquared"]
      res[f"{key}/min_factor_rsquared"] = min(v for k, v in s.items() if k.startswith("rsquared_"))
      row.append(f"{s['rsquared']:.4f}")
    lines.append(f"| {split} | " + " | ".join(row) + " |")
  with rio.atomic_write(os.path.join(workdir, "oracle_table.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  return res
