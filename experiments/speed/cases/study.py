"""Paper-scale cases of the cross-scenario study: the training steps of every model of a family.

The study's cost is dominated by training its models (per seed; the per-cell scenarios are
evaluation passes, and the attacks are costed by the ABS robustness cases). Each case reuses a
system's own step: noise training (vanilla / GNT / ANT), Madry PGD training, racecar RR, the
benchmark's supervised step and the SlowVAE step.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from experiments.speed.cases.abs import madry_case
from experiments.speed.cases.common import Case
from experiments.speed.cases.common import images as _images
from experiments.speed.cases.common import key as _key
from experiments.speed.cases.common import onehot as _onehot
from experiments.speed.cases.noise import noise_cases
from experiments.speed.cases.slowvae import benchmark_case, slowvae_case

_NOISE_MODELS = ("vanilla", "gnt_gaussian", "gnt_speckle")
_SUPERVISED = {
  "cnn": "cnn",
  "mlp": "mlp",
  "coordconv": "coordconv",
  "rot_eq": "rot_eq",
  "cnn_gnt": "cnn",
  "cnn_rr": "cnn",
}


def _mnist_cases(c, label):
  from rvl_jax.abs import robustness
  from rvl_jax.noise import models as noise_models
  from rvl_jax.racecar import protocol
  from rvl_jax.racecar import training as rc_training
  from rvl_jax.racecar.layers import ReverseConfig
  from rvl_jax.study import mnist_zoo

  s = dataclasses.replace(mnist_zoo.MnistSettings(), **dict(c.settings))
  seeds, models = len(c.seeds), tuple(c.models)
  n_ant = sum(m.startswith("ant") for m in models)
  n_noise = sum(m in _NOISE_MODELS for m in models)
  cnn = noise_models.MadryCNN(features=tuple(s.cnn_features), hidden=s.cnn_hidden)
  out = noise_cases(
    label,
    cnn,
    (28, 28, 1),
    s.batch_size,
    num_classes=10,
    ant_steps=seeds * n_ant * s.finetune_steps,
    restart_calls=seeds * n_ant * s.ant_blocks,
    restart_steps=s.ant_restart_steps,
    gnt_steps=seeds * (s.pretrain_steps + n_noise * s.finetune_steps),
    lr=s.finetune_lr,
  )
  if "madry" in models:
    madry = robustness.MadryColumn(  # Adam at its default 1e-3, as train_madry
      steps=seeds * s.madry_steps,
      pgd_steps=s.madry_pgd_steps,
      pgd_step_size=2.5 * s.madry_eps / s.madry_pgd_steps,
      eps_warmup_steps=s.madry_warmup_steps,
    )
    out.append(madry_case(label, madry, eps=s.madry_eps, batch=s.batch_size))
  n_racecar = sum(m.startswith("racecar") for m in models)
  if n_racecar:
    chain = mnist_zoo.racecar_cnn(tuple(s.racecar_channels))

    def make_args():
      st = protocol.create_state(
        chain,
        jnp.zeros((2, 28, 28, 1)),
        _key(0),
        protocol.make_optimizer("adam", s.pretrain_lr),
        reverse=ReverseConfig(),
      )
      return st, {"x": _images((s.batch_size, 28, 28, 1)), "y": _onehot(s.batch_size, 10)}

    out.append(
      Case(
        label,
        "racecar RR step",
        rc_training.make_train_step(rc_training.RegConfig("rr")),
        make_args,
        s.batch_size,
        seeds * n_racecar * s.racecar_steps,
        f"{n_racecar} racecar models, every one costed at RR",
      )
    )
  return out


def _factor_cases(c, label):
  from rvl_jax.data import dsprites
  from rvl_jax.study import factor_zoo

  s = dataclasses.replace(factor_zoo.FactorSettings(), **dict(c.settings))
  seeds, splits = len(c.seeds), len(factor_zoo.SPLITS)
  out = [
    benchmark_case(
      label,
      _SUPERVISED[m],
      s.dataset,
      s.batch_size,
      seeds * splits * s.steps,
      f"{m}: {seeds} seeds x {splits} splits",
    )
    for m in c.models
    if m in _SUPERVISED
  ]
  if "slowvae" in c.models:
    shape = dsprites.ProceduralDSprites().image_shape
    out.append(
      slowvae_case(
        label,
        "slowvae",
        shape,
        s.batch_size // 2,
        seeds * s.slowvae_steps,
        note="the SlowVAE encoder, once per seed",
      )
    )
  return out


def cases_study(c, label):
  """The training cases of a study config (``mnist_family`` or ``factor_family``)."""
  if c.experiment == "mnist_family":
    return _mnist_cases(c, label)
  if c.experiment == "factor_family":
    return _factor_cases(c, label)
  raise ValueError(f"argument 'config.experiment': unknown study experiment {c.experiment!r}")
