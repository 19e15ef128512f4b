"""``evaluate_model(model_fn, dataloader)``: the three-line evaluation of the authors' package
(Schott et al. 2022, Sec. 4.3).

    loader = load_dataset('dsprites', 'extrapolation', mode='test')
    scores = evaluate_model(model_fn, loader)      # model_fn: numpy images -> (B, n_factors)
    scores['rsquared']

Framework-agnostic: ``model_fn`` receives numpy float32 images in the loader's layout
(NHWC by default, NCHW with ``load_dataset(..., layout='NCHW')`` or :func:`nchw_adapter`)
and returns anything convertible to a numpy (B, n_factors) array.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from rvl_jax.benchmark import metrics


def nchw_adapter(model_fn: Callable) -> Callable:
  """Wraps a model written for NCHW inputs so it accepts NHWC batches.

  Args:
    model_fn: numpy (B, C, H, W) -> predictions.

  Returns:
    numpy (B, H, W, C) -> the same predictions.
  """
  return lambda images: model_fn(np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))))


def evaluate_model(
  model_fn: Callable, dataloader, return_predictions: bool = False, progress: bool = False
):
  """Run ``model_fn`` over one pass of ``dataloader`` and score it.

  Args:
    model_fn: numpy images (B, H, W, C) in [0, 1] -> predicted normalised factors (B, F).
    dataloader: a :class:`DataLoader` (or any iterable of (images, targets) with a ``dataset``).
    return_predictions: also return predictions, targets and grid indices.
    progress: log progress with rate and ETA.

  Returns:
    The flat dict ``rsquared``, ``mse``, ``rsquared_{f}``, ``mse_{f}`` (unclipped, float64
    computations, R^2 normalised by the full-grid variance). With ``return_predictions=True``,
    ``(scores, {'predictions', 'targets', 'grid_indices'})`` with rows in loader order (a
    shuffling loader is iterated unshuffled here).
  """
  ds = dataloader.dataset
  shuffle = getattr(dataloader, "shuffle", False)
  if shuffle:
    dataloader.shuffle = False
  try:
    preds, targets = [], []
    it = dataloader
    if progress:
      from rvl_jax.core import progress as prog  # pylint: disable=import-outside-toplevel

      it = prog.progress(dataloader, total=len(dataloader), desc="evaluate")
    for images, y in it:
      p = np.asarray(model_fn(images), np.float64)
      if p.shape != y.shape:
        raise ValueError(f"model_fn output: expected shape {y.shape}, got {p.shape}")
      preds.append(p)
      targets.append(np.asarray(y, np.float64))
  finally:
    if shuffle:
      dataloader.shuffle = True
  preds = np.concatenate(preds) if preds else np.zeros((0, len(ds.factor_names)))
  targets = np.concatenate(targets) if targets else np.zeros((0, len(ds.factor_names)))
  variance = (
    np.asarray(ds.normalized_targets, np.float64).var(axis=0)
    if not hasattr(ds, "variance")
    else ds.variance
  )
  scores = metrics.score_dict(targets, preds, ds.factor_names, variance)
  if not return_predictions:
    return scores
  positions = dataloader.batch_positions() if hasattr(dataloader, "batch_positions") else None
  extra = {"predictions": preds, "targets": targets}
  if positions is not None and hasattr(ds, "grid_indices"):
    extra["grid_indices"] = ds.grid_indices[positions]
  return scores, extra
