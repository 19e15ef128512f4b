"""Paper-scale cases of the two racecar GAN experiments: E4 (InfoGAN on MNIST) and E9 (smoke
super-resolution), one step each of generator and discriminator."""

from __future__ import annotations

import jax.numpy as jnp

from experiments.speed.cases.common import Case, adam_state
from experiments.speed.cases.common import images as _images
from experiments.speed.cases.common import key as _key
from rvl_jax.core import validation


def cases_racecar_gan(c, label):
  """The cases of ``c.experiment`` 'e4' or 'e9'."""
  from experiments.racecar import e4_infogan
  from rvl_jax.racecar import models, smoke_sr
  from rvl_jax.racecar.layers import ReverseConfig

  e = c.experiment
  validation.check_in_choices("config.experiment", e, ("e4", "e9"))
  if e == "e4":
    G, D = e4_infogan.generator(c), e4_infogan.Discriminator(tuple(c.d_channels), c.d_hidden)
    b = c.batch_size

    def make_args():
      vg = G.init(
        _key(0), jnp.zeros((2, e4_infogan.ZDIM)), train=False, reverse=ReverseConfig("rr1")
      )
      vd = D.init(_key(1), jnp.zeros((2, 28, 28, 1)))
      params = {"g": vg["params"], "d": vd["params"]}
      st = adam_state(G.apply, params, c.learning_rate, 2, vg["batch_stats"], b1=0.5)
      return st, {"x": _images((b, 28, 28, 1))}

    return [
      Case(
        label,
        "rr1 GAN step (G + D)",
        e4_infogan.make_step(c, G, D, "rr1"),
        make_args,
        b,
        len(c.methods) * c.num_steps,
        "Std costed at RR1",
      )
    ]
  # e9: one step of generator and discriminator of the smoke super-resolution GAN
  G = models.sr_generator(c.g_channels, c.factor, 1, c.g_out_activation)
  D = smoke_sr.Discriminator(tuple(c.d_channels))
  b, s, lo = c.batch_size, c.size, c.size // c.factor

  def make_args():
    pg = G.init(_key(0), jnp.zeros((2, lo, lo, 1)), reverse=ReverseConfig("full"))["params"]
    pd = D.init(_key(1), jnp.zeros((2, s, s, 1)), jnp.zeros((2, lo, lo, 1)))["params"]
    st = adam_state(G.apply, {"g": pg, "d": pd}, c.learning_rate, 2, b1=0.5)
    return st, {"hi": _images((b, s, s, 1)), "lo": _images((b, lo, lo, 1), 3)}

  gan_step = smoke_sr.make_gan_step(G, D, "rr", smoke_sr.GanLoss(**c.gan_loss))
  return [
    Case(
      label,
      "rr GAN step (G + D)",
      gan_step,
      make_args,
      b,
      len(c.seeds) * 2 * c.gan_steps,
      "Std costed at RR; the autoencoder phases (ae_steps) are not included",
    )
  ]
