"""Loading trained runs: ``load_representation(workdir) -> (representation_fn, dataset)``."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Tuple

import jax
import ml_collections
import numpy as np

from rvl_jax.core import checkpoint as ckpt_lib
from rvl_jax.core import io as rio
from rvl_jax.slowvae import datasets, training


def create_run_state(config, src) -> Tuple[Any, Any]:
  """The model and initial TrainState of a SlowVAE experiment config.

  Args:
    config: the run's config (``method``, ``seed``, ``train.learning_rate`` and ``model``, the
      model's attributes).
    src: its pair source (for the observation shape).

  Returns:
    (model, state), as ``training.create_state``.
  """
  return training.create_state(
    config.method,
    learning_rate=config.train.learning_rate,
    seed=config.seed,
    data_shape=tuple(src.image_shape),
    **config.model,
  )


def load_run(workdir: str, step: Optional[int] = None):
  """Restores a SlowVAE experiment run.

  Args:
    workdir: the run's directory (with config.json and checkpoints/).
    step: the checkpoint step to restore (None: the latest).

  Returns:
    (config, pair source, model, params): the run's ConfigDict, its data source rebuilt from the
    config, the Flax model and the restored parameters (on the host).

  Raises:
    FileNotFoundError: naming 'workdir' when config.json or the checkpoints are missing.
  """
  cfg_path = os.path.join(workdir, "config.json")
  if not os.path.exists(cfg_path):
    raise FileNotFoundError(
      f"argument 'workdir': no config.json in {workdir!r} (not a SlowVAE experiment directory)"
    )
  config = ml_collections.ConfigDict(rio.read_json(cfg_path))
  src = datasets.build(config.data)
  model, state = create_run_state(config, src)
  ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    if ckpt.latest_step() is None:
      raise FileNotFoundError(f"argument 'workdir': no checkpoint under {workdir!r}/checkpoints")
    state = ckpt.restore(state, step=step)
  finally:
    ckpt.close()
  return config, src, model, jax.device_get(state.params)


def load_representation(
  workdir: str, step: Optional[int] = None
) -> Tuple[Callable[[np.ndarray], np.ndarray], Any]:
  """Representation function and evaluation data set of a trained run.

  Args:
    workdir: the run's directory.
    step: the checkpoint step to restore (None: the latest).

  Returns:
    representation_fn: images (n, H, W, C) float32 in [0, 1] (or vectors for the synthetic
      source) -> encoder means mu(x) (VAEs) / features h(x) (PCL), numpy (n, d). Pure JAX, so
      it can be jit-compiled by the metrics.
    dataset: a GroundTruthData factor grid (discrete data: all metrics apply) or, for continuous
      sources (Natural Sprites continuous, KITTI Masks, nonlinear ICA), the pair source itself,
      whose ``sample(rng, n) -> (factors, observations)`` feeds MCC.
  """
  config, src, model, params = load_run(workdir, step)
  fn = training.pure_representation(config.method, model, params)
  dataset = src.ground_truth if src.ground_truth is not None else src
  return fn, dataset
