"""Benchmark section of the demo report: exact split bookkeeping, and a small CNN on
procedural dSprites trained on the random and the extrapolation split (smoke scale)."""

from __future__ import annotations

import os

from experiments.benchmark import train
from experiments.benchmark.configs import default
from rvl_jax.benchmark import report, splits
from rvl_jax.core import experiment
from rvl_jax.core import io as rio


def run(workdir: str) -> str:
  os.makedirs(workdir, exist_ok=True)
  lines = [
    "## In-domain generalization benchmark (dSprites-procedural, smoke scale)",
    "",
    "Exact splits (Schott et al. 2022, Table 4; train / test / one-OOD test images):",
    "",
    "| data set | split | train | test | train % | one-OOD |",
    "|---|---|---|---|---|---|",
  ]
  for name in ("dsprites", "shapes3d", "mpi3d", "celeb_glow"):
    for v in ("random", "composition", "extrapolation"):
      s = splits.summary(name, v)
      one = f"{s['one_ood']:,}" if "one_ood" in s else "–"
      lines.append(
        f"| {name} | {v} | {s['train']:,} | {s['test']:,} | {s['train_percent']:.1f} | {one} |"
      )
  rows = []
  for split in ("random", "extrapolation"):
    cfg = default.get_config("smoke")
    cfg.split, cfg.num_steps, cfg.eval_test, cfg.eval_train = split, 150, 1024, 512
    sub = os.path.join(workdir, split)
    res = experiment.launch(train.train_and_evaluate, cfg, sub)
    rows.append(res)
  pdir = experiment.plots_dir(workdir)
  rio.save_figure(
    report.plot_r2_per_split(rows, title="CNN, 150 iterations"),
    os.path.join(pdir, "r2_per_split.png"),
  )
  lines += [
    "",
    "CNN, 150 iterations, batch 64, lr 5e-4 (the acceptance runs use 2,000; see docs/benchmark.md):",
    "",
    "| split | test R² | train R² | x-position R² | orientation R² |",
    "|---|---|---|---|---|",
  ]
  for r in rows:
    lines.append(
      f"| {r['split']} | {r['test/rsquared']:.3f} | {r['train/rsquared']:.3f} | "
      f"{r['test/rsquared_x-position']:.3f} | {r['test/rsquared_orientation']:.3f} |"
    )
  ex = rows[-1]
  lines += [
    "",
    f"Extrapolation D_one-ood: ID-factor R² {ex['modularity/id_rsquared']:.3f} vs OOD-factor R² "
    f"{ex['modularity/ood_rsquared']:.3f}; {100 * ex['towards_mean/ratio_share_in_0_1']:.1f} % of "
    f"OOD predictions lie towards the training mean; ρ(error, true OOD value) = {ex['errors/rho_e_yood']:.2f}.",
    "",
    "![R² per split](plots/r2_per_split.png) ![OOD scatter](extrapolation/plots/ood_scatter.png)",
    "",
  ]
  return "\n".join(lines)
