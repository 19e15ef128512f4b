"""The sigma sweep: GNT fine-tuning for each ``config.sweep_sigmas`` (0 = vanilla continued),
MNIST-C accuracy against sigma (``rvl_jax.noise.study``); ``plots/sigma_sweep.png``."""

from __future__ import annotations

import os
from typing import Any, Dict

from experiments.noise.mnist_study import settings_from_config
from rvl_jax.core import experiment
from rvl_jax.noise import gnt, reports, study


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  sigmas = [float(s) for s in config.sweep_sigmas]
  results = study.run_arms(settings_from_config(config), workdir, study.sweep_arms(sigmas))
  sweep = study.aggregate_sweep(results)
  reports.plot_sigma_sweep(
    sweep,
    sigmas,
    gnt.GAUSS_MULT_SIGMAS,
    os.path.join(experiment.plots_dir(workdir), "sigma_sweep.png"),
  )
  return sweep
