"""Flax (linen) networks of the ABS system (Schott et al. 2019, Appendix A.7; baselines of Sec. 6).

All modules are NHWC and use "VALID" convolutions with bias, PyTorch-style
BatchNorm (eps 1e-5, PyTorch momentum 0.1 == Flax momentum 0.9) and ELU.
Module names mirror the PyTorch state-dict names (``conv_i``, ``bn_i``) so that
the released weights map onto them mechanically (see :mod:`rvl_jax.abs.weights`).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LATENT_SIZE = 8
BN_EPS = 1e-5
BN_MOMENTUM = 0.9  # Flax convention; equals PyTorch momentum 0.1.


def _bn(name):
  return nn.BatchNorm(epsilon=BN_EPS, momentum=BN_MOMENTUM, name=name)


class Encoder(nn.Module):
  """VAE encoder: (B, 28, 28, 1) -> (mu, logvar), each (B, latent)."""

  latent: int = LATENT_SIZE

  @nn.compact
  def __call__(self, x, train: bool = False):
    spec = [(32, 5, 1), (32, 4, 2), (64, 3, 2)]
    h = x
    for i, (f, k, s) in enumerate(spec):
      h = nn.Conv(f, (k, k), (s, s), padding="VALID", name=f"conv_{i}")(h)
      h = _bn(f"bn_{i}")(h, use_running_average=not train)
      h = nn.elu(h)
    h = nn.Conv(2 * self.latent, (5, 5), padding="VALID", name="conv_3")(h)
    h = h.reshape(h.shape[0], -1)
    return h[:, : self.latent], h[:, self.latent :]


class Decoder(nn.Module):
  """VAE decoder: z (B, latent) -> logits (B, 28, 28, 1) (no sigmoid)."""

  latent: int = LATENT_SIZE

  @nn.compact
  def __call__(self, z, train: bool = False):
    h = z.reshape(z.shape[0], 1, 1, self.latent)
    spec = [(32, 4, 1), (16, 5, 2), (16, 5, 2)]
    for i, (f, k, s) in enumerate(spec):
      h = nn.ConvTranspose(
        f, (k, k), (s, s), padding="VALID", transpose_kernel=True, name=f"conv_{i}"
      )(h)
      h = _bn(f"bn_{i}")(h, use_running_average=not train)
      h = nn.elu(h)
    return nn.ConvTranspose(1, (4, 4), padding="VALID", transpose_kernel=True, name="conv_3")(h)


class VAE(nn.Module):
  """One class-conditional VAE (encoder + decoder); returns (logits, mu, logvar)."""

  latent: int = LATENT_SIZE

  def setup(self):
    self.Encoder = Encoder(self.latent)
    self.Decoder = Decoder(self.latent)

  def __call__(self, x, rng=None, train: bool = False):
    mu, logvar = self.Encoder(x, train=train)
    if rng is None:
      z = mu
    else:
      z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape, mu.dtype)
    return self.Decoder(z, train=train), mu, logvar

  def decode(self, z, train: bool = False):
    return self.Decoder(z, train=train)

  def encode(self, x, train: bool = False):
    return self.Encoder(x, train=train)


class CNN(nn.Module):
  """Reference ``nets.NN`` classifier: VALID convs, BN + ELU, linear last layer.

  Default feature maps give the vanilla / binary CNN (20, 70, 256, 10); use
  (32, 32, 64, 10) for the substitute (transfer) CNN.
  """

  features: Sequence[int] = (20, 70, 256, 10)
  kernels: Sequence[int] = (5, 4, 3, 5)
  strides: Sequence[int] = (1, 2, 2, 1)

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = x
    n = len(self.features)
    for i, (f, k, s) in enumerate(zip(self.features, self.kernels, self.strides)):
      h = nn.Conv(f, (k, k), (s, s), padding="VALID", name=f"conv_{i}")(h)
      if i < n - 1:
        h = _bn(f"bn_{i}")(h, use_running_average=not train)
        h = nn.elu(h)
    return h.reshape(h.shape[0], -1)


def _trunc_normal_01(key, shape, dtype=jnp.float32):
  return 0.1 * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


class MadryCNN(nn.Module):
  """Madry et al. (2018) MNIST challenge model, NHWC input in [0, 1]."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    init = dict(kernel_init=_trunc_normal_01, bias_init=nn.initializers.constant(0.1))
    h = nn.relu(nn.Conv(32, (5, 5), padding="SAME", name="conv1", **init)(x))
    h = nn.max_pool(h, (2, 2), (2, 2), padding="SAME")
    h = nn.relu(nn.Conv(64, (5, 5), padding="SAME", name="conv2", **init)(h))
    h = nn.max_pool(h, (2, 2), (2, 2), padding="SAME")
    h = h.reshape(h.shape[0], -1)
    h = nn.relu(nn.Dense(1024, name="fc1", **init)(h))
    return nn.Dense(10, name="fc2", **init)(h)
