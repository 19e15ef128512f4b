"""Demo section: the worked example at smoke scale."""

import os

from experiments.mnist_classifier import train
from experiments.mnist_classifier.configs import default
from rvl_jax.core import experiment

TITLE = "Worked example: MNIST classifier"


def run(workdir: str) -> str:
  config = default.get_config()
  config.num_steps = 300
  config.eval_every = 0
  config.channels = (16, 32)
  config.hidden = 64
  results = experiment.launch(train.train_and_evaluate, config, workdir)
  rel = os.path.basename(workdir)
  return "\n".join(
    [
      f"## {TITLE}",
      "",
      "A small CNN trained through the shared training core (jit step, sharded batches, orbax "
      "checkpoints), the pattern every experiment copies.",
      "",
      "| data | train / test images | steps | test accuracy | steps/s | compile s |",
      "|---|---|---|---|---|---|",
      f"| {results['data_source']} | {results['num_train']} / {results['num_test']} | "
      f"{results['steps']} | {results['test_accuracy']:.4f} | {results['steps_per_second']:.1f} | "
      f"{results['compile_seconds']:.2f} |",
      "",
      f"![training]({rel}/plots/training.png) ![predictions]({rel}/plots/predictions.png)",
    ]
  )
