"""ImageNet(-C) path (spec 4.6, 5.1): ResNet fine-tuning with GNT / Speckle / ANT from image
folders and ImageNet-C folder evaluation with the AlexNet-normalised mCE. Needs user data:

  <data_dir>/train/<class>/*.{JPEG,jpg,png}    <data_dir>/val/<class>/*
  <imagenet_c_dir>/<corruption>/<severity>/<class>/*   (released IN-C layout; optional)

Training images: RandomResizedCrop(image_size) + horizontal flip; evaluation: resize shorter
side to 256/224 * image_size, centre crop. Everything stays in [0, 1]; the normalisation is
inside the ResNet. Without ImageNet-C files the corruptions are generated in memory from the
validation images with ``rvl_jax.noise.corruptions.imagenet_c`` (optional JPEG-q85 round trip).
The 'smoke' config writes a tiny synthetic folder and runs the whole path in seconds.
"""
from __future__ import annotations

import os
from typing import Dict, List, Tuple

import jax
import numpy as np
from absl import logging

from rvl_jax.core import loop
from rvl_jax.data import pipeline as pl
from rvl_jax.noise import ant, evaluation, generators, models, reports, training
from rvl_jax.noise.corruptions import imagenet_c, materialize


def list_image_folder(root: str) -> Tuple[List[str], np.ndarray, List[str]]:
  """(paths, labels, class names) of a <root>/<class>/<image> folder."""
  return pl.list_image_folder(root, 'data_dir')


def load_eval_image(path: str, size: int) -> np.ndarray:
  """Resize the shorter side to 256/224 * size, centre crop (one image, float32 in [0, 1])."""
  return pl.ResizeCenterCrop(size).map({'path': path, 'label': 0})['image']


def load_train_image(path: str, size: int, rng: np.random.Generator) -> np.ndarray:
  """RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) + horizontal flip (one image)."""
  return pl.RandomResizedCropFlip(size).random_map({'path': path, 'label': 0}, rng)['image']


def train_pipeline(config, source: pl.ImageFolderSource) -> pl.Pipeline:
  """The training images through the parallel input pipeline (this process's shard of every
  global batch; ``config.worker_count`` decoding processes, ``config.num_threads`` threads)."""
  return pl.make_pipeline(source,
                          batch_size=config.batch_size, seed=config.seed,
                          transforms=[pl.RandomResizedCropFlip(config.image_size)],
                          worker_count=config.get('worker_count', 0),
                          num_threads=config.get('num_threads', 2), name='imagenet/train')


def write_synthetic_folder(root: str, num_classes: int = 4, per_class: int = 8, size: int = 40,
                           seed: int = 0) -> str:
  """Tiny class-dependent colour images for tests/smoke runs."""
  from PIL import Image
  rng = np.random.default_rng(seed)
  for split in ('train', 'val'):
    for c in range(num_classes):
      d = os.path.join(root, split, f'class_{c}')
      os.makedirs(d, exist_ok=True)
      for i in range(per_class):
        base = np.zeros((size, size, 3))
        base[..., c % 3] = 0.5 + 0.4 * (c // 3)
        img = np.clip(base + rng.normal(0, 0.1, base.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(os.path.join(d, f'{i}.png'))
  return root


def _load_eval_set(root, size, limit, num_threads: int = 2):
  """Every (or ``limit`` fixed random) image of a folder, decoded by the pipeline's threads."""
  paths, labels, _ = list_image_folder(root)
  if limit:
    idx = np.random.default_rng(0).permutation(len(paths))[:limit]
    paths, labels = [paths[i] for i in idx], labels[idx]
  images = pl.load_all(pl.ArraySource({'path': np.asarray(paths), 'label': labels}),
                       [pl.ResizeCenterCrop(size)], num_threads=num_threads)['image']
  return images, labels


def evaluate_imagenet_c(logits_fn, val_images, labels, *, seed: int, corruption_dir: str = '',
                        size: int = 224, jpeg_roundtrip: bool = False, names=None,
                        batch_size: int = 100, limit: int = 0) -> Dict:
  """Top-1/top-5 per corruption and severity -> spec 6.2 summary (AlexNet-normalised mCE).

  With ``corruption_dir`` the released IN-C folders are read; otherwise the corruptions are
  generated from ``val_images`` with a fixed seed (frost is skipped unless present on disk).
  """
  names = list(evaluation.IMAGENET_C_ORDER if names is None else names)
  top1, top5 = {}, {}
  for name in names:
    t1, t5 = [], []
    for s in range(1, 6):
      if corruption_dir:
        d = os.path.join(corruption_dir, name, str(s))
        if not os.path.isdir(d):
          break
        x, y = _load_eval_set(d, size, limit)
      else:
        if name not in imagenet_c.ALL_CORRUPTIONS:
          break
        fns = imagenet_c.for_image_size(size, size)
        x = materialize.corrupt_dataset(val_images, fns, seed=seed, names=[name], severities=[s],
                                        show_progress=False)[name][s]
        if jpeg_roundtrip:
          x = imagenet_c.jpeg_roundtrip(x, 85)
        y = labels
      r = evaluation.evaluate_arrays(logits_fn, x, y, batch_size)
      t1.append(r['top1'])
      t5.append(r['top5'])
    if t1:
      top1[name], top5[name] = t1, t5
  baseline = 'alexnet' if all(n in top1 for n in evaluation.IMAGENET_C_ORDER) else None
  return evaluation.summarize_corruption_table(top1, top5, baseline_errors=baseline)


def load_init_checkpoint(config, params, batch_stats):
  """The start point of fine-tuning: ``config.init_checkpoint`` is a name of the pretrained-weight
  registry (e.g. 'torchvision/resnet50', the paper's ImageNet-pretrained ResNet-50) or a path to a
  torchvision-layout ResNet state dict (.pth, .npz). BatchNorm statistics are loaded too; a
  classifier of another size (a folder with fewer classes) keeps its fresh initialisation."""
  from rvl_jax import pretrained  # pylint: disable=import-outside-toplevel
  v = pretrained.resolve(config.init_checkpoint, template={'params': params, 'batch_stats': batch_stats},
                         default_name='torchvision/resnet50',
                         download=config.get('init_download', False))
  logging.info('initialised from %s', config.init_checkpoint)
  return v['params'], v['batch_stats']


def train_and_evaluate(config, workdir: str) -> Dict:
  data_dir = config.data_dir
  if config.get('synthetic', False):
    data_dir = write_synthetic_folder(os.path.join(workdir, 'synthetic_data'),
                                      num_classes=config.num_classes, size=config.image_size + 8)
  size = config.image_size
  source = pl.ImageFolderSource(os.path.join(data_dir, 'train'))
  classes, pipeline = source.classes, train_pipeline(config, source)
  model = models.build_model(config.model, num_classes=len(classes))
  params, batch_stats = models.init_model(model, jax.random.PRNGKey(config.seed), (size, size, 3))
  if config.init_checkpoint:
    params, batch_stats = load_init_checkpoint(config, params, batch_stats)
  steps_per_epoch = pipeline.steps_per_epoch
  num_steps = config.epochs * steps_per_epoch

  tx = training.sgd_momentum(training.step_decay_schedule(
      config.lr, num_steps, int(round(config.decay_epoch * steps_per_epoch))))
  key = jax.random.PRNGKey(config.seed + 1)
  if config.method in ('clean', 'gaussian', 'gaussian_mult', 'speckle'):
    state = training.create_state(model, params, batch_stats, tx, key)
    res = loop.train(state=state, train_step=training.make_noise_train_step(model, config.method, sigma=config.sigma),
                     batches=pipeline, num_steps=num_steps, workdir=os.path.join(workdir, 'train'),
                     log_every=config.log_every, checkpoint_every=config.checkpoint_every, desc=config.method)
    params, batch_stats = res.state.params, res.state.batch_stats
  elif config.method in ('ant1x1', 'ant3x3'):
    spec = generators.GeneratorSpec(channels=3, kind=config.method[3:])
    acfg = ant.AntConfig(eps=config.eps, num_steps=num_steps,
                         restart_every=max(int(round(config.restart_every_epochs * steps_per_epoch)), 1),
                         restart_steps=config.restart_steps, restart_lr=config.restart_lr,
                         gen_lr=config.gen_lr, split=ant.SPLIT_PRESETS[config.split],
                         first_replay_step=steps_per_epoch, log_every=config.log_every)
    state, _ = ant.run_ant(model=model, params=params, batch_stats=batch_stats, classifier_tx=tx,
                           gen_spec=spec, config=acfg, get_batch=pipeline.batch_at, key=key,
                           workdir=os.path.join(workdir, 'train'))
    params, batch_stats = state.params, state.batch_stats
  else:
    raise ValueError(f"argument 'config.method': unknown {config.method!r}")
  pipeline.close()
  lf = models.logits_fn(model, params, batch_stats if batch_stats else None)
  val_x, val_y = _load_eval_set(os.path.join(data_dir, 'val'), size, config.val_limit)
  clean = evaluation.evaluate_arrays(lf, val_x, val_y, config.eval_batch_size)
  summary = evaluate_imagenet_c(lf, val_x, val_y, seed=config.seed, corruption_dir=config.imagenet_c_dir,
                                size=size, jpeg_roundtrip=config.jpeg_roundtrip,
                                names=list(config.corruptions) or None,
                                batch_size=config.eval_batch_size, limit=config.val_limit)
  summary['clean_top1'], summary['clean_top5'] = clean['top1'], clean['top5']
  reports.write_model_report(os.path.join(workdir, 'reports'), config.method, summary)
  logging.info('clean %.2f, corrupted %.2f', clean['top1'], summary.get('full_top1', float('nan')))
  out = {k: v for k, v in summary.items() if k != 'per_corruption'}
  for c, r in summary['per_corruption'].items():
    out[f'{c}/top1'] = r['top1']
  return out
