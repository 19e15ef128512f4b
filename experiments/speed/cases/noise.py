"""Paper-scale cases of the noise experiments: GNT, ANT joint and ANT restart steps."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from experiments.speed.cases.common import IMAGENET_TRAIN_IMAGES, Case
from experiments.speed.cases.common import images as _images
from experiments.speed.cases.common import key as _key
from experiments.speed.cases.common import labels as _labels


def noise_cases(
  label,
  model,
  image_shape,
  batch,
  *,
  num_classes,
  ant_steps,
  restart_calls,
  restart_steps,
  gnt_steps=0,
  eps=1.0,
  capacity=512,
  lr=1e-3,
):
  """GNT (when gnt_steps), ANT joint and ANT restart-generator steps of ``rvl_jax.noise``."""
  import optax

  from rvl_jax.noise import ant, generators, models, training

  spec = generators.GeneratorSpec(channels=image_shape[-1], kind="1x1")
  tx = training.sgd_momentum(lr)
  gen_tx = optax.adam(1e-4)
  data = lambda: {
    "image": _images((batch,) + tuple(image_shape)),
    "label": _labels(batch, num_classes),
  }

  def init():
    return models.init_model(model, _key(0), image_shape)

  def gnt_args():
    params, bs = init()
    return training.create_state(model, params, bs, tx, _key(1)), data()

  def ant_args():
    params, bs = init()
    gp = generators.init_generator(spec, _key(2), (1,) + tuple(image_shape[:2]))
    st = ant.init_ant_state(
      params=params,
      batch_stats=bs,
      classifier_tx=tx,
      gen_params=gp,
      gen_tx=gen_tx,
      rng=_key(3),
      capacity=capacity,
    )
    return st, data()

  def restart_args():
    params, bs = init()
    gp = generators.init_generator(spec, _key(2), (1,) + tuple(image_shape[:2]))
    st = ant.RestartState(
      step=jnp.zeros((), jnp.int32),
      gen_params=gp,
      gen_opt_state=gen_tx.init(gp),
      rng=jax.random.key_data(_key(4)),
      clf_params=params,
      clf_batch_stats={} if bs is None else bs,
    )
    return st, data()

  out = []
  if gnt_steps:
    out.append(
      Case(
        label,
        "GNT step (sigma 0.5)",
        training.make_noise_train_step(model, "gaussian"),
        gnt_args,
        batch,
        gnt_steps,
        "vanilla pre-training and noise arms",
      )
    )
  if ant_steps:
    out.append(
      Case(
        label,
        "ANT1x1 joint step",
        ant.make_ant_train_step(model, spec, gen_tx, tx, eps),
        ant_args,
        batch,
        ant_steps,
        "generator + classifier update, replay buffer",
      )
    )
    out.append(
      Case(
        label,
        "ANT restart-generator step",
        ant.make_restart_step(model, spec, gen_tx, eps),
        restart_args,
        batch,
        restart_calls * restart_steps,
        f"{restart_calls} restarts x {restart_steps} steps",
        params_of=lambda args: args[0].gen_params,
      )
    )
  return out


def cases_noise(c, label):
  from rvl_jax.noise import models

  if c.experiment == "imagenet":
    spe = IMAGENET_TRAIN_IMAGES // c.batch_size
    joint = c.epochs * spe
    restart_every = max(int(round(c.ant.restart_every_epochs * spe)), 1)
    return noise_cases(
      label,
      models.build_model(c.model, num_classes=c.num_classes),
      (c.image_size, c.image_size, 3),
      c.batch_size,
      num_classes=c.num_classes,
      ant_steps=joint,
      restart_calls=-(-joint // restart_every),
      restart_steps=c.ant.restart_steps,
      eps=c.ant.eps,
      lr=c.lr,
    )
  t = c.train
  n_train = c.data.train_size or 4000
  spe = n_train // t.batch_size
  seeds = len(c.seeds)
  ft = t.finetune_epochs * spe
  pre = t.pretrain_epochs * spe
  # Both MNIST experiments train the same model on 28x28 digits.
  mnist_cases = functools.partial(
    noise_cases, label, models.build_model(t.model), (28, 28, 1), t.batch_size, num_classes=10
  )
  if c.experiment == "sigma_sweep":
    return mnist_cases(
      ant_steps=0,
      restart_calls=0,
      restart_steps=0,
      gnt_steps=seeds * (pre + len(c.sweep_sigmas) * ft),
    )
  ant_arms = [a for a in c.arms if a.startswith("ant")]
  noise_arms = len(c.arms) - len(ant_arms)
  restarts = -(-ft // (c.ant.restart_every_epochs * spe))
  return mnist_cases(
    ant_steps=seeds * len(ant_arms) * ft,
    restart_calls=seeds * len(ant_arms) * restarts,
    restart_steps=c.ant.restart_steps,
    gnt_steps=seeds * (pre + noise_arms * ft),
    capacity=c.ant.capacity,
    lr=t.finetune_lr,
  )
