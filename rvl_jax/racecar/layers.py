"""Racecar layers and chains (Flax linen).

Racecar numbering (Xie & Thuerey, Sec. 3 and appendix A.2): layer m = [optional 2x2 max-pool | optional nearest 2x up-sampling |
flatten] -> linear op A_m (dense / conv / deconv) -> + b_m -> optional BN_m -> activation f_m. Its output
d_{m+1} is the activated, pre-pool tensor; d_1 is the data.

The reverse of layer m (the "shift-by-one" rule of their eq. 23-24)::

    d'_m = UP_m( f_{m-1}( BN_{m-1}( A_m^T (z_{m+1} - b_m) ) ) )

with z_{m+1} = d'_{m+1} (full RR) or d_{m+1} (layer-wise lRR). Layer 1 uses the optional output
activation instead of BN_0/f_0. Max-pool is reversed by nearest 2x up-sampling, forward nearest
up-sampling by 2x2 average pooling, flatten by the inverse reshape. All transposes are explicit
(see :mod:`rvl_jax.racecar.ops`): the reverse pass shares every weight and adds no parameter.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from rvl_jax.core import validation
from rvl_jax.racecar import ops

KINDS = ("dense", "conv", "deconv")
POOLS = (None, "max2", "up2")


@dataclasses.dataclass(frozen=True)
class LayerSpec:
  """One racecar layer: optional pooling, a linear op A_m + b_m, optional BN, an activation.

  The forward pass computes d_{m+1} = f_m(BN_m(A_m P(d_m) + b_m)); the reverse pass re-uses the
  same A_m transposed (racecar paper, Sec. 3.1-3.3). A dense layer after a conv layer flattens its
  input automatically; ``reshape_before`` reshapes a flat input for a conv/deconv (dense -> conv
  generators); both are undone by the inverse reshape in the reverse pass.

  Attributes:
    kind: ``'dense'``, ``'conv'`` or ``'deconv'`` (transposed convolution).
    features: Output units (dense) or channels (conv/deconv).
    kernel_size: Conv/deconv kernel ``(kh, kw)``.
    strides: Conv/deconv strides.
    padding: ``'SAME'``, ``'VALID'`` or ``((lo, hi), (lo, hi))`` (conv/deconv only).
    dilation: Conv/deconv kernel dilation.
    output_spatial: Output ``(H, W)`` of a deconv; default ``input * stride`` for SAME.
    use_bias: Whether the layer has a bias b_m (subtracted before the transpose in reverse).
    norm: ``None`` or ``'bn'`` (:class:`RacecarBatchNorm` after the linear op).
    activation: ``None``, ``'relu'``, ``'tanh'``, ``'sigmoid'``, ``'lrelu'`` or ``'softmax'``.
    pool_before: ``None``, ``'max2'`` (2x2 max-pool, reversed by nearest up-sampling) or
      ``'up2'`` (nearest 2x up-sampling, reversed by 2x2 average pooling).
    reshape_before: ``(H, W, C)`` to reshape a flat input to before a conv/deconv.

  Raises:
    ValueError: naming the field, for an unknown kind, pooling, norm or activation.
  """

  kind: str = "dense"
  features: int = 10
  kernel_size: Tuple[int, int] = (3, 3)
  strides: Tuple[int, int] = (1, 1)
  padding: Any = "SAME"
  dilation: Tuple[int, int] = (1, 1)
  output_spatial: Optional[Tuple[int, int]] = None
  use_bias: bool = True
  norm: Optional[str] = None
  activation: Optional[str] = "relu"
  pool_before: Optional[str] = None
  reshape_before: Optional[Tuple[int, ...]] = None

  def __post_init__(self):
    validation.check_in_choices("kind", self.kind, KINDS)
    validation.check_in_choices("pool_before", self.pool_before, POOLS)
    validation.check_in_choices("norm", self.norm, (None, "bn"))
    ops.get_activation(self.activation)
    if isinstance(self.padding, list):
      object.__setattr__(self, "padding", tuple(tuple(p) for p in self.padding))


def dense_spec(features, activation="relu", norm=None, use_bias=True, pool_before=None):
  """A dense racecar layer.

  Args:
    features: output width.
    activation: activation name (see `ops.get_activation`).
    norm: None or 'bn'.
    use_bias: add a bias b_m.
    pool_before: None, 'max2' or 'up2' (applied to the layer's input).

  Returns:
    The `LayerSpec`.
  """
  return LayerSpec(
    "dense", features, norm=norm, activation=activation, use_bias=use_bias, pool_before=pool_before
  )


# The fields every racecar layer has, passed on by keyword by `conv_spec` / `deconv_spec`.
LAYER_FIELDS = ("activation", "norm", "use_bias", "pool_before")


def _spatial_spec(kind, features, kernel_size, strides, layer, **fields):
  for name in layer:
    validation.check_in_choices("**layer", name, LAYER_FIELDS)
  return LayerSpec(
    kind,
    features,
    kernel_size=tuple(ops._pair(kernel_size)),
    strides=tuple(ops._pair(strides)),
    **fields,
    **layer,
  )


def conv_spec(
  features, kernel_size=(3, 3), strides=(1, 1), padding="SAME", *, dilation=(1, 1), **layer
):
  """A conv racecar layer (NHWC, HWIO kernel); its reverse is the explicit transposed conv.

  Args:
    features: output channels.
    kernel_size: int or (kh, kw).
    strides: int or (sh, sw).
    padding: 'SAME', 'VALID' or explicit ((top, bottom), (left, right)).
    dilation: int or (dh, dw).
    **layer: the fields every racecar layer has (keywords, `LayerSpec` defaults):
      activation (activation name, 'relu'), norm (None or 'bn'), use_bias (add a bias b_m,
      True), pool_before (None, 'max2' or 'up2').

  Returns:
    The `LayerSpec`.

  Raises:
    ValueError: a keyword in ``layer`` that is not one of `LAYER_FIELDS`, or a bad field value.
  """
  dilation = tuple(ops._pair(dilation))
  return _spatial_spec(
    "conv", features, kernel_size, strides, layer, padding=padding, dilation=dilation
  )


def deconv_spec(
  features, kernel_size=(4, 4), strides=(2, 2), padding="SAME", *, output_spatial=None, **layer
):
  """A transposed-conv ("deconv") racecar layer; its reverse is the plain conv with the same kernel.

  Args:
    features: output channels.
    kernel_size: int or (kh, kw).
    strides: int or (sh, sw).
    padding: 'SAME' or 'VALID'.
    output_spatial: explicit output (H, W), or None for the padding's default.
    **layer: activation, norm, use_bias, pool_before, as for `conv_spec`.

  Returns:
    The `LayerSpec`.

  Raises:
    ValueError: a keyword in ``layer`` that is not one of `LAYER_FIELDS`, or a bad field value.
  """
  return _spatial_spec(
    "deconv",
    features,
    kernel_size,
    strides,
    layer,
    padding=padding,
    output_spatial=output_spatial,
  )


# ----------------------------------------------------------------------------------------------
# batch norm with an update_stats flag (sec. 3.5)
# ----------------------------------------------------------------------------------------------


class RacecarBatchNorm(nn.Module):
  """Batch norm exposing scale/bias and an `update_stats` flag (TF defaults: momentum 0.9, eps 1e-3).

  The forward call updates the running statistics; the reverse pass calls the same instance with the
  reverse tensor's own batch statistics and, by default, `update_stats=False` (reference parity:
  `reverse_updates_bn_stats=True`). Normalises over all axes but the last.

  Called as ``bn(x, use_running_average, update_stats=True)``: with ``use_running_average`` it
  normalises with the running mean/variance (evaluation); otherwise with the batch statistics,
  which also update the running ones when ``update_stats`` is True.

  Attributes:
    momentum: Decay of the running statistics (new = momentum * old + (1 - momentum) * batch).
    epsilon: Added to the variance before the square root.
  """

  momentum: float = 0.9
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x, use_running_average: bool, update_stats: bool = True):
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
    if use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x, axes)
      var = jnp.mean(jnp.square(x - mean), axes)
      if update_stats and not self.is_initializing():
        ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * jax.lax.stop_gradient(
          mean
        )
        ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * jax.lax.stop_gradient(
          var
        )
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


# ----------------------------------------------------------------------------------------------
# linear ops with their explicit transposes
# ----------------------------------------------------------------------------------------------


class RacecarLinear(nn.Module):
  """The linear op A_m + b_m of one racecar layer, with `forward` and explicit `reverse`.

  ``__call__(x)`` applies A_m x + b_m; :meth:`reverse` applies A_m^T (z - b_m) with the same
  parameters, written as an explicit transpose (transposed dense / conv / deconv), not through
  automatic differentiation.

  Attributes:
    spec: The layer's :class:`LayerSpec` (kind, features, kernel, strides, padding, bias).
    kernel_init: Initialiser of A_m (Glorot uniform by default, as the reference code).
    bias_init: Initialiser of b_m.
  """

  spec: LayerSpec
  kernel_init: Any = nn.initializers.glorot_uniform()
  bias_init: Any = nn.initializers.zeros

  def _params(self, in_shape):
    s = self.spec
    if s.kind == "dense":
      kshape = (int(in_shape[-1]), s.features)
    elif s.kind == "conv":
      kshape = tuple(s.kernel_size) + (int(in_shape[-1]), s.features)
    else:  # deconv: kernel laid out as the conv it is the transpose of: [kh, kw, C_out, C_in]
      kshape = tuple(s.kernel_size) + (s.features, int(in_shape[-1]))
    kernel = self.param("kernel", self.kernel_init, kshape)
    bias = self.param("bias", self.bias_init, (s.features,)) if s.use_bias else None
    return kernel, bias

  @nn.compact
  def __call__(self, x):
    s = self.spec
    kernel, bias = self._params(x.shape)
    if s.kind == "dense":
      return ops.dense(x, kernel, bias)
    if s.kind == "conv":
      return ops.conv(x, kernel, bias, strides=s.strides, padding=s.padding, dilation=s.dilation)
    return ops.deconv(
      x,
      kernel,
      bias,
      output_spatial=s.output_spatial,
      strides=s.strides,
      padding=s.padding,
      dilation=s.dilation,
    )

  def reverse(self, z, in_shape):
    """A_m^T (z - b_m), returning exactly `in_shape` (the stored forward input shape)."""
    s = self.spec
    p = self.variables["params"]  # shared weights, created by the forward call
    kernel, bias = p["kernel"], (p["bias"] if s.use_bias else None)
    if s.kind == "dense":
      return ops.dense_transpose(z, kernel, bias)
    if s.kind == "conv":
      return ops.conv_transpose(
        z,
        kernel,
        bias,
        input_shape=in_shape,
        strides=s.strides,
        padding=s.padding,
        dilation=s.dilation,
      )
    out = ops.deconv_transpose(
      z, kernel, bias, strides=s.strides, padding=s.padding, dilation=s.dilation
    )
    if out.shape != tuple(in_shape):
      raise ValueError(f"deconv reverse: expected shape {tuple(in_shape)}, got {out.shape}")
    return out


@dataclasses.dataclass(frozen=True)
class ReverseConfig:
  """How the reverse pass is run (racecar paper, Sec. 3.2-3.4).

  Attributes:
    variant: ``'full'`` (RR: the chain d'_{m+1} -> d'_m from the top), ``'layerwise'`` (lRR: each
      layer reconstructed from the forward d_{m+1}) or ``'rr1'`` (the full chain, of which the
      loss uses only the input term).
    output_activation: Optional activation on d'_1 (the paper's ReLU for non-negative images).
    source: ``'activated'`` (start from d_{n+1}, default) or ``'linear'`` (start from the last
      layer's biased linear output, e.g. logits before a softmax activation).
    reverse_updates_bn_stats: Reference-code parity: the reverse BN call also updates the running
      statistics.

  Raises:
    ValueError: naming the field, for an unknown variant, source or activation.
  """

  variant: str = "full"
  output_activation: Optional[str] = None
  source: str = "activated"
  reverse_updates_bn_stats: bool = False

  def __post_init__(self):
    validation.check_in_choices("variant", self.variant, ("full", "layerwise", "rr1"))
    validation.check_in_choices("source", self.source, ("activated", "linear"))
    ops.get_activation(self.output_activation)


@dataclasses.dataclass
class ChainOutput:
  """What :class:`RacecarChain` returns (a pytree, so it passes through ``jit``).

  Attributes:
    out: Task output: the head's logits when the chain has a head, else d_{n+1}.
    ds: Forward activations ``[d_1, ..., d_{n+1}]`` (d_1 is the input).
    recons: Reverse-pass reconstructions ``[d'_1, ..., d'_n]``; empty when no reverse pass was
      requested.
    linear_out: The last layer's biased linear output (before BN and activation).
  """

  out: Any
  ds: list
  recons: list
  linear_out: Any = None


jax.tree_util.register_pytree_node(
  ChainOutput,
  lambda c: ((c.out, c.ds, c.recons, c.linear_out), None),
  lambda _, ch: ChainOutput(*ch),
)


class RacecarChain(nn.Module):
  """A chain of racecar layers plus an optional unconstrained head.

  `__call__(x, train, reverse=None)` runs the forward pass and, if a :class:`ReverseConfig` is given,
  the reverse pass in the same apply (so BN modules are shared), returning a :class:`ChainOutput`.
  Layers are named ``layer1..layerN`` (BN ``bn1..bnN``), the head ``head0..``.

  Attributes:
    layers: The :class:`LayerSpec` of each racecar layer, input to output.
    head: Dense widths of the unconstrained classifier head (the last has no activation); empty
      for no head (the output is then d_{n+1}).
    head_pool: ``'flatten'``, ``'max2_flatten'`` or ``'gap'`` applied to d_{n+1} before the head.
    head_activation: Activation between the head's dense layers.
    bn_momentum: Momentum of every :class:`RacecarBatchNorm` (TF default 0.9).
    bn_epsilon: Epsilon of every :class:`RacecarBatchNorm` (TF default 1e-3).
    kernel_init: Initialiser of every kernel (racecar layers and head).
  """

  layers: Sequence[LayerSpec]
  head: Sequence[int] = ()
  head_pool: str = "flatten"
  head_activation: str = "relu"
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-3
  kernel_init: Any = nn.initializers.glorot_uniform()

  def setup(self):
    self.linears = [
      RacecarLinear(s, kernel_init=self.kernel_init, name=f"layer{i + 1}")
      for i, s in enumerate(self.layers)
    ]
    self.norms = [
      RacecarBatchNorm(self.bn_momentum, self.bn_epsilon, name=f"bn{i + 1}")
      if s.norm == "bn"
      else None
      for i, s in enumerate(self.layers)
    ]
    self.head_layers = [
      nn.Dense(f, kernel_init=self.kernel_init, name=f"head{j}") for j, f in enumerate(self.head)
    ]

  def _pre(self, i, x):
    """Pre-op of layer i: pooling / up-sampling, then flatten for dense layers.
    Returns (pooled, linear-op input)."""
    s = self.layers[i]
    if s.pool_before == "max2":
      x = ops.max_pool2(x)
    elif s.pool_before == "up2":
      x = ops.upsample_nearest2(x)
    pooled = x
    if s.reshape_before is not None:
      x = x.reshape((x.shape[0],) + tuple(s.reshape_before))
    if s.kind == "dense" and x.ndim > 2:
      x = ops.flatten(x)
    return pooled, x

  def _post(self, i, h, train, update_stats=True):
    s = self.layers[i]
    if s.norm == "bn":
      h = self.norms[i](h, use_running_average=not train, update_stats=update_stats)
    return ops.get_activation(s.activation)(h)

  def reverse_layer(self, i, z, shapes, train, cfg: ReverseConfig):
    """d'_i from z_{i+1} (0-based i). shapes = (d_i shape, pooled shape, linear-op input shape)."""
    s = self.layers[i]
    d_shape, pooled_shape, pre_shape = shapes
    h = self.linears[i].reverse(z, pre_shape)  # A^T (z - b)
    if h.shape != tuple(pooled_shape):  # inverse of flatten / reshape
      h = h.reshape(tuple(pooled_shape))
    if i == 0:  # d'_1: optional output activation
      h = ops.get_activation(cfg.output_activation)(h)
    else:  # shift-by-one: BN_{m-1}, f_{m-1}
      h = self._post(i - 1, h, train, update_stats=cfg.reverse_updates_bn_stats)
    if s.pool_before == "max2":  # max-pool <-> nearest UP
      h = ops.upsample_nearest2(h, d_shape[1:3])
    elif s.pool_before == "up2":  # nearest UP <-> average pooling
      h = ops.avg_pool2(h)
    return h

  def __call__(self, x, train: bool = False, reverse: Optional[ReverseConfig] = None):
    ds, shapes, lins = [x], [], []
    h = x
    for i in range(len(self.layers)):
      pooled, p = self._pre(i, h)
      shapes.append((h.shape, pooled.shape, p.shape))
      lin = self.linears[i](p)
      lins.append(lin)
      h = self._post(i, lin, train)
      ds.append(h)
    feats = h
    if self.head:
      if self.head_pool == "gap":
        feats = ops.global_avg_pool(feats)
      elif self.head_pool == "max2_flatten":
        feats = ops.flatten(ops.max_pool2(feats))
      else:
        feats = feats.reshape(feats.shape[0], -1)
      for j, layer in enumerate(self.head_layers):
        feats = layer(feats)
        if j < len(self.head_layers) - 1:
          feats = ops.get_activation(self.head_activation)(feats)
    recons = []
    if reverse is not None:
      n = len(self.layers)
      recons = [None] * n
      top = lins[-1] if reverse.source == "linear" else ds[n]
      z = top
      for i in reversed(range(n)):
        if reverse.variant == "layerwise":
          z = top if i == n - 1 else ds[i + 1]
        recons[i] = self.reverse_layer(i, z, shapes[i], train, reverse)
        z = recons[i]
    return ChainOutput(feats if self.head else h, ds, recons, lins[-1])

  def reverse_from(
    self,
    z,
    input_shape: Sequence[int],
    train: bool = False,
    reverse: Optional[ReverseConfig] = None,
  ):
    """Full reverse pass from an arbitrary top tensor z (the shape of d_{n+1}) down to d'_1 of
    shape `input_shape` (batch included): the chain's reverse pass used as a network of its own,
    e.g. the encoder of an autoencoder whose decoder is the chain (the racecar paper's autoencoder
    experiment, Xie & Thuerey, section 5 and appendix D.2; the encoder's weights then start as the
    generator's reverse-pass weights). The shapes come from an eval-mode forward pass on zeros,
    which only fixes the static shapes (and creates the parameters under `init`); no statistics
    are updated."""
    cfg = reverse or ReverseConfig()
    h = jnp.zeros(tuple(input_shape), z.dtype)
    shapes = []
    for i in range(len(self.layers)):
      pooled, p = self._pre(i, h)
      shapes.append((h.shape, pooled.shape, p.shape))
      h = self._post(i, self.linears[i](p), False)
    if tuple(z.shape) != tuple(h.shape):
      raise ValueError(
        f"argument 'z': expected the chain's output shape {tuple(h.shape)}, got {tuple(z.shape)}"
      )
    for i in reversed(range(len(self.layers))):
      z = self.reverse_layer(i, z, shapes[i], train, cfg)
    return z


def count_params(params) -> int:
  """Number of parameters of a params tree.

  Args:
    params: a pytree of arrays (kernels, biases, BN scale/bias).

  Returns:
    The total number of elements.
  """
  return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
