"""ImageNet fine-tuning with GNT / Speckle / ANT and ImageNet-C evaluation (Rusak et al. 2020,
Sec. 4; ImageNet-C: Hendrycks & Dietterich 2019).

Image folders: ``<root>/<class>/<image>``; ImageNet-C folders ``<c>/<severity>/<class>/*`` (the
released layout). Evaluation images: shorter side resized to 256/224 x size, centre crop, [0, 1]
(the normalisation is inside the ResNet). Without ImageNet-C files the corruptions are generated
in memory from the validation images (optionally through a JPEG-q85 round trip, like the
released files).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from rvl_jax.core import loop, prng
from rvl_jax.data import pipeline as pl
from rvl_jax.noise import ant, evaluation, generators, training
from rvl_jax.noise.corruptions import imagenet_c, materialize

NOISE_METHODS = ("clean", "gaussian", "gaussian_mult", "speckle")
ANT_METHODS = ("ant1x1", "ant3x3")


@dataclasses.dataclass(frozen=True)
class AntSettings:
  """ANT on ImageNet (Rusak et al. 2020, Sec. 4): eps 135 for ANT1x1 (70 for ANT3x3), joint
  generator Adam 1e-4, a from-scratch generator of ``restart_steps`` steps (Adam ``restart_lr``)
  every ``restart_every_epochs`` epochs (the reference code: 1; the paper: 1/3), batch layout
  ``split`` (a key of ``ant.SPLIT_PRESETS``)."""

  eps: float = 135.0
  gen_lr: float = 1e-4
  restart_every_epochs: float = 1.0
  restart_steps: int = 1001
  restart_lr: float = 5e-4
  split: str = "default"
  capacity: int = 512


def write_synthetic_folder(
  root: str, *, seed: int, num_classes: int = 4, per_class: int = 8, size: int = 40
) -> str:
  """Writes tiny class-dependent colour images (train/ and val/) for tests and smoke runs.

  Args:
    root: output folder.
    seed: the run's seed (stream 'data/synthetic').
    num_classes, per_class, size: folder shape.

  Returns:
    ``root``.
  """
  rng = prng.numpy_rng(seed, "data/synthetic")
  for split in ("train", "val"):
    for c in range(num_classes):
      d = os.path.join(root, split, f"class_{c}")
      os.makedirs(d, exist_ok=True)
      for i in range(per_class):
        base = np.zeros((size, size, 3))
        base[..., c % 3] = 0.5 + 0.4 * (c // 3)
        img = np.clip(base + rng.normal(0, 0.1, base.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(os.path.join(d, f"{i}.png"))
  return root


def load_eval_set(
  root: str, size: int, limit: int = 0, *, seed: int = 0, num_threads: int = 2
) -> Tuple[np.ndarray, np.ndarray]:
  """Every image of a folder (or ``limit`` of them, a fixed random subset), evaluation-cropped.

  Args:
    root: a ``<class>/<image>`` folder.
    size: output side.
    limit: 0 = all images.
    seed: the run's seed (stream 'data/eval_subset' picks the subset).
    num_threads: decoding threads.

  Returns:
    ``(images (N, size, size, 3) float32 in [0, 1], labels (N,))``.
  """
  paths, labels, _ = pl.list_image_folder(root, "data_dir")
  if limit:
    idx = prng.numpy_rng(seed, "data/eval_subset").permutation(len(paths))[:limit]
    paths, labels = [paths[i] for i in idx], labels[idx]
  images = pl.load_all(
    pl.ArraySource({"path": np.asarray(paths), "label": labels}),
    [pl.ResizeCenterCrop(size)],
    num_threads=num_threads,
  )["image"]
  return images, labels


def evaluate_imagenet_c(
  logits_fn: Callable,
  val_images,
  labels,
  *,
  seed: int,
  corruption_dir: str = "",
  size: int = 224,
  jpeg_roundtrip: bool = False,
  names: Optional[Sequence[str]] = None,
  batch_size: int = 100,
  limit: int = 0,
) -> Dict[str, Any]:
  """Top-1/top-5 per corruption and severity, summarised with the AlexNet-normalised mCE.

  Args:
    logits_fn: ``x -> logits`` of the classifier.
    val_images, labels: the clean validation set (generated corruptions start from it).
    seed: the corruption seed of generated sets.
    corruption_dir: released ImageNet-C folders to read instead ('' = generate in memory;
      frost is then skipped, it needs texture images).
    size: image side.
    jpeg_roundtrip: JPEG-q85 round trip of generated sets (as the released files).
    names: corruptions (default: the 15 of the benchmark).
    batch_size: evaluation batch.
    limit: images per folder read (0 = all).

  Returns:
    ``evaluation.summarize_corruption_table`` output (mCE when all 15 are present).
  """
  names = list(evaluation.IMAGENET_C_ORDER if names is None else names)
  fns = imagenet_c.for_image_size(size, size)
  top1, top5 = {}, {}
  for name in names:
    t1, t5 = [], []
    for s in range(1, 6):
      if corruption_dir:
        d = os.path.join(corruption_dir, name, str(s))
        if not os.path.isdir(d):
          break
        x, y = load_eval_set(d, size, limit, seed=seed)
      else:
        if name not in imagenet_c.ALL_CORRUPTIONS:
          break
        x = materialize.corrupt_dataset(
          val_images, fns, seed=seed, names=[name], severities=[s], show_progress=False
        )[name][s]
        if jpeg_roundtrip:
          x = imagenet_c.jpeg_roundtrip(x, 85)
        y = labels
      r = evaluation.evaluate_arrays(logits_fn, x, y, batch_size)
      t1.append(r["top1"])
      t5.append(r["top5"])
    if t1:
      top1[name], top5[name] = t1, t5
  baseline = "alexnet" if all(n in top1 for n in evaluation.IMAGENET_C_ORDER) else None
  return evaluation.summarize_corruption_table(top1, top5, baseline_errors=baseline)


def finetune(
  model,
  params,
  batch_stats,
  *,
  method: str,
  sigma: float,
  tx,
  ant_settings: AntSettings,
  num_steps: int,
  steps_per_epoch: int,
  batches,
  key,
  workdir: Optional[str],
  log_every: int,
  checkpoint_every: int,
) -> Tuple[Any, Any]:
  """Fine-tunes a classifier with one noise-training method.

  Args:
    model: the classifier; params, batch_stats: its start point.
    method: one of ``NOISE_METHODS`` (``training.make_noise_train_step`` modes) or
      ``ANT_METHODS``.
    sigma: GNT's sigma.
    tx: the classifier optimiser.
    ant_settings: ANT settings (``ANT_METHODS`` only).
    num_steps, steps_per_epoch: the schedule.
    batches: the training pipeline (an iterator with ``batch_at(step)``).
    key: the run's training key.
    workdir: checkpoint folder (resumes).
    log_every, checkpoint_every: loop cadence.

  Returns:
    ``(params, batch_stats)``.

  Raises:
    ValueError: naming 'method' when it is unknown.
  """
  if method in NOISE_METHODS:
    state = training.create_state(model, params, batch_stats, tx, key)
    res = loop.train(
      state=state,
      train_step=training.make_noise_train_step(model, method, sigma=sigma),
      batches=batches,
      num_steps=num_steps,
      workdir=workdir,
      log_every=log_every,
      checkpoint_every=checkpoint_every,
      desc=method,
    )
    return res.state.params, res.state.batch_stats
  if method not in ANT_METHODS:
    raise ValueError(
      f"argument 'method': expected one of {list(NOISE_METHODS + ANT_METHODS)}, got {method!r}"
    )
  a = ant_settings
  acfg = ant.AntConfig(
    eps=a.eps,
    num_steps=num_steps,
    restart_every=max(int(round(a.restart_every_epochs * steps_per_epoch)), 1),
    restart_steps=a.restart_steps,
    restart_lr=a.restart_lr,
    gen_lr=a.gen_lr,
    split=ant.SPLIT_PRESETS[a.split],
    capacity=a.capacity,
    first_replay_step=steps_per_epoch,
    log_every=log_every,
  )
  state, _ = ant.run_ant(
    model=model,
    params=params,
    batch_stats=batch_stats,
    classifier_tx=tx,
    gen_spec=generators.GeneratorSpec(channels=3, kind=method[3:]),
    config=acfg,
    get_batch=batches.batch_at,
    key=key,
    workdir=workdir,
  )
  return state.params, state.batch_stats
