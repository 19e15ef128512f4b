"""Encoders / decoders for SlowVAE and its baselines (Klindt et al. 2021, App. E; Hyvarinen &
Morioka 2017 for PCL).

* ``arch='reference'``: the Higgins-style 64x64 conv VAE used by the authors' code
  (the 64x64 conv VAE of Higgins et al. 2017 as the SlowVAE authors' code builds it). Stride-2
  transposed convolutions are computed in the equivalent
  sub-pixel form (one 3x3 convolution to 4*C_out channels, then depth-to-space),
  which is numerically the same operator as PyTorch's ConvTranspose2d(k=4, s=2, p=1)
  with kernel ``W[kh, kw, c_in, c_out]`` but much faster on CPU.
* ``arch='dislib'``: the disentanglement_lib conv VAE of Locatello et al. 2019.
* ``arch='mlp'``: MLP encoder/decoder (2 hidden layers of 256, leaky ReLU) for
  vector data such as the synthetic nonlinear-ICA source (Klindt et al. 2021, App. F.1).
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation

ARCHS = ("reference", "dislib", "mlp")

kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def torch_default_uniform(fan_in: int):
  """PyTorch's default init: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


# Row/column of the 4x4 transposed-conv kernel read by output phase a at input offset delta.
_SUBPIXEL_TAPS = {(0, -1): 3, (0, 0): 1, (1, 0): 2, (1, 1): 0}


def subpixel_kernel(kernel: jnp.ndarray) -> jnp.ndarray:
  """Converts a (4, 4, C_in, C_out) transposed-conv kernel to the (3, 3, C_in, 4 C_out) form.

  Output channel block ``(2 a + b)`` holds the kernel of output phase (row parity a,
  column parity b); unused 3x3 taps are zero.
  """
  c_in, c_out = kernel.shape[2], kernel.shape[3]
  zeros = jnp.zeros((c_in, c_out), kernel.dtype)
  rows = []
  for dy in (-1, 0, 1):
    cols = []
    for dx in (-1, 0, 1):
      blocks = []
      for a in (0, 1):
        for b in (0, 1):
          kr = _SUBPIXEL_TAPS.get((a, dy))
          kc = _SUBPIXEL_TAPS.get((b, dx))
          blocks.append(zeros if kr is None or kc is None else kernel[kr, kc])
      cols.append(jnp.concatenate(blocks, axis=-1))
    rows.append(jnp.stack(cols, 0))
  return jnp.stack(rows, 0)


def depth_to_space(y: jnp.ndarray, c_out: int) -> jnp.ndarray:
  """(N, H, W, 4 C) with channel blocks ordered (a, b) -> (N, 2H, 2W, C)."""
  n, h, w, _ = y.shape
  y = y.reshape(n, h, w, 2, 2, c_out)
  y = y.transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, 2 * h, 2 * w, c_out)


def conv_transpose_s2(x: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray) -> jnp.ndarray:
  """PyTorch ConvTranspose2d(k=4, stride=2, padding=1) in sub-pixel form (NHWC)."""
  k3 = subpixel_kernel(kernel)
  y = jax.lax.conv_general_dilated(
    x, k3, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return depth_to_space(y, kernel.shape[3]) + bias


class SubpixelConvTranspose(nn.Module):
  """ConvTranspose2d(k=4, s=2, p=1) with PyTorch's default initialisation."""

  features: int

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    fan_in = self.features * 16  # PyTorch computes fan_in from weight.size(1) * k * k
    kernel = self.param("kernel", torch_default_uniform(fan_in), (4, 4, c_in, self.features))
    bias = self.param("bias", torch_default_uniform(fan_in), (self.features,))
    return conv_transpose_s2(x, kernel, bias)


class ReferenceEncoder(nn.Module):
  """Reference encoder: 5 convs to a 256-d bottleneck, Linear to 2d (mu, logvar)."""

  latent_dim: int = 10

  @nn.compact
  def __call__(self, x):
    pad = ((1, 1), (1, 1))
    for feats in (32, 32, 64, 64):
      x = nn.relu(
        nn.Conv(
          feats,
          (4, 4),
          (2, 2),
          padding=pad,
          kernel_init=kaiming_normal,
          bias_init=nn.initializers.zeros,
        )(x)
      )
    x = nn.relu(
      nn.Conv(
        256,
        (4, 4),
        (1, 1),
        padding="VALID",
        kernel_init=kaiming_normal,
        bias_init=nn.initializers.zeros,
      )(x)
    )
    x = x.reshape((x.shape[0], -1))
    out = nn.Dense(
      2 * self.latent_dim, kernel_init=kaiming_normal, bias_init=nn.initializers.zeros
    )(x)
    return out[:, : self.latent_dim], out[:, self.latent_dim :]


class ReferenceDecoder(nn.Module):
  """Reference decoder: Linear d->256, ConvT 1x1->4x4 (as Dense), 4 sub-pixel ConvT."""

  channels: int = 1

  @nn.compact
  def __call__(self, z):
    x = nn.relu(nn.Dense(256, kernel_init=kaiming_normal, bias_init=nn.initializers.zeros)(z))
    # d2: ConvTranspose 4x4 stride 1 pad 0 on a 1x1 input == Dense 256 -> 4*4*64.
    fan_in = 64 * 16
    x = nn.Dense(4 * 4 * 64, use_bias=False, kernel_init=torch_default_uniform(fan_in), name="d2")(
      x
    )
    d2_bias = self.param("d2_bias", torch_default_uniform(fan_in), (64,))
    x = nn.relu(x.reshape((-1, 4, 4, 64)) + d2_bias)
    for feats in (64, 32, 32):
      x = nn.relu(SubpixelConvTranspose(feats)(x))
    return SubpixelConvTranspose(self.channels)(x)


class DislibEncoder(nn.Module):
  """disentanglement_lib conv encoder (Locatello et al. 2019)."""

  latent_dim: int = 10

  @nn.compact
  def __call__(self, x):
    for feats, k in ((32, 4), (32, 4), (64, 2), (64, 2)):
      x = nn.relu(nn.Conv(feats, (k, k), (2, 2), padding="SAME")(x))
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(256)(x))
    return nn.Dense(self.latent_dim, name="mu")(x), nn.Dense(self.latent_dim, name="logvar")(x)


class DislibDecoder(nn.Module):
  """disentanglement_lib deconv decoder (Locatello et al. 2019)."""

  channels: int = 1

  @nn.compact
  def __call__(self, z):
    x = nn.relu(nn.Dense(256)(z))
    x = nn.relu(nn.Dense(1024)(x))
    x = x.reshape((-1, 4, 4, 64))
    for feats in (64, 32, 32):
      x = nn.relu(nn.ConvTranspose(feats, (4, 4), (2, 2), padding="SAME")(x))
    return nn.ConvTranspose(self.channels, (4, 4), (2, 2), padding="SAME")(x)


class LeakyMLP(nn.Module):
  """The fields and layers the MLP encoder and decoder share: Dense layers of ``hidden`` sizes with
  leaky ReLU (``negative_slope``), then a linear layer."""

  hidden: Sequence[int] = (256, 256)
  negative_slope: float = 0.2

  def mlp(self, x, out_dim: int):
    """The layers on x (N, D) -> (N, out_dim); called from the subclasses' compact ``__call__``."""
    for h in self.hidden:
      x = nn.leaky_relu(nn.Dense(h)(x), self.negative_slope)
    return nn.Dense(out_dim)(x)


class MLPEncoder(LeakyMLP):
  """x (flattened) -> (mu, logvar), each (N, latent_dim)."""

  latent_dim: int = 5

  @nn.compact
  def __call__(self, x):
    out = self.mlp(x.reshape((x.shape[0], -1)), 2 * self.latent_dim)
    return out[:, : self.latent_dim], out[:, self.latent_dim :]


class MLPDecoder(LeakyMLP):
  """z -> outputs (N, output_dim)."""

  output_dim: int = 50

  @nn.compact
  def __call__(self, z):
    return self.mlp(z, self.output_dim)


def make_encoder(arch: str, latent_dim: int, hidden: Sequence[int]) -> nn.Module:
  """The encoder of ``arch`` (one of ``ARCHS``) with ``latent_dim`` outputs (mu and logvar)."""
  if arch == "reference":
    return ReferenceEncoder(latent_dim)
  if arch == "dislib":
    return DislibEncoder(latent_dim)
  validation.check_in_choices("arch", arch, ARCHS)
  return MLPEncoder(hidden=tuple(hidden), latent_dim=latent_dim)


class VAE(nn.Module):
  """Encoder + decoder pair. ``encode(x) -> (mu, logvar)``, ``decode(z) -> outputs``.

  Attributes:
    arch: 'reference' | 'dislib' | 'mlp'.
    latent_dim: d.
    data_shape: shape of one observation, (H, W, C) for images or (D,) for vectors.
    hidden: MLP hidden sizes (arch='mlp' only).
  """

  arch: str = "reference"
  latent_dim: int = 10
  data_shape: Tuple[int, ...] = (64, 64, 1)
  hidden: Sequence[int] = (256, 256)

  def setup(self):
    self.encoder = make_encoder(self.arch, self.latent_dim, self.hidden)
    if self.arch == "reference":
      self.decoder = ReferenceDecoder(self.data_shape[-1])
    elif self.arch == "dislib":
      self.decoder = DislibDecoder(self.data_shape[-1])
    else:
      self.decoder = MLPDecoder(hidden=tuple(self.hidden), output_dim=int(np.prod(self.data_shape)))

  def encode(self, x):
    return self.encoder(x)

  def decode(self, z):
    out = self.decoder(z)
    return out.reshape((z.shape[0],) + tuple(self.data_shape))

  def __call__(self, x, rng):
    mu, logvar = self.encode(x)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape, mu.dtype)
    return self.decode(z), mu, logvar


class PCLModel(nn.Module):
  """Permutation-contrastive learning (Hyvarinen & Morioka 2017): feature extractor h + PCL readout.

  ``features(x) -> h`` uses the encoder's mu head (no sampling, no decoder);
  ``__call__(x_t, x_prev) -> logits``.

  Attributes:
    arch: 'reference' | 'dislib' | 'mlp' (the encoder of ``VAE`` with the same name).
    latent_dim: dimension of h.
    hidden: MLP hidden sizes (arch='mlp' only).
    data_shape: shape of one observation (the input ``create_state`` initialises with).
  """

  arch: str = "reference"
  latent_dim: int = 10
  hidden: Sequence[int] = (256, 256)
  data_shape: Tuple[int, ...] = (64, 64, 1)

  def setup(self):
    self.encoder = make_encoder(self.arch, self.latent_dim, self.hidden)
    d = self.latent_dim
    self.w1 = self.param("w1", nn.initializers.ones, (d,))
    self.w2 = self.param("w2", lambda k, s: -jnp.ones(s), (d,))
    self.b = self.param("b", nn.initializers.zeros, (d,))
    self.a = self.param("a", nn.initializers.ones, ())
    self.c = self.param("c", nn.initializers.zeros, ())

  def features(self, x):
    return self.encoder(x)[0]

  def readout(self, h_t, h_prev):
    from rvl_jax.slowvae.losses import pcl_logits

    return pcl_logits(h_t, h_prev, self.w1, self.w2, self.b, self.a, self.c)

  def __call__(self, x_t, x_prev):
    return self.readout(self.features(x_t), self.features(x_prev))


def count_params(params) -> int:
  return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))
