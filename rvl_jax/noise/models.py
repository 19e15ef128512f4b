"""Classifiers used by noise training (Rusak et al. 2020, App. B): the Madry MNIST CNN and ImageNet ResNets.

Every model takes raw [0, 1] images; for ImageNet models the per-channel normalisation is
the first operation *inside* the module (noise lives in [0, 1] pixel space), so clean, noisy and corrupted inputs
all share one data path.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvl_jax.core import validation

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_NAMES = ("madry", "madry_narrow", "resnet50", "resnet18", "resnet18_cifar", "resnet_tiny")


class MadryCNN(nn.Module):
  """conv5x5(32) -> pool -> conv5x5(64) -> pool -> dense(1024) -> dense(10), ReLU, no BN.

  ``features=(16, 32)`` and ``hidden=128`` give the documented narrow speed preset.
  """

  features: Sequence[int] = (32, 64)
  hidden: int = 1024
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    for f in self.features:
      x = nn.relu(nn.Conv(f, (5, 5), padding="SAME")(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.hidden)(x))
    return nn.Dense(self.num_classes)(x)


class Normalize(nn.Module):
  """Per-channel ``(x - mean) / std`` as the first layer of a model that takes [0, 1] images.

  Attributes:
    mean: per-channel mean (default: ImageNet's).
    std: per-channel standard deviation (default: ImageNet's).
  """

  mean: Sequence[float] = IMAGENET_MEAN
  std: Sequence[float] = IMAGENET_STD

  def __call__(self, x):
    return (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)


class _Bottleneck(nn.Module):
  filters: int
  strides: Tuple[int, int] = (1, 1)
  norm: Callable = nn.BatchNorm

  @nn.compact
  def __call__(self, x, train: bool):
    bn = functools.partial(self.norm, use_running_average=not train, momentum=0.9, epsilon=1e-5)
    residual = x
    y = nn.Conv(self.filters, (1, 1), use_bias=False)(x)
    y = nn.relu(bn()(y))
    y = nn.Conv(self.filters, (3, 3), self.strides, padding=((1, 1), (1, 1)), use_bias=False)(y)
    y = nn.relu(bn()(y))
    y = nn.Conv(self.filters * 4, (1, 1), use_bias=False)(y)
    y = bn(scale_init=nn.initializers.zeros)(y)
    if residual.shape != y.shape:
      residual = nn.Conv(self.filters * 4, (1, 1), self.strides, use_bias=False)(residual)
      residual = bn()(residual)
    return nn.relu(residual + y)


class _Basic(nn.Module):
  filters: int
  strides: Tuple[int, int] = (1, 1)

  @nn.compact
  def __call__(self, x, train: bool):
    bn = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5)
    residual = x
    y = nn.Conv(self.filters, (3, 3), self.strides, padding=((1, 1), (1, 1)), use_bias=False)(x)
    y = nn.relu(bn()(y))
    y = nn.Conv(self.filters, (3, 3), padding=((1, 1), (1, 1)), use_bias=False)(y)
    y = bn(scale_init=nn.initializers.zeros)(y)
    if residual.shape != y.shape:
      residual = nn.Conv(self.filters, (1, 1), self.strides, use_bias=False)(residual)
      residual = bn()(residual)
    return nn.relu(residual + y)


class ResNet(nn.Module):
  """torchvision-layout ResNet with the ImageNet normalisation inside (input [0, 1])."""

  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  block: str = "bottleneck"
  num_classes: int = 1000
  width: int = 64
  small_input: bool = False  # CIFAR-style stem (3x3 conv, no max-pool)
  normalize: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.normalize:
      x = Normalize()(x)
    bn = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5)
    if self.small_input:
      x = nn.Conv(self.width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False)(x)
      x = nn.relu(bn()(x))
    else:
      x = nn.Conv(self.width, (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False)(x)
      x = nn.relu(bn()(x))
      x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    blk = _Bottleneck if self.block == "bottleneck" else _Basic
    for i, n in enumerate(self.stage_sizes):
      for j in range(n):
        strides = (2, 2) if i > 0 and j == 0 else (1, 1)
        x = blk(self.width * 2**i, strides)(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes)(x)


def resnet50(num_classes: int = 1000) -> ResNet:
  """ResNet-50, the ImageNet model of Rusak et al. 2020 (Sec. 3.3).

  Args:
    num_classes: output classes.

  Returns:
    The `ResNet` module.
  """
  return ResNet(stage_sizes=(3, 4, 6, 3), block="bottleneck", num_classes=num_classes)


def resnet18(num_classes: int = 1000, small_input: bool = False, width: int = 64) -> ResNet:
  """ResNet-18 (basic blocks).

  Args:
    num_classes: output classes.
    small_input: CIFAR-style stem (3x3 conv, no max-pool).
    width: channels of the first stage.

  Returns:
    The `ResNet` module.
  """
  return ResNet(
    stage_sizes=(2, 2, 2, 2),
    block="basic",
    num_classes=num_classes,
    small_input=small_input,
    width=width,
  )


def build_model(name: str, num_classes: int = 10, **kw) -> nn.Module:
  """A classifier by name.

  Args:
    name: one of `MODEL_NAMES`: 'madry' (the MNIST CNN of Madry et al. 2018), 'madry_narrow'
      (its narrow speed preset), 'resnet50', 'resnet18', 'resnet18_cifar' (small-input stem) or
      'resnet_tiny' (two basic blocks of width 8, for tests).
    num_classes: output classes.
    **kw: further `MadryCNN` fields (only for 'madry').

  Returns:
    The flax module.

  Raises:
    ValueError: an unknown ``name``.
  """
  validation.check_in_choices("name", name, MODEL_NAMES)
  if name == "madry":
    return MadryCNN(num_classes=num_classes, **kw)
  if name == "madry_narrow":
    return MadryCNN(features=(16, 32), hidden=128, num_classes=num_classes)
  if name == "resnet50":
    return resnet50(num_classes)
  if name == "resnet18":
    return resnet18(num_classes)
  if name == "resnet18_cifar":
    return resnet18(num_classes, small_input=True)
  if name == "resnet_tiny":
    return ResNet(
      stage_sizes=(1, 1), block="basic", width=8, num_classes=num_classes, small_input=True
    )


def init_model(model: nn.Module, key, image_shape) -> Tuple[Any, Any]:
  """Initialises a model on a zero image.

  Args:
    model: the flax module.
    key: PRNG key of the initialisation.
    image_shape: (H, W, C) of one image.

  Returns:
    (params, batch_stats or None).
  """
  variables = model.init(key, jnp.zeros((1,) + tuple(image_shape), jnp.float32), train=False)
  return variables["params"], variables.get("batch_stats")


def apply_model(model: nn.Module, params, batch_stats, x, train: bool = False):
  """Runs a classifier.

  Args:
    model: the flax module.
    params: its parameters.
    batch_stats: its BatchNorm statistics, or None for a model without them.
    x: (B, H, W, C) images in [0, 1].
    train: training mode (BatchNorm uses and updates batch statistics).

  Returns:
    (logits, batch_stats): the updated statistics when ``train``, the given ones otherwise
    (None for a model without BatchNorm).
  """
  if batch_stats is None:
    logits = model.apply({"params": params}, x, train=train)
    return logits, None
  variables = {"params": params, "batch_stats": batch_stats}
  if train:
    logits, upd = model.apply(variables, x, train=True, mutable=["batch_stats"])
    return logits, upd["batch_stats"]
  return model.apply(variables, x, train=False), batch_stats


@functools.lru_cache(maxsize=64)
def inference_fn(model: nn.Module) -> Callable:
  """Cached jit ``(params, batch_stats, x) -> logits`` (compiled once per model and shape).

  Args:
    model: the flax module (hashable).

  Returns:
    The jitted inference function.
  """

  @jax.jit
  def fn(params, batch_stats, x):
    return apply_model(model, params, batch_stats, x, train=False)[0]

  return fn


def logits_fn(model: nn.Module, params, batch_stats=None) -> Callable:
  """``x -> logits`` in inference mode (the shared classifier interface); the compiled
  function is shared by all parameter values of the same model.

  Args:
    model: the flax module.
    params: its parameters.
    batch_stats: its BatchNorm statistics, or None.

  Returns:
    The classifier function.
  """
  fn = inference_fn(model)
  return lambda x: fn(params, batch_stats, x)
