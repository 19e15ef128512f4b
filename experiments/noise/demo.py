"""Demo section: noise training on MNIST at smoke scale (vanilla vs GNT sigma 0.5 vs ANT1x1)."""

import os

from experiments.noise import EXPERIMENTS
from experiments.noise.configs import mnist_study
from rvl_jax.core import experiment

TITLE = "Noise training against common corruptions (GNT / ANT, MNIST-C)"


def run(workdir: str) -> str:
  config = mnist_study.get_config("smoke")
  config.eval.update(eps_star_arms=(), adversarial=False)
  results = experiment.dispatch(EXPERIMENTS, config, workdir)
  rel = os.path.basename(workdir)
  lines = [
    f"## {TITLE}",
    "",
    "A vanilla CNN, Gaussian noise training (sigma 0.5, half of every batch) and adversarial "
    "noise training (1x1 generator, clipping-aware projection to eps(0.5)) fine-tuned from a "
    "common start point for the same number of steps; accuracy on the clean test digits and "
    "on the 15 MNIST-C corruptions (fixed seeded set). Smoke scale (1000 training images, "
    "2+2 epochs, 1 seed): see docs/noise.md for the acceptance-scale study.",
    "",
    "| arm | clean top-1 | MNIST-C mean | fog | brightness | impulse | translate |",
    "|---|---|---|---|---|---|---|",
  ]
  for arm in config.arms:
    g = lambda k, arm=arm: results.get(f"{arm}/{k}", float("nan"))  # noqa: E731
    lines.append(
      f"| {arm} | {g('clean_top1_mean'):.1f} | {g('mnist_c_mean_mean'):.1f} | "
      f"{g('mnist_c/fog_mean'):.1f} | {g('mnist_c/brightness_mean'):.1f} | "
      f"{g('mnist_c/impulse_noise_mean'):.1f} | {g('mnist_c/translate_mean'):.1f} |"
    )
  lines += ["", f"![MNIST-C per corruption]({rel}/plots/mnist_c_per_corruption.png)"]
  return "\n".join(lines)
