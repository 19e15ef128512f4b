"""The smoke super-resolution GAN with a racecar generator and the autoencoders initialised from
it (Xie & Thuerey, Sec. 5 and appendix D.2; Fig. 6, 9, 27, 28).

Task A: a fully convolutional generator G (lo -> hi, `models.sr_generator`) trained with a
non-saturating GAN loss + a discriminator feature-space loss + L2; the discriminator sees the hi-res
image concatenated with the nearest-up-sampled lo-res input. RR_A puts every generator layer in the
full racecar loss (ReLU on d'_1). Tasks B: autoencoders whose encoder is the generator's
reverse-pass architecture (its own weights) and whose decoder is the generator; RR_AB initialises them from RR_A.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.racecar import analysis, losses, transfer
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig

REVERSE = ReverseConfig("full", output_activation="relu")


class Discriminator(nn.Module):
  """Conditional discriminator: [hi, UP(lo)] -> strided convs -> logit; also returns its
  features."""

  channels: tuple = (16, 32)

  @nn.compact
  def __call__(self, hi, lo):
    f = hi.shape[1] // lo.shape[1]
    x = jnp.concatenate([hi, jnp.repeat(jnp.repeat(lo, f, 1), f, 2)], -1)
    feats = []
    for ch in self.channels:
      x = nn.leaky_relu(nn.Conv(ch, (4, 4), (2, 2))(x), 0.2)
      feats.append(x)
    return nn.Dense(1)(x.reshape(x.shape[0], -1))[:, 0], feats


def augment(key, hi, lo):
  """Random horizontal flip and rotation by k*90 degrees, the same for the hi/lo pair of a
  sample."""
  kf, kr = jax.random.split(key)
  flip = jax.random.bernoulli(kf, 0.5, (hi.shape[0],))
  k = jax.random.randint(kr, (hi.shape[0],), 0, 4)

  def one(h, l, fl, kk):
    h = jnp.where(fl, h[:, ::-1], h)
    l = jnp.where(fl, l[:, ::-1], l)
    rots = [lambda b: b] + [lambda b, r=r: jnp.rot90(b, r, (0, 1)) for r in (1, 2, 3)]
    rot = lambda a: jax.lax.switch(kk, rots, a)
    return rot(h), rot(l)

  return jax.vmap(one)(hi, lo, flip, k)


@dataclasses.dataclass(frozen=True)
class GanLoss:
  """Weights of the generator loss (our choice; the paper's values are not available).

  Attributes:
    w_adv: non-saturating GAN term. w_feat: discriminator feature-space term. w_l2: L2 term.
    lam: racecar lambda on every generator layer. reduction: of the racecar terms.
  """

  w_adv: float = 0.01
  w_feat: float = 0.1
  w_l2: float = 1.0
  lam: float = 1.0
  reduction: str = "mean"


def make_gan_step(G: RacecarChain, D: nn.Module, method: str, loss: GanLoss = GanLoss()):
  """The pure GAN train step of task A (state.params = {'g', 'd'}).

  Args:
    G: the generator chain.
    D: the conditional discriminator.
    method: 'rr' (racecar on the generator) or 'std'.
    loss: the generator loss weights.

  Returns:
    ``step(state, {'hi', 'lo'}) -> (state, metrics)``.
  """
  rev = REVERSE if method == "rr" else None

  def step(state, batch):
    state, key = state.next_rng()
    hi, lo = augment(key, batch["hi"], batch["lo"])

    def g_loss(pg, pd):
      out = G.apply({"params": pg}, lo, reverse=rev)
      fake = out.out
      logit, f_fake = D.apply({"params": pd}, fake, lo)
      _, f_real = D.apply({"params": pd}, hi, lo)
      adv = jnp.mean(jax.nn.softplus(-logit))
      feat = sum(jnp.mean(jnp.square(a - jax.lax.stop_gradient(b))) for a, b in zip(f_fake, f_real))
      l2 = jnp.mean(jnp.square(fake - hi))
      rr = 0.0
      if rev is not None:
        rr, _ = losses.racecar_loss(out.ds, out.recons, loss.lam, "full", loss.reduction)
      total = loss.w_adv * adv + loss.w_feat * feat + loss.w_l2 * l2 + rr
      return total, (adv, feat, l2, rr, fake)

    (_, (adv, feat, l2, rr, fake)), gg = jax.value_and_grad(g_loss, has_aux=True)(
      state.params["g"], state.params["d"]
    )

    def d_loss(pd):
      real, _ = D.apply({"params": pd}, hi, lo)
      fk, _ = D.apply({"params": pd}, jax.lax.stop_gradient(fake), lo)
      return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fk))

    ld, gd = jax.value_and_grad(d_loss)(state.params["d"])
    state = state.apply_gradients({"g": gg, "d": gd})
    return state, {"g_adv": adv, "g_feat": feat, "g_l2": l2, "rr_loss": rr, "d_loss": ld}

  return step


def gan_eval(G: RacecarChain, params_g, lo, hi):
  """Test L2 of G and how well its reverse pass recovers the lo-res input.

  Args:
    G: the generator chain.
    params_g: its parameters.
    lo: lo-res inputs.
    hi: hi-res targets.

  Returns:
    (metrics, G(lo), d'_1): test_l2, reverse_rel_err, reverse / input mean intensity.
  """
  out = jax.jit(lambda p, x: G.apply({"params": p}, x, reverse=REVERSE))(params_g, jnp.asarray(lo))
  fake, rec = np.asarray(out.out), np.asarray(out.recons[0])
  return (
    {
      "test_l2": float(np.mean((fake - hi) ** 2)),
      "reverse_rel_err": analysis.relative_error(rec, lo),
      "reverse_mean_intensity": float(rec.mean()),
      "input_mean_intensity": float(np.mean(lo)),
    },
    fake,
    rec,
  )


def ae_apply(chain: RacecarChain, params, x, code_shape):
  """Encoder = the chain's reverse pass (its own weights, ReLU on the code), decoder = the chain.

  Args:
    chain: the generator architecture.
    params: {'enc', 'dec'}.
    x: images.
    code_shape: the code's shape without the batch axis (the generator's input shape).

  Returns:
    (reconstruction, code).
  """
  code = chain.apply(
    {"params": params["enc"]},
    x,
    (x.shape[0],) + tuple(code_shape),
    reverse=REVERSE,
    method=RacecarChain.reverse_from,
  )
  return chain.apply({"params": params["dec"]}, code).out, code


def init_ae(chain: RacecarChain, key, code_shape, x_example):
  """Random {'enc', 'dec'} parameters of `ae_apply`'s autoencoder.

  Args:
    chain: the generator architecture.
    key: a JAX key.
    code_shape: the code's shape without the batch axis.
    x_example: an image batch fixing the input shape.

  Returns:
    {'enc': ..., 'dec': ...}.
  """
  ke, kd = jax.random.split(key)
  dec = chain.init(kd, jnp.zeros((1,) + tuple(code_shape)))["params"]
  enc = chain.init(
    ke, jnp.asarray(x_example[:1]), (1,) + tuple(code_shape), method=RacecarChain.reverse_from
  )["params"]
  return {"enc": enc, "dec": dec}


def ae_init_params(name: str, fresh: Dict, gens: Dict, out_channels: int = 1) -> Dict:
  """The initial autoencoder parameters of a task-B model.

  Grey task B1 (out_channels 1): 'rr_AB1' takes encoder and decoder from RR_A, 'std_AB1' only the
  decoder from Std_A (the paper's baseline), 'std_AB1_both' both from Std_A, 'std_B1' none. RGB
  task B2 (out_channels 3): the decoder's last layer is stacked x3; 'rr_AB2' / 'std_AB2' initialise
  the decoder only, 'rr_AB2_both' both, 'std_B2' none.

  Args:
    name: the model's name (above).
    fresh: random parameters from `init_ae`.
    gens: {'rr': RR_A's generator parameters, 'std': Std_A's}.
    out_channels: 1 (task B1) or 3 (task B2).

  Returns:
    {'enc', 'dec'}.

  Raises:
    ValueError: naming ``config.b1_models`` / ``config.b2_models`` for an unknown name.
  """
  if out_channels == 1:
    table = {
      "rr_AB1": ("rr", "rr"),
      "std_AB1": (None, "std"),
      "std_AB1_both": ("std", "std"),
      "std_B1": (None, None),
    }
    arg = "config.b1_models"
  else:
    table = {
      "rr_AB2": (None, "rr"),
      "std_AB2": (None, "std"),
      "rr_AB2_both": ("rr", "rr"),
      "std_B2": (None, None),
    }
    arg = "config.b2_models"
  if name not in table:
    raise ValueError(f"argument '{arg}': expected names in {sorted(table)}, got {name!r}")

  def source(which):
    p = gens[which]
    return p if out_channels == 1 else transfer.stack_output_channels(p, out_channels)

  enc, dec = table[name]
  return {
    "enc": fresh["enc"] if enc is None else source(enc),
    "dec": fresh["dec"] if dec is None else source(dec),
  }


def make_ae_step(chain: RacecarChain, code_shape: Sequence[int]):
  """The pure train step of `ae_apply`'s autoencoder (L2, flip/rotation augmentation).

  Args:
    chain: the generator architecture.
    code_shape: the code's shape without the batch axis.

  Returns:
    ``step(state, {'x'}) -> (state, {'l2'})``.
  """

  def step(state, batch):
    state, key = state.next_rng()
    x, _ = augment(key, batch["x"], batch["x"][:, ::4, ::4])

    def loss_fn(p):
      rec, _ = ae_apply(chain, p, x, code_shape)
      return jnp.mean(jnp.square(rec - x))

    l, g = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(g), {"l2": l}

  return step
