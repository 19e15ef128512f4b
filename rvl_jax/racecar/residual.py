"""Residual networks with layer-wise racecar units (spec sec. 3.7).

Every conv (including 1x1 shortcut projections) is its own racecar unit:
target = the tensor the conv consumes (x), source = its own biased output y = conv(x) + b, and
reconstruction x' = g(BN_prev(conv^T(y - b))) where BN_prev / g are the normalization / activation that
produced x (pre-activation BN+ReLU in v2 blocks; the ReLU after the residual addition in v1 blocks;
identity for the input image). No reverse pass goes through the residual addition.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvl_jax.racecar import ops
from rvl_jax.racecar.layers import RacecarBatchNorm, RacecarLinear, conv_spec


class _Unit:
  """Book-keeping of one layer-wise racecar unit collected during the forward pass."""


class RacecarResNet(nn.Module):
  """CIFAR ResNet, v1 (basic blocks, depth = 6n + 2; ResNet-110: n = 18, ~1.7 M parameters) or v2
  (pre-activation bottleneck blocks, depth = 9n + 2; Bansal et al.'s Keras script: n = 12).

  `__call__(x, train, racecar=False, include_shortcuts=True, output_activation=None)` returns
  (logits, pairs) where pairs is a list of (target, reconstruction) of every racecar unit (empty when
  racecar is False).
  """
  version: int = 1
  depth: int = 20
  num_classes: int = 10
  width: int = 16
  use_bias: bool = True
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-3

  def _bn(self, name):
    return RacecarBatchNorm(self.bn_momentum, self.bn_epsilon, name=name)

  def _conv(self, name, feats, k, s):
    return RacecarLinear(conv_spec(feats, (k, k), (s, s), 'SAME', use_bias=self.use_bias),
                         kernel_init=nn.initializers.he_normal(), name=name)

  @nn.compact
  def __call__(self, x, train: bool = False, racecar: bool = False, include_shortcuts: bool = True,
               output_activation: Optional[str] = None, reverse_updates_bn_stats: bool = False):
    pairs: List[Tuple[Any, Any]] = []
    relu = jax.nn.relu
    out_act = ops.get_activation(output_activation)

    def unit(conv_mod, inp, y, producer: Callable):
      if racecar:
        pairs.append((inp, producer(conv_mod.reverse(y, inp.shape))))

    def bn_relu(bn):
      return lambda h: relu(bn(h, use_running_average=not train, update_stats=reverse_updates_bn_stats))

    if self.version == 1:
      if (self.depth - 2) % 6:
        raise ValueError(f"argument 'depth': ResNet v1 needs depth = 6n + 2, got {self.depth}")
      n = (self.depth - 2) // 6
      c0 = self._conv('stem', self.width, 3, 1)
      y = c0(x)
      unit(c0, x, y, out_act)
      bn0 = self._bn('stem_bn')
      h = relu(bn0(y, use_running_average=not train))
      for stage in range(3):
        feats = self.width * 2 ** stage
        for b in range(n):
          stride = 2 if (stage > 0 and b == 0) else 1
          pre = f's{stage}b{b}_'
          inp = h
          c1, bn1 = self._conv(pre + 'conv1', feats, 3, stride), self._bn(pre + 'bn1')
          y1 = c1(inp)
          unit(c1, inp, y1, relu)             # block input = relu(add) (or stem relu)
          h1 = relu(bn1(y1, use_running_average=not train))
          c2, bn2 = self._conv(pre + 'conv2', feats, 3, 1), self._bn(pre + 'bn2')
          y2 = c2(h1)
          unit(c2, h1, y2, bn_relu(bn1))
          r = bn2(y2, use_running_average=not train)
          if stride != 1 or inp.shape[-1] != feats:
            cs = self._conv(pre + 'proj', feats, 1, stride)
            sc = cs(inp)
            if include_shortcuts:
              unit(cs, inp, sc, relu)
          else:
            sc = inp
          h = relu(r + sc)
      feat = ops.global_avg_pool(h)
    elif self.version == 2:
      if (self.depth - 2) % 9:
        raise ValueError(f"argument 'depth': ResNet v2 needs depth = 9n + 2, got {self.depth}")
      n = (self.depth - 2) // 9
      c0 = self._conv('stem', self.width, 3, 1)
      h = c0(x)
      unit(c0, x, h, out_act)
      cin = self.width
      for stage in range(3):
        for b in range(n):
          pre = f's{stage}b{b}_'
          if stage == 0:
            fin, fout = cin, cin * 4
            stride = 1
          else:
            fin, fout = cin * 2 ** stage, cin * 2 ** (stage + 2)
            stride = 2 if b == 0 else 1
          bna, bnb, bnc = self._bn(pre + 'bna'), self._bn(pre + 'bnb'), self._bn(pre + 'bnc')
          inp = h
          if stage == 0 and b == 0:
            # first block: the stem output is activated here (as in the Keras v2 script)
            p = relu(bna(inp, use_running_average=not train))
          else:
            p = relu(bna(inp, use_running_average=not train))
          c1 = self._conv(pre + 'conv1', fin, 1, stride)
          y1 = c1(p)
          unit(c1, p, y1, bn_relu(bna))
          p2 = relu(bnb(y1, use_running_average=not train))
          c2 = self._conv(pre + 'conv2', fin, 3, 1)
          y2 = c2(p2)
          unit(c2, p2, y2, bn_relu(bnb))
          p3 = relu(bnc(y2, use_running_average=not train))
          c3 = self._conv(pre + 'conv3', fout, 1, 1)
          y3 = c3(p3)
          unit(c3, p3, y3, bn_relu(bnc))
          if b == 0:
            cs = self._conv(pre + 'proj', fout, 1, stride)
            sc = cs(p)
            if include_shortcuts:
              unit(cs, p, sc, bn_relu(bna))
          else:
            sc = inp
          h = y3 + sc
      bnf = self._bn('final_bn')
      feat = ops.global_avg_pool(relu(bnf(h, use_running_average=not train)))
    else:
      raise ValueError(f"argument 'version': expected 1 or 2, got {self.version}")
    logits = nn.Dense(self.num_classes, name='head')(feat)
    return logits, pairs


def layerwise_pairs_loss(pairs, lam=1.0, reduction: str = 'half_sum'):
  """sum over units lambda * reduce(x' - x)."""
  from rvl_jax.racecar.losses import reduce_sq
  return lam * sum(reduce_sq(r - t, reduction) for t, r in pairs)
