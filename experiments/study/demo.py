"""Demo section: the cross-scenario study at smoke scale (both families)."""

import os

from experiments.study import study
from experiments.study.configs import factor_family, mnist_family
from rvl_jax.core import experiment

TITLE = "Cross-scenario study (smoke scale)"


def run(workdir: str) -> str:
  lines = [
    f"## {TITLE}",
    "",
    "Every model behind one interface, every scenario a cached cell (here two models and "
    "a few scenarios per family at seconds-scale settings; the measured default study is "
    "in docs/study.md).",
    "",
  ]
  rel = os.path.basename(workdir)
  for name, module, fn in (
    ("mnist", mnist_family, study.mnist_family),
    ("factor", factor_family, study.factor_family),
  ):
    wd = os.path.join(workdir, name)
    flat = experiment.launch(fn, module.get_config("smoke"), wd)
    with open(os.path.join(wd, f"{name}_summary.md")) as f:
      table = f.read().split("## Every column")[0].split("\n", 2)[2]
    lines += [
      f"### {name} family ({flat['computed_cells']} cells computed, "
      f"{flat['reused_cells']} reused, {flat['wall_seconds']:.1f} s)",
      "",
      table.strip(),
      "",
      f"![{name} heat map]({rel}/{name}/plots/{name}_heatmap.png)",
      "",
    ]
  return "\n".join(lines)
