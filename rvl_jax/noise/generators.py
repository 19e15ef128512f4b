"""Adversarial noise generators (Rusak et al. 2020, Sec. 3.2 and App. A): 1x1 ("NG4"), 3x3 and
depth variants NG1..NG5.

A generator maps a latent ``z ~ N(0, I)`` of the image-batch shape to a noise tensor of the
same shape: a stack of convolutions (width 20, ReLU between layers, no normalisation, no
final activation) plus a residual connection from the latent to the output. All kernels are
1x1 except optionally one 3x3 layer (VALID padding; the latent is then sampled with a 1 px
border on each side and the residual adds the centre crop). With the custom init
(kernels ~ N(0, 0.01^2), biases 0) the generator starts as (almost) the identity, i.e. plain
Gaussian noise.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvl_jax.core import validation


class NoiseGenerator(nn.Module):
  """Image-independent noise generator g(z) = convs(z) + z.

  Attributes:
    channels: image channels C (3 RGB, 1 MNIST).
    depth: number of conv layers (NG_k has depth k; default 4).
    width: hidden width (default 20).
    conv3x3_layer: index of the layer with a 3x3 kernel (1 = second conv for ANT3x3), or None.
    custom_init: kernels N(0, 0.01^2), biases 0 (reference default).
  """

  channels: int
  depth: int = 4
  width: int = 20
  conv3x3_layer: Optional[int] = None
  custom_init: bool = True

  @property
  def border(self) -> int:
    """Latent pixels cropped on each side by the VALID 3x3 layer (0 without one)."""
    return 1 if self.conv3x3_layer is not None else 0

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    if self.depth < 1:
      raise ValueError(f"argument 'depth': expected >= 1, got {self.depth}")
    kinit = nn.initializers.normal(0.01) if self.custom_init else nn.initializers.lecun_normal()
    h = z
    for i in range(self.depth):
      feats = self.channels if i == self.depth - 1 else self.width
      k = 3 if (self.conv3x3_layer is not None and i == self.conv3x3_layer) else 1
      h = nn.Conv(
        feats,
        (k, k),
        padding="VALID",
        kernel_init=kinit,
        bias_init=nn.initializers.zeros,
        name=f"conv{i}",
      )(h)
      if i < self.depth - 1:
        h = nn.relu(h)
    b = (z.shape[1] - h.shape[1]) // 2
    return h + z[:, b : b + h.shape[1], b : b + h.shape[2], :]


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
  """Static description of a generator (hashable; used as a jit-static argument).

  Attributes:
    channels: image channels C.
    kind: '1x1' (all kernels 1x1, ANT1x1) or '3x3' (second layer 3x3, ANT3x3).
    depth: number of conv layers.
    width: hidden width.
    custom_init: kernels N(0, 0.01^2), biases 0 (reference default).
  """

  channels: int
  kind: str = "1x1"  # '1x1' or '3x3'
  depth: int = 4
  width: int = 20
  custom_init: bool = True

  def module(self) -> NoiseGenerator:
    """The Flax module of this generator.

    Returns:
      A `NoiseGenerator`.

    Raises:
      ValueError: an unknown ``kind``, or a 3x3 generator with fewer than 2 layers.
    """
    validation.check_in_choices("kind", self.kind, ("1x1", "3x3"))
    if self.kind == "3x3" and self.depth < 2:
      raise ValueError("argument 'depth': the 3x3 generator needs depth >= 2")
    return NoiseGenerator(
      channels=self.channels,
      depth=self.depth,
      width=self.width,
      conv3x3_layer=1 if self.kind == "3x3" else None,
      custom_init=self.custom_init,
    )

  @property
  def border(self) -> int:
    """Extra latent pixels on each side (1 for the 3x3 generator, else 0)."""
    return 1 if self.kind == "3x3" else 0

  def latent_shape(self, image_shape: Tuple[int, ...]) -> Tuple[int, ...]:
    """Latent shape for an image batch shape.

    Args:
      image_shape: (B, H, W, C) of the noise to produce.

    Returns:
      (B, H + 2 border, W + 2 border, C).

    Raises:
      ValueError: C differs from ``channels``.
    """
    b, h, w, c = image_shape
    if c != self.channels:
      raise ValueError(f"argument 'image_shape': expected {self.channels} channels, got {c}")
    return (b, h + 2 * self.border, w + 2 * self.border, c)


def init_generator(spec: GeneratorSpec, key: jax.Array, image_shape=(1, 8, 8)):
  """Fresh generator parameters (custom init by default).

  Args:
    spec: the generator's description.
    key: PRNG key of the initialisation.
    image_shape: (B, H, W[, C]) of a noise batch (the parameters do not depend on B, H, W).

  Returns:
    The parameters (a pytree).
  """
  b, h, w = tuple(image_shape)[:3]
  z = jnp.zeros(spec.latent_shape((b, h, w, spec.channels)), jnp.float32)
  return spec.module().init(key, z)["params"]


def generate_noise(spec: GeneratorSpec, params, key: jax.Array, image_shape) -> jax.Array:
  """Samples a fresh latent z ~ N(0, I) and returns g(z) (Rusak et al. 2020, Sec. 3.2).

  Args:
    spec: the generator's description.
    params: its parameters.
    key: PRNG key of the latent.
    image_shape: (B, H, W, C) of the noise.

  Returns:
    The noise, float32 of shape ``image_shape``.
  """
  z = jax.random.normal(key, spec.latent_shape(tuple(image_shape)), jnp.float32)
  return spec.module().apply({"params": params}, z)


def count_params(params) -> int:
  """Number of scalar parameters.

  Args:
    params: a pytree of arrays.

  Returns:
    The total number of elements.
  """
  return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


# Named presets of the paper.
ANT1x1 = lambda channels: GeneratorSpec(channels=channels, kind="1x1", depth=4)  # noqa: E731
ANT3x3 = lambda channels: GeneratorSpec(channels=channels, kind="3x3", depth=4)  # noqa: E731


def ng(depth: int, channels: int = 3) -> GeneratorSpec:
  """NG_k depth variant (k 1x1 layers, width 20; Rusak et al. 2020, App. K, Table 11).

  Args:
    depth: k, the number of layers.
    channels: image channels.

  Returns:
    The `GeneratorSpec`.
  """
  return GeneratorSpec(channels=channels, kind="1x1", depth=depth)
