"""Architectures of the racecar experiments (most tables are lost: see docs/racecar.md for the gap-fills)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from rvl_jax.racecar.layers import RacecarChain, conv_spec, dense_spec


def mnist_cnn(channels: Sequence[int] = (32, 64, 128), num_classes: int = 10) -> RacecarChain:
  """E5 [G]: C(5,c1)+BN+ReLU -> MP -> C(5,c2)+BN+ReLU -> MP -> C(3,c3)+BN+ReLU -> MP -> FC 10.
  The 3 conv layers are the racecar chain; the FC head is left out of the loss."""
  c1, c2, c3 = channels
  return RacecarChain((conv_spec(c1, 5, norm='bn'), conv_spec(c2, 5, norm='bn', pool_before='max2'),
                       conv_spec(c3, 3, norm='bn', pool_before='max2')),
                      head=(num_classes,), head_pool='max2_flatten')


def mi_mlp(widths: Sequence[int] = (10, 7, 5, 4, 3, 2), activation: str = 'tanh') -> RacecarChain:
  """E3 [G]: 12-10-7-5-4-3-2 tanh MLP with a softmax output (Shwartz-Ziv & Tishby widths)."""
  specs = tuple(dense_spec(w, activation=activation) for w in widths[:-1]) + \
      (dense_spec(widths[-1], activation='softmax'),)
  return RacecarChain(specs, kernel_init=nn.initializers.variance_scaling(1.0, 'fan_in', 'truncated_normal'))


def vgg_cifar(widths: Sequence[int] = (64, 128, 256, 512, 512), convs_per_stage: Sequence[int] = (2, 2, 3, 3, 3),
              num_classes: int = 10, hidden: int = 512) -> RacecarChain:
  """E6 [G]: VGG-16-style stack (13 conv 3x3 + BN + ReLU in 5 pooled stages) + FC head; every conv is
  in the racecar chain (max-pool reversed by nearest up-sampling)."""
  specs = []
  for s, (w, n) in enumerate(zip(widths, convs_per_stage)):
    for i in range(n):
      specs.append(conv_spec(w, 3, norm='bn', pool_before='max2' if (s > 0 and i == 0) else None))
  return RacecarChain(tuple(specs), head=(hidden, num_classes), head_pool='max2_flatten')


def texture_cnn(channels: Sequence[int] = (8, 16, 32), num_classes: int = 16) -> RacecarChain:
  """E8 [G]: a small CNN (3 strided conv layers + BN + ReLU, global average pooling, FC 16)."""
  specs = tuple(conv_spec(ch, 5 if i == 0 else 3, strides=2, norm='bn') for i, ch in enumerate(channels))
  return RacecarChain(specs, head=(num_classes,), head_pool='gap')
