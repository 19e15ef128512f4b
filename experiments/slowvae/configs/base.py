"""Shared config builder for SlowVAE and its baselines.

``make_config(method, variant)``: ``variant`` is a '-'-separated list of tokens:
  scale:   'smoke' (seconds, tests) | 'default' (small faithful CPU run) | 'paper' (300k steps)
  dataset: 'dsprites' (LAP, default) | 'dsprites_uni' | 'dsprites_lapnc' | 'shapes3d' | 'mpi3d' |
           'smallnorb' | 'cars3d' | 'natural_discrete' | 'natural_continuous' | 'kitti005' |
           'kitti015' | 'nica'
e.g. ``configs/slowvae.py:smoke-kitti015``. File-backed data sets need --config.data.path=...;
Natural Sprites and KITTI Masks fall back to offline synthetic stand-ins without a path.
"""

import dataclasses

import ml_collections

from rvl_jax.slowvae.losses import LossConfig

DATASET_TOKENS = (
  "dsprites",
  "dsprites_uni",
  "dsprites_lapnc",
  "shapes3d",
  "mpi3d",
  "smallnorb",
  "cars3d",
  "natural_discrete",
  "natural_continuous",
  "kitti005",
  "kitti015",
  "nica",
)

# Each method's changes to the loss settings of LossConfig (whose defaults are SlowVAE's, in the
# units of the authors' code, Klindt et al. 2021, App. E).
METHOD_LOSS = {
  "slowvae": {},
  "betavae": dict(beta=8.0, gamma=0.0),
  "pmvae": {},
  "adagvae": dict(gamma=0.0),
  "adamlvae": dict(gamma=0.0),
  "pcl": dict(beta=0.0, gamma=0.0),
}


def _parse(variant):
  scale, dataset = "default", "dsprites"
  for tok in (variant or "").replace(",", "-").split("-"):
    if not tok:
      continue
    if tok in ("smoke", "default", "paper"):
      scale = tok
    elif tok in DATASET_TOKENS:
      dataset = tok
    else:
      raise ValueError(
        f"argument 'variant': unknown token {tok!r}; expected smoke|default|paper "
        f"and/or one of {DATASET_TOKENS}"
      )
  return scale, dataset


def make_config(method, variant=None):
  scale, dataset = _parse(variant)
  c = ml_collections.ConfigDict()
  c.experiment = "train"
  c.method = method
  c.seed = 0
  c.distributed = False

  c.data = ml_collections.ConfigDict(
    dict(
      name="dsprites",
      source="procedural",
      path="",
      sampler="lap",
      rate=1.0,
      k=0,
      discrete=False,
      max_delta_frames=5,
      augment=False,
      data_seed=0,
      nica_sources=5,
      nica_obs_dim=50,
      nica_rate=6.0,
      nica_layers=2,
    )
  )
  # The attributes of the model module (training.make_model) and the loss settings
  # (losses.LossConfig, every field listed so that each can be set from the command line).
  c.model = ml_collections.ConfigDict(dict(arch="reference", latent_dim=10, hidden=(256, 256)))
  c.loss = ml_collections.ConfigDict(dataclasses.asdict(LossConfig(**METHOD_LOSS[method])))
  c.train = ml_collections.ConfigDict(
    dict(
      num_steps=2000,
      batch_pairs=32,
      learning_rate=1e-4,
      log_every=50,
      checkpoint_every=500,
      eval_every=0,
    )
  )
  c.eval = ml_collections.ConfigDict(
    dict(
      num_points=10000,
      mcc_method="spearman",
      metrics="mcc_mig",
      metric_count_scale=0.1,
      seed=1234,
      plots=True,
      traversals=True,
      scatter_points=2000,
      batch_size=256,
    )
  )
  c.early_stop = ml_collections.ConfigDict(dict(recon_threshold=100.0, after_step=100000))

  d = c.data
  if dataset == "dsprites_uni":
    d.sampler = "uni"
  elif dataset == "dsprites_lapnc":
    d.sampler = "lap_nc"
  elif dataset in ("shapes3d", "mpi3d", "smallnorb", "cars3d"):
    d.name, d.source = dataset, "file"
  elif dataset.startswith("natural"):
    d.name, d.source = "natural_sprites", "synthetic"
    d.discrete = dataset == "natural_discrete"
  elif dataset.startswith("kitti"):
    d.name, d.source = "kitti_masks", "synthetic"
    d.max_delta_frames = 1 if dataset == "kitti005" else 5
  elif dataset == "nica":
    d.name, d.source = "nica", "synthetic"
    c.model.arch, c.model.latent_dim, c.loss.likelihood = "mlp", 5, "gaussian"
    c.train.learning_rate, c.train.batch_pairs, c.train.num_steps = 1e-3, 64, 10000
    c.train.log_every, c.train.checkpoint_every = 200, 2500
    c.eval.num_points, c.eval.mcc_method, c.eval.metrics = 5000, "pearson", "mcc"
    c.eval.traversals = False
  if (dataset.startswith("natural") and not d.discrete) or dataset.startswith("kitti"):
    c.eval.metrics = "mcc"  # continuous factors: MCC only (Klindt et al. 2021, App. C)

  if scale == "smoke":
    c.train.num_steps = 20 if dataset != "nica" else 200
    c.train.batch_pairs = 8 if dataset != "nica" else 64
    c.train.log_every, c.train.checkpoint_every = 10, 10 if dataset != "nica" else 100
    c.eval.num_points, c.eval.scatter_points = 256, 256
    c.eval.metric_count_scale = 0.01
  elif scale == "paper":
    c.train.num_steps = 300000 if dataset != "nica" else 10000
    c.train.checkpoint_every = 10000 if dataset != "nica" else 2500
    c.train.log_every = 1000 if dataset != "nica" else 200
    if dataset != "nica":
      c.eval.metrics = c.eval.metrics if c.eval.metrics == "mcc" else "all"
      c.eval.metric_count_scale = 1.0
  return c
