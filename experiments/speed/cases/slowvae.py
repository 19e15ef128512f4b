"""Paper-scale cases of SlowVAE and its baselines, and of the generalization benchmark."""

from __future__ import annotations

import jax.numpy as jnp

from experiments.speed.cases.common import Case, adam_state
from experiments.speed.cases.common import images as _images
from experiments.speed.cases.common import key as _key


def slowvae_case(
  label,
  method,
  data_shape,
  batch_pairs,
  steps,
  *,
  arch="reference",
  latent_dim=10,
  hidden=(256, 256),
  lr=1e-4,
  loss=None,
  note="",
):
  from rvl_jax.slowvae import training

  fields = dict(arch=arch, latent_dim=latent_dim, data_shape=data_shape, hidden=hidden)
  model = training.make_model(method, **fields)

  def make_args():
    _, st = training.create_state(method, learning_rate=lr, **fields)
    shape = (batch_pairs,) + tuple(data_shape)
    return st, {"x1": _images(shape, 1), "x2": _images(shape, 2)}

  step = training.make_train_step(method, model, loss)
  return Case(
    label, f"{method} step", step, make_args, 2 * batch_pairs, steps, note or f"{batch_pairs} pairs"
  )


def cases_slowvae(c, label):
  from rvl_jax.slowvae import datasets
  from rvl_jax.slowvae.losses import LossConfig

  shape = (
    tuple(datasets.build(c.data).image_shape) if c.data.name != "nica" else (c.data.nica_obs_dim,)
  )
  return [
    slowvae_case(
      label,
      c.method,
      shape,
      c.train.batch_pairs,
      c.train.num_steps,
      arch=c.model.arch,
      latent_dim=c.model.latent_dim,
      hidden=tuple(c.model.hidden),
      lr=c.train.learning_rate,
      loss=LossConfig(**c.loss),
      note=f"{c.train.batch_pairs} pairs of {c.data.name} images",
    )
  ]


# -------------------------------------------------------------------------------------- benchmark


def benchmark_case(label, model_name, dataset, batch, steps, note=""):
  from rvl_jax.benchmark import datasets, models
  from rvl_jax.benchmark import train as btrain

  spec = datasets.get_spec(dataset)
  model = models.make_model(model_name, spec.num_factors)

  def make_args():
    st = btrain.init_state(model, spec.image_shape, seed=0, lr=models.DEFAULT_LR[model_name])
    return st, {
      "image": _images((batch,) + spec.image_shape),
      "target": _images((batch, spec.num_factors), 2),
    }

  return Case(
    label, f"{model_name} step", btrain.supervised_train_step, make_args, batch, steps, note
  )


def cases_benchmark(c, label):
  from rvl_jax.benchmark import datasets

  if c.experiment == "train":
    return [benchmark_case(label, c.model, c.dataset, c.batch_size, c.num_steps)]
  if c.experiment == "sweep":
    runs = len(c.splits.split(",")) * len(str(c.seeds).split(","))
    return [
      benchmark_case(
        label,
        m,
        c.dataset,
        c.run.batch_size,
        runs * c.run.num_steps,
        f"{runs} runs (splits x seeds)",
      )
      for m in c.models.split(",")
    ]
  spec = datasets.get_spec(c.dataset)
  if c.experiment == "weak":
    values = len(str(c.sweep_values).split(","))
    return [
      slowvae_case(
        label,
        c.method,
        spec.image_shape,
        c.batch_size,
        values * c.num_steps,
        arch="dislib",
        lr=c.lr,
        note=f"{values} sweep values; readout not included",
      )
    ]
  if c.experiment == "oracle":
    from rvl_jax.benchmark import readout
    from rvl_jax.benchmark import train as btrain

    f, b = spec.num_factors, 64
    model = readout.readout_module(f)

    def make_args():
      p = model.init(_key(0), jnp.zeros((1, f)))["params"]
      st = adam_state(model.apply, p, 1e-3)
      return st, {"image": _images((b, f)), "target": _images((b, f), 2)}

    runs = 2 * len(c.splits.split(","))
    return [
      Case(
        label,
        "readout MLP step",
        btrain.supervised_train_step,
        make_args,
        b,
        runs * c.num_steps,
        f"{runs} readouts (splits x identity/sign flip)",
      )
    ]
  raise ValueError(f"argument 'config.experiment': unknown benchmark experiment {c.experiment!r}")
