"""ImageNet(-C): ResNet fine-tuning with GNT / Speckle / ANT from image folders and ImageNet-C
evaluation with the AlexNet-normalised mCE (``rvl_jax.noise.imagenet``). Needs user data:

  <data_dir>/train/<class>/*.{JPEG,jpg,png}    <data_dir>/val/<class>/*
  <imagenet_c_dir>/<corruption>/<severity>/<class>/*   (released ImageNet-C layout; optional)

Training images: RandomResizedCrop(image_size) + horizontal flip through the shared input
pipeline. The 'smoke' config writes a tiny synthetic folder and runs the whole path in seconds.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from absl import logging

from rvl_jax.core import prng
from rvl_jax.data import pipeline as pl
from rvl_jax.noise import evaluation, models, reports, training
from rvl_jax.noise import imagenet as lib


def train_pipeline(config, source: pl.ImageFolderSource) -> pl.Pipeline:
  """The training images through the parallel input pipeline (this process's shard of every
  global batch; ``config.worker_count`` decoding processes, ``config.num_threads`` threads)."""
  return pl.make_pipeline(
    source,
    batch_size=config.batch_size,
    seed=config.seed,
    transforms=[pl.RandomResizedCropFlip(config.image_size)],
    worker_count=config.worker_count,
    num_threads=config.num_threads,
    name="imagenet/train",
  )


def load_init_checkpoint(config, params, batch_stats):
  """The start point of fine-tuning: ``config.init_checkpoint`` is a name of the pretrained-weight
  registry (e.g. 'torchvision/resnet50', the paper's ImageNet-pretrained ResNet-50) or a path to a
  torchvision-layout ResNet state dict (.pth, .npz). BatchNorm statistics are loaded too; a
  classifier of another size (a folder with fewer classes) keeps its fresh initialisation."""
  from rvl_jax import pretrained  # pylint: disable=import-outside-toplevel

  v = pretrained.resolve(
    config.init_checkpoint,
    template={"params": params, "batch_stats": batch_stats},
    default_name="torchvision/resnet50",
    download=config.get("init_download", False),
  )
  logging.info("initialised from %s", config.init_checkpoint)
  return v["params"], v["batch_stats"]


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  data_dir = config.data_dir
  if config.synthetic:
    data_dir = lib.write_synthetic_folder(
      os.path.join(workdir, "synthetic_data"),
      seed=config.seed,
      num_classes=config.num_classes,
      size=config.image_size + 8,
    )
  size = config.image_size
  source = pl.ImageFolderSource(os.path.join(data_dir, "train"))
  pipeline = train_pipeline(config, source)
  model = models.build_model(config.model, num_classes=len(source.classes))
  params, batch_stats = models.init_model(
    model, prng.stream_key(config.seed, "init"), (size, size, 3)
  )
  if config.init_checkpoint:
    params, batch_stats = load_init_checkpoint(config, params, batch_stats)
  steps_per_epoch = pipeline.steps_per_epoch
  num_steps = config.epochs * steps_per_epoch
  tx = training.sgd_momentum(
    training.step_decay_schedule(
      config.lr, num_steps, int(round(config.decay_epoch * steps_per_epoch))
    )
  )
  params, batch_stats = lib.finetune(
    model,
    params,
    batch_stats,
    method=config.method,
    sigma=config.sigma,
    tx=tx,
    ant_settings=lib.AntSettings(**config.ant),
    num_steps=num_steps,
    steps_per_epoch=steps_per_epoch,
    batches=pipeline,
    key=prng.stream_key(config.seed, "train"),
    workdir=os.path.join(workdir, "train"),
    log_every=config.log_every,
    checkpoint_every=config.checkpoint_every,
  )
  pipeline.close()
  lf = models.logits_fn(model, params, batch_stats if batch_stats else None)
  val_x, val_y = lib.load_eval_set(
    os.path.join(data_dir, "val"), size, config.val_limit, seed=config.seed
  )
  clean = evaluation.evaluate_arrays(lf, val_x, val_y, config.eval_batch_size)
  summary = lib.evaluate_imagenet_c(
    lf,
    val_x,
    val_y,
    seed=config.seed,
    corruption_dir=config.imagenet_c_dir,
    size=size,
    jpeg_roundtrip=config.jpeg_roundtrip,
    names=list(config.corruptions) or None,
    batch_size=config.eval_batch_size,
    limit=config.val_limit,
  )
  summary["clean_top1"], summary["clean_top5"] = clean["top1"], clean["top5"]
  reports.write_model_report(os.path.join(workdir, "reports"), config.method, summary)
  logging.info("clean %.2f, corrupted %.2f", clean["top1"], summary.get("full_top1", float("nan")))
  out = {k: v for k, v in summary.items() if k != "per_corruption"}
  for c, r in summary["per_corruption"].items():
    out[f"{c}/top1"] = r["top1"]
  return out
