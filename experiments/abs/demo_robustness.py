"""Demo report section: the attack suite at smoke scale.

``run(workdir) -> markdown``: runs ``configs/robustness.py:smoke`` (a few held-out digits,
vanilla CNN, nearest neighbour and -- when the released weights are found -- ABS with a small
latent bank and stage-1 inference) and returns the Table-1-shaped excerpt with the
accuracy-vs-distortion figure.
"""

from __future__ import annotations

import os

from rvl_jax.core import experiment
from rvl_jax.core import io as rio


def run(workdir: str) -> str:
  from experiments.abs import EXPERIMENTS
  from experiments.abs.configs import robustness as cfg_lib

  config = cfg_lib.get_config("smoke")
  if not os.path.isdir(config.weights_dir):
    return (
      "## ABS robustness (attacks)\n\nSkipped: released weights not found at the "
      "config's weights_dir (pass --config.weights_dir to the experiment)."
    )
  experiment.dispatch(EXPERIMENTS, config, workdir)
  res = rio.read_json(os.path.join(workdir, "results.json"))
  with open(os.path.join(workdir, "table1.md")) as f:
    table = f.read()
  rel = os.path.basename(os.path.normpath(workdir))
  lines = [
    "## ABS robustness (attacks)",
    "",
    f"Smoke scale ({res.get('num_images')} held-out digits; ABS with a "
    f"{config.abs.bank_size}-latent bank, stage-1 inference, {config.abs.num_images} digits): "
    "per-sample minimum over every attack, median distance / accuracy at ε (paper values in "
    "parentheses; not comparable at this scale).",
    "",
    table,
    "",
    f"![accuracy vs distortion]({rel}/plots/accuracy_vs_distortion.png)",
    f"![CNN L2 quantile gallery]({rel}/plots/gallery_cnn_l2.png)",
  ]
  return "\n".join(lines)
