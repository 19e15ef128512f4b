"""Residual networks with layer-wise racecar units.

The racecar paper trains ResNet-110 with the layer-wise loss (lRR, its eq. 9 and 25-26) because the
residual addition a = b + c is not a bijective connection that a single reverse pass could follow
(appendix A.2). Every conv (including 1x1 shortcut projections) is its own racecar unit: target = the
tensor x the conv consumes, source = its own biased output y = conv(x) + b, and reconstruction
x' = g(BN_prev(conv^T(y - b))), where BN_prev / g are the normalization / activation that produced x
(the reverse pass re-uses the BN and activation of the previous layer, eq. 23-24). In v1 that is the
stem's BN + ReLU for the first block's input, the ReLU after the residual addition for every later
block input and the first conv's BN + ReLU inside a block; in v2 the pre-activation BN + ReLU; identity
for the input image and for a raw residual sum. No reverse pass goes through the residual addition.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import flax.linen as nn
import jax

from rvl_jax.core import validation
from rvl_jax.racecar import ops
from rvl_jax.racecar.layers import RacecarBatchNorm, RacecarLinear, conv_spec
from rvl_jax.racecar.losses import reduce_sq


class RacecarResNet(nn.Module):
  """CIFAR ResNet, v1 (basic blocks, depth = 6n + 2; ResNet-110: n = 18, ~1.7 M parameters) or v2
  (pre-activation bottleneck blocks, depth = 9n + 2; Bansal et al.'s Keras script: n = 12).

  `__call__(x, train, racecar=False, include_shortcuts=True, output_activation=None,
  reverse_updates_bn_stats=False)` returns (logits, pairs) where pairs is a list of (target,
  reconstruction) of every racecar unit (empty when racecar is False). Each convolution is a
  racecar unit: its transpose maps its output back to its input, and the reconstruction passes
  through what produced that input (the previous BN + ReLU, the shift-by-one rule of the racecar
  paper, Sec. 3.2), so the layer-wise loss compares like with like.

  Attributes:
    version: 1 (basic blocks, He et al. 2016a) or 2 (pre-activation bottlenecks, He et al. 2016b).
    depth: Total depth: 6n + 2 for v1, 9n + 2 for v2.
    num_classes: Number of output logits.
    width: Channels of the stem and the first stage (doubled at each later stage in v1).
    use_bias: Whether the convolutions have biases.
    bn_momentum: Momentum of every batch norm (TF default 0.9).
    bn_epsilon: Epsilon of every batch norm (TF default 1e-3).

  Raises:
    ValueError: naming the field, for a version other than 1 or 2 or a depth that does not fit.
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
    return RacecarLinear(
      conv_spec(feats, (k, k), (s, s), "SAME", use_bias=self.use_bias),
      kernel_init=nn.initializers.he_normal(),
      name=name,
    )

  @nn.compact
  def __call__(
    self,
    x,
    train: bool = False,
    racecar: bool = False,
    include_shortcuts: bool = True,
    output_activation: Optional[str] = None,
    reverse_updates_bn_stats: bool = False,
  ):
    pairs: List[Tuple[Any, Any]] = []
    relu = jax.nn.relu
    out_act = ops.get_activation(output_activation)

    def unit(conv_mod, inp, y, producer: Callable):
      if racecar:
        pairs.append((inp, producer(conv_mod.reverse(y, inp.shape))))

    def bn_relu(bn):
      return lambda h: relu(
        bn(h, use_running_average=not train, update_stats=reverse_updates_bn_stats)
      )

    validation.check_in_choices("version", self.version, (1, 2))
    per_stage = 6 if self.version == 1 else 9  # 3 stages of n blocks of 2 (v1) or 3 (v2) convs
    if (self.depth - 2) % per_stage:
      raise ValueError(
        f"argument 'depth': ResNet v{self.version} needs depth = {per_stage}n + 2, got {self.depth}"
      )
    n = (self.depth - 2) // per_stage
    c0 = self._conv("stem", self.width, 3, 1)
    y = c0(x)
    unit(c0, x, y, out_act)
    if self.version == 1:
      bn0 = self._bn("stem_bn")
      h = relu(bn0(y, use_running_average=not train))
      block_in = bn_relu(bn0)  # what produced the block input: the stem's BN + ReLU ...
      for stage in range(3):
        feats = self.width * 2**stage
        for b in range(n):
          stride = 2 if (stage > 0 and b == 0) else 1
          pre = f"s{stage}b{b}_"
          inp = h
          c1, bn1 = self._conv(pre + "conv1", feats, 3, stride), self._bn(pre + "bn1")
          y1 = c1(inp)
          unit(c1, inp, y1, block_in)
          h1 = relu(bn1(y1, use_running_average=not train))
          c2, bn2 = self._conv(pre + "conv2", feats, 3, 1), self._bn(pre + "bn2")
          y2 = c2(h1)
          unit(c2, h1, y2, bn_relu(bn1))
          r = bn2(y2, use_running_average=not train)
          if stride != 1 or inp.shape[-1] != feats:
            cs = self._conv(pre + "proj", feats, 1, stride)
            sc = cs(inp)
            if include_shortcuts:
              unit(cs, inp, sc, block_in)
          else:
            sc = inp
          h = relu(r + sc)
          block_in = relu  # ... then the ReLU after each residual addition
      feat = ops.global_avg_pool(h)
    else:
      h = y
      fin = self.width
      for stage in range(3):
        # bottleneck widths of the Keras CIFAR script: fin -> fin -> fout with fout = 4 fin in stage 0
        # and 2 fin afterwards, where fin is the previous stage's fout
        fout = fin * (4 if stage == 0 else 2)
        for b in range(n):
          pre = f"s{stage}b{b}_"
          stride = 2 if (stage > 0 and b == 0) else 1
          bna, bnb, bnc = self._bn(pre + "bna"), self._bn(pre + "bnb"), self._bn(pre + "bnc")
          inp = h
          p = relu(bna(inp, use_running_average=not train))
          c1 = self._conv(pre + "conv1", fin, 1, stride)
          y1 = c1(p)
          unit(c1, p, y1, bn_relu(bna))
          p2 = relu(bnb(y1, use_running_average=not train))
          c2 = self._conv(pre + "conv2", fin, 3, 1)
          y2 = c2(p2)
          unit(c2, p2, y2, bn_relu(bnb))
          p3 = relu(bnc(y2, use_running_average=not train))
          c3 = self._conv(pre + "conv3", fout, 1, 1)
          y3 = c3(p3)
          unit(c3, p3, y3, bn_relu(bnc))
          if b == 0:
            cs = self._conv(pre + "proj", fout, 1, stride)
            # The very first block shares the stem's activation with its shortcut (the script's stem
            # is conv-BN-ReLU); every other projection reads the raw residual sum, which no
            # normalization or activation produced, so its reconstruction is the bare transpose.
            if stage == 0:
              sc_in, sc_producer = p, bn_relu(bna)
            else:
              sc_in, sc_producer = inp, ops.get_activation(None)
            sc = cs(sc_in)
            if include_shortcuts:
              unit(cs, sc_in, sc, sc_producer)
          else:
            sc = inp
          h = y3 + sc
        fin = fout
      bnf = self._bn("final_bn")
      feat = ops.global_avg_pool(relu(bnf(h, use_running_average=not train)))
    logits = nn.Dense(self.num_classes, name="head")(feat)
    return logits, pairs


def layerwise_pairs_loss(pairs, lam=1.0, reduction: str = "half_sum"):
  """The layer-wise racecar loss of a `RacecarResNet`.

  Args:
    pairs: (target, reconstruction) of every unit.
    lam: lambda (the same for every unit).
    reduction: see `losses.reduce_sq`.

  Returns:
    sum over units of lambda * reduce(x' - x).
  """
  return lam * sum(reduce_sq(r - t, reduction) for t, r in pairs)
