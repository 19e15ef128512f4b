"""Small networks shared across systems (system-specific architectures live in their packages)."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """Dense layers with an activation between them (none after the last).

  The input is flattened to ``(batch, -1)`` first, so images can be passed directly.

  Attributes:
    features: Output width of each dense layer, in order; the last is the output size.
    activation: Nonlinearity applied after every layer but the last (default ReLU).
  """

  features: Sequence[int]
  activation: Callable = nn.relu

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x.reshape((x.shape[0], -1))
    for i, width in enumerate(self.features):
      x = nn.Dense(width, name=f"dense_{i}")(x)
      if i < len(self.features) - 1:
        x = self.activation(x)
    return x


class ConvNet(nn.Module):
  """A plain CNN classifier: conv(3x3)+ReLU+maxpool blocks, then a dense head.

  Used by the worked MNIST example and as a generic baseline classifier. Called as
  ``model.apply(variables, x, train=False)`` on NHWC images; ``train`` only matters with
  batch normalisation (batch statistics and a ``batch_stats`` collection update when True).

  Attributes:
    channels: Output channels of each conv block (each block halves the spatial size).
    hidden: Width of the dense hidden layer before the logits.
    num_classes: Number of output logits.
    use_batchnorm: Insert batch normalisation between each convolution and its ReLU.
  """

  channels: Sequence[int] = (32, 64)
  hidden: int = 128
  num_classes: int = 10
  use_batchnorm: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    for i, c in enumerate(self.channels):
      x = nn.Conv(c, (3, 3), name=f"conv_{i}")(x)
      if self.use_batchnorm:
        x = nn.BatchNorm(use_running_average=not train, name=f"bn_{i}")(x)
      x = nn.relu(x)
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.hidden, name="hidden")(x))
    return nn.Dense(self.num_classes, name="logits")(x)
