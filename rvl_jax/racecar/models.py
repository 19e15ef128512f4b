"""Architectures of the racecar experiments.

Most of the paper's architecture tables (Xie & Thuerey, appendices C and D) are not available, so
the widths and depths below are our choices, documented per function and in docs/racecar.md.
"""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import numpy as np

from rvl_jax.racecar.layers import RacecarChain, conv_spec, dense_spec


def mnist_cnn(channels: Sequence[int] = (32, 64, 128), num_classes: int = 10) -> RacecarChain:
  """The MNIST CNN (appendix C.1): three conv layers in the racecar loss, the FC head left out.

  C(5, c1)+BN+ReLU -> MP -> C(5, c2)+BN+ReLU -> MP -> C(3, c3)+BN+ReLU -> MP -> FC (our choice of
  kernel sizes and widths; the paper's table is not available).

  Args:
    channels: the three conv widths.
    num_classes: outputs of the head.

  Returns:
    The `RacecarChain`.
  """
  c1, c2, c3 = channels
  return RacecarChain(
    (
      conv_spec(c1, 5, norm="bn"),
      conv_spec(c2, 5, norm="bn", pool_before="max2"),
      conv_spec(c3, 3, norm="bn", pool_before="max2"),
    ),
    head=(num_classes,),
    head_pool="max2_flatten",
  )


def mi_mlp(widths: Sequence[int] = (10, 7, 5, 4, 3, 2), activation: str = "tanh") -> RacecarChain:
  """The MLP of the MI test (Sec. 4): 12-10-7-5-4-3-2 tanh with a softmax output, the widths of
  Shwartz-Ziv & Tishby (2017).

  Args:
    widths: the layer widths after the 12 inputs (the last one is the softmax output).
    activation: the hidden activation.

  Returns:
    The `RacecarChain` (every layer in the racecar loss).
  """
  specs = tuple(dense_spec(w, activation=activation) for w in widths[:-1]) + (
    dense_spec(widths[-1], activation="softmax"),
  )
  return RacecarChain(
    specs, kernel_init=nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
  )


def _vgg_specs(widths: Sequence[int], convs_per_stage: Sequence[int], norm: Optional[str] = "bn"):
  """3x3 conv (+ norm) + ReLU stages with a 2x2 max-pool before every stage but the first."""
  specs = []
  for s, (w, n) in enumerate(zip(widths, convs_per_stage)):
    for i in range(n):
      specs.append(conv_spec(w, 3, norm=norm, pool_before="max2" if (s > 0 and i == 0) else None))
  return tuple(specs)


def vgg_cifar(
  widths: Sequence[int] = (64, 128, 256, 512, 512),
  convs_per_stage: Sequence[int] = (2, 2, 3, 3, 3),
  num_classes: int = 10,
  hidden: int = 512,
) -> RacecarChain:
  """The CIFAR CNN (appendix C.2, '19 layers' with all 13 conv layers in the racecar loss): a
  VGG-16-style stack of 3x3 conv + BN + ReLU in 5 pooled stages plus an FC head (our reading of
  the lost table; max-pooling is reversed by nearest up-sampling).

  Args:
    widths: the width of each stage.
    convs_per_stage: conv layers per stage.
    num_classes: outputs of the head.
    hidden: width of the hidden FC layer.

  Returns:
    The `RacecarChain`.
  """
  return RacecarChain(
    _vgg_specs(widths, convs_per_stage), head=(hidden, num_classes), head_pool="max2_flatten"
  )


def texture_cnn(channels: Sequence[int] = (8, 16, 32), num_classes: int = 16) -> RacecarChain:
  """A small CNN for the texture-shape test (appendix D.1; our architecture): three strided conv
  layers + BN + ReLU, global average pooling, FC head.

  Args:
    channels: the three conv widths.
    num_classes: outputs of the head.

  Returns:
    The `RacecarChain`.
  """
  specs = tuple(
    conv_spec(ch, 5 if i == 0 else 3, strides=2, norm="bn") for i, ch in enumerate(channels)
  )
  return RacecarChain(specs, head=(num_classes,), head_pool="gap")


def tiny_vgg(
  widths: Sequence[int],
  convs_per_stage: Sequence[int],
  head_hidden: int,
  num_classes: int,
  norm: Optional[str] = "bn",
) -> RacecarChain:
  """A VGG-style stand-in for VGG19 (appendix D.3): 3x3 conv (+ BN) + ReLU stages with 2x2
  max-pools, global average pooling and an FC head (size-agnostic, so the same features serve any
  stylization size).

  Without BN the full reverse pass of a trained 6-conv ReLU stack multiplies the reconstruction
  scale layer by layer (L_racecar ~ 1e12 at the start of training in our runs); BN, whose
  reverse call renormalises every reverse tensor, keeps it well scaled, hence the default.

  Args:
    widths: the width of each stage.
    convs_per_stage: conv layers per stage.
    head_hidden: width of the hidden FC layer.
    num_classes: outputs of the head.
    norm: 'bn' or None.

  Returns:
    The `RacecarChain` (every conv in the racecar loss).
  """
  return RacecarChain(
    _vgg_specs(widths, convs_per_stage, norm), head=(head_hidden, num_classes), head_pool="gap"
  )


def sr_generator(
  channels: Sequence[int],
  factor: int,
  out_channels: int = 1,
  out_activation: Optional[str] = "relu",
) -> RacecarChain:
  """The super-resolution generator of the smoke test (appendix D.2; our architecture): conv ->
  (UP, conv) x log2(factor) -> conv to ``out_channels``, ReLU everywhere (non-negative densities);
  no BN, so its reverse pass is a plain chain of adjoints (up-sampling reversed by average pooling).

  Args:
    channels: log2(factor) + 1 conv widths.
    factor: the up-sampling factor (a power of 2).
    out_channels: channels of the output image.
    out_activation: activation of the output layer.

  Returns:
    The `RacecarChain`.

  Raises:
    ValueError: naming ``config.g_channels`` when the number of widths does not fit ``factor``.
  """
  ch = tuple(channels)
  n_up = int(np.log2(factor))
  if len(ch) != n_up + 1:
    raise ValueError(
      f"argument 'config.g_channels': expected {n_up + 1} widths for factor {factor}, got {len(ch)}"
    )
  specs = [conv_spec(ch[0], 3)]
  specs += [conv_spec(ch[i + 1], 3, pool_before="up2") for i in range(n_up)]
  specs += [conv_spec(out_channels, 3, activation=out_activation)]
  return RacecarChain(tuple(specs))
