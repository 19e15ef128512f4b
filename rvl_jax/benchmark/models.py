"""Supervised architectures of the benchmark (Schott et al. 2022, Sec. 3.2 and App. H.4), Flax
linen, NHWC inputs in [0, 1].

Every model maps images (B, 64, 64, C) to (B, n_factors) regressed factors. Models with
BatchNorm (DenseNet) take ``train: bool``; all others accept and ignore it.

* :class:`CNN` -- the disentanglement_lib encoder (reference ``VanillaCNN``).
* :class:`MLP` -- 90-90-90-90-45-n.
* :class:`CoordConv` -- coordinate channels + 3x3 convs (a reconstruction: the paper gives no layer
details).
* :class:`SetEncoder` -- the coordinate-based (pixel-set) model.
* :class:`RotEqCNN` -- the CNN with group convolutions: C4 exact (filters rotated by rot90),
  C8 approximate (filters rotated by bilinear interpolation); replaces e2cnn's steerable C8.
* :class:`STN` -- spatial transformer in front of the CNN.
* :class:`BiTResNet` -- BiT ResNet-v2 (GroupNorm + weight standardisation), R50x1 / R101x3.
* :class:`DenseNet` -- torchvision-style DenseNet-121.

``torch_init=True`` (CNN, MLP, CoordConv, SetEncoder, STN, RotEqCNN) uses PyTorch's default
initialisation (weights and biases ~ U(+-1/sqrt(fan_in))) for parity experiments.
"""

from __future__ import annotations

import functools
import math
from typing import Mapping, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation


# ----------------------------------------------------------------------------- initialisers
def _torch_uniform(fan_in: int):
  bound = 1.0 / math.sqrt(max(fan_in, 1))
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def _dense(x, features, torch_init, name=None, **kw):
  if torch_init:
    fi = x.shape[-1]
    kw = dict(kernel_init=_torch_uniform(fi), bias_init=_torch_uniform(fi), **kw)
  return nn.Dense(features, name=name, **kw)(x)


def _conv(x, features, kernel, stride=1, padding="VALID", torch_init=False, name=None):
  if isinstance(padding, int):
    padding = ((padding, padding), (padding, padding))
  kw = {}
  if torch_init:
    fi = kernel * kernel * x.shape[-1]
    kw = dict(kernel_init=_torch_uniform(fi), bias_init=_torch_uniform(fi))
  return nn.Conv(features, (kernel, kernel), (stride, stride), padding=padding, name=name, **kw)(x)


# ----------------------------------------------------------------------------- CNN / MLP
class CNN(nn.Module):
  """Conv(32,4,2,1)-Conv(32,4,2,1)-Conv(64,4,2,1)-Conv(64,4,2,1)-Conv(256,4,1,0)-Dense(n)."""

  num_outputs: int
  torch_init: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False, return_features: bool = False):
    for i, c in enumerate((32, 32, 64, 64)):
      x = nn.relu(_conv(x, c, 4, 2, 1, self.torch_init, name=f"conv{i}"))
    x = nn.relu(_conv(x, 256, 4, 1, 0, self.torch_init, name="conv4"))
    x = x.reshape(x.shape[0], -1)
    if return_features:
      return x
    return _dense(x, self.num_outputs, self.torch_init, name="head")


class MLP(nn.Module):
  """flatten -> 90 -> 90 -> 90 -> 90 -> 45 -> n (ReLU between)."""

  num_outputs: int
  widths: Sequence[int] = (90, 90, 90, 90, 45)
  torch_init: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.reshape(x.shape[0], -1)
    for w in self.widths:
      x = nn.relu(_dense(x, w, self.torch_init))
    return _dense(x, self.num_outputs, self.torch_init)


def add_coords(x):
  """Append two coordinate channels (row i and column j, normalised to [-1, 1])."""
  b, h, w, _ = x.shape
  i = jnp.linspace(-1.0, 1.0, h)
  j = jnp.linspace(-1.0, 1.0, w)
  ii, jj = jnp.meshgrid(i, j, indexing="ij")
  coords = jnp.broadcast_to(jnp.stack([ii, jj], -1)[None], (b, h, w, 2)).astype(x.dtype)
  return jnp.concatenate([x, coords], -1)


class CoordConv(nn.Module):
  """CoordConv(16, 3x3, SAME) then 5 x [ReLU, Conv(16, 3x3, stride 2)], MaxPool 2, Dense(32), Dense(n).

  Kernel sizes/strides are not given in the paper; this is a reconstruction.
  """

  num_outputs: int
  channels: int = 16
  torch_init: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = _conv(add_coords(x), self.channels, 3, 1, 1, self.torch_init)
    for _ in range(5):
      x = _conv(nn.relu(x), self.channels, 3, 2, 1, self.torch_init)
    x = nn.max_pool(x, (2, 2), (2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(_dense(x, 32, self.torch_init))
    return _dense(x, self.num_outputs, self.torch_init)


class SetEncoder(nn.Module):
  """Coordinate-based model: per-pixel tokens (i/63, j/63, pixel) -> MLP 40-40-20 -> mean -> 20-20-n."""

  num_outputs: int
  torch_init: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    b, h, w, c = x.shape
    ii, jj = jnp.meshgrid(jnp.arange(h) / (h - 1), jnp.arange(w) / (w - 1), indexing="ij")
    coords = jnp.broadcast_to(jnp.stack([ii, jj], -1)[None], (b, h, w, 2)).astype(x.dtype)
    tokens = jnp.concatenate([coords, x], -1).reshape(b, h * w, c + 2)
    for width in (40, 40, 20):
      tokens = nn.relu(_dense(tokens, width, self.torch_init))
    pooled = tokens.mean(axis=1)
    pooled = nn.relu(_dense(pooled, 20, self.torch_init))
    pooled = nn.relu(_dense(pooled, 20, self.torch_init))
    return _dense(pooled, self.num_outputs, self.torch_init)


# ----------------------------------------------------------------------------- rotation-equivariant CNN
def _rotation_matrix_bilinear(k: int, angle: float) -> np.ndarray:
  """(k*k, k*k) matrix M with vec(rotated filter) = M @ vec(filter) (bilinear, about the centre)."""
  c = (k - 1) / 2.0
  m = np.zeros((k * k, k * k))
  cos, sin = math.cos(angle), math.sin(angle)
  for r in range(k):
    for s in range(k):
      # Sample the source filter at the inversely rotated position.
      y, x = r - c, s - c
      sy = cos * y + sin * x + c
      sx = -sin * y + cos * x + c
      y0, x0 = math.floor(sy), math.floor(sx)
      for dy in (0, 1):
        for dx in (0, 1):
          yy, xx = y0 + dy, x0 + dx
          wgt = (1 - abs(sy - yy)) * (1 - abs(sx - xx))
          if 0 <= yy < k and 0 <= xx < k and wgt > 0:
            m[r * k + s, yy * k + xx] += wgt
  return m


def rotate_filters(w, r: int, group: int):
  """Rotate a (k, k, ...) filter bank by r * 360/group degrees (exact rot90 for group 4)."""
  if group == 4 or (r * 4) % group == 0:
    return jnp.rot90(w, k=(r * 4) // group if group != 4 else r, axes=(0, 1))
  k = w.shape[0]
  mat = jnp.asarray(_rotation_matrix_bilinear(k, 2 * math.pi * r / group), w.dtype)
  flat = w.reshape(k * k, -1)
  return (mat @ flat).reshape(w.shape)


class GroupConv(nn.Module):
  """Lifting (``lifting=True``) or group convolution for the rotation group C_G.

  Input channels of a group layer are arranged (fields, G) (field-major); output (features, G).
  One bias per output field keeps the layer equivariant.
  """

  features: int
  kernel: int
  stride: int
  padding: int
  group: int = 4
  lifting: bool = False
  torch_init: bool = False

  @nn.compact
  def __call__(self, x):
    g, k = self.group, self.kernel
    cin = x.shape[-1]
    if self.lifting:
      shape = (k, k, cin, self.features)
      fan_in = k * k * cin
    else:
      shape = (k, k, cin // g, g, self.features)
      fan_in = k * k * cin
    init = (
      _torch_uniform(fan_in)
      if self.torch_init
      else nn.initializers.variance_scaling(
        1.0, "fan_in", "truncated_normal", in_axis=tuple(range(len(shape) - 1)), out_axis=-1
      )
    )
    w = self.param("kernel", init, shape)
    b = self.param(
      "bias", _torch_uniform(fan_in) if self.torch_init else nn.initializers.zeros, (self.features,)
    )
    kernels = []
    for r in range(g):
      if self.lifting:
        kr = rotate_filters(w, r, g)  # (k,k,cin,F)
      else:
        kr = rotate_filters(jnp.roll(w, r, axis=3), r, g)  # (k,k,cin/g,g,F)
        kr = kr.reshape(k, k, cin, self.features)
      kernels.append(kr)
    kernel = jnp.stack(kernels, axis=-1).reshape(k, k, cin, self.features * g)
    pad = ((self.padding, self.padding), (self.padding, self.padding))
    y = jax.lax.conv_general_dilated(
      x, kernel, (self.stride, self.stride), pad, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + jnp.repeat(b, g)


class RotEqCNN(nn.Module):
  """The CNN with C_G group convolutions (``group`` 4: exact, 8: approximate filter rotation).

  ``big=False`` divides the CNN's channel counts by G (same compute as the CNN, the paper's
  Rotation-EQ); ``big=True`` keeps them (Rotation-EQ-big). ``group_pool=False`` (default)
  flattens all group channels before the linear head, so orientation stays predictable.
  """

  num_outputs: int
  group: int = 4
  big: bool = False
  group_pool: bool = False
  torch_init: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False, return_features: bool = False):
    div = 1 if self.big else self.group
    chans = [max(c // div, 1) for c in (32, 32, 64, 64, 256)]
    specs = [(4, 2, 1)] * 4 + [(4, 1, 0)]
    for i, (c, (k, s, p)) in enumerate(zip(chans, specs)):
      x = nn.relu(
        GroupConv(
          c, k, s, p, self.group, lifting=(i == 0), torch_init=self.torch_init, name=f"gconv{i}"
        )(x)
      )
    if self.group_pool:
      x = x.reshape(x.shape[:-1] + (-1, self.group)).mean(-1)
    x = x.reshape(x.shape[0], -1)
    if return_features:
      return x
    return _dense(x, self.num_outputs, self.torch_init, name="head")


# ----------------------------------------------------------------------------- spatial transformer
def affine_grid_sample(images, theta):
  """Bilinear sampling of NHWC images on the affine grid of (B, 2, 3) ``theta``.

  Matches torch ``affine_grid`` + ``grid_sample`` with align_corners=False and zero padding.
  """
  b, h, w, c = images.shape
  xs = (2.0 * jnp.arange(w) + 1.0) / w - 1.0
  ys = (2.0 * jnp.arange(h) + 1.0) / h - 1.0
  gy, gx = jnp.meshgrid(ys, xs, indexing="ij")
  base = jnp.stack([gx, gy, jnp.ones_like(gx)], -1).reshape(-1, 3)  # (HW, 3)

  def sample(img, th):
    src = base @ th.T  # (HW, 2): x, y
    ix = ((src[:, 0] + 1.0) * w - 1.0) / 2.0
    iy = ((src[:, 1] + 1.0) * h - 1.0) / 2.0
    x0, y0 = jnp.floor(ix), jnp.floor(iy)
    out = 0.0
    for dx in (0, 1):
      for dy in (0, 1):
        xx, yy = x0 + dx, y0 + dy
        wgt = (1.0 - jnp.abs(ix - xx)) * (1.0 - jnp.abs(iy - yy))
        valid = (xx >= 0) & (xx <= w - 1) & (yy >= 0) & (yy <= h - 1)
        xi = jnp.clip(xx, 0, w - 1).astype(jnp.int32)
        yi = jnp.clip(yy, 0, h - 1).astype(jnp.int32)
        out = out + img[yi, xi] * (wgt * valid)[:, None]
    return out.reshape(h, w, c)

  return jax.vmap(sample)(images, theta)


class STN(nn.Module):
  """Localisation net (8-10-10 convs, 90 -> 32 -> 6, identity init) + affine warp + CNN."""

  num_outputs: int
  torch_init: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    t = x
    for c, k in ((8, 7), (10, 5), (10, 6)):
      t = nn.relu(nn.max_pool(_conv(t, c, k, 1, 0, self.torch_init), (2, 2), (2, 2)))
    t = t.reshape(t.shape[0], -1)
    t = nn.relu(_dense(t, 32, self.torch_init))
    theta = nn.Dense(
      6,
      kernel_init=nn.initializers.zeros,
      bias_init=lambda *_: jnp.array([1.0, 0, 0, 0, 1.0, 0]),
      name="loc_out",
    )(t)
    warped = affine_grid_sample(x, theta.reshape(-1, 2, 3))
    return CNN(self.num_outputs, self.torch_init, name="cnn")(warped)


# ----------------------------------------------------------------------------- BiT ResNet-v2
class StdConv(nn.Conv):
  """Convolution with weight standardisation (BiT)."""

  def param(self, name, *args, **kwargs):
    p = super().param(name, *args, **kwargs)
    if name == "kernel":
      mean = jnp.mean(p, axis=(0, 1, 2), keepdims=True)
      var = jnp.var(p, axis=(0, 1, 2), keepdims=True)
      p = (p - mean) / jnp.sqrt(var + 1e-10)
    return p


class BiTUnit(nn.Module):
  """Pre-activation bottleneck unit; sub-module names follow the BiT checkpoint layout."""

  mid: int
  stride: int = 1

  @nn.compact
  def __call__(self, x):
    out_ch = 4 * self.mid
    gn = lambda name: nn.GroupNorm(32, epsilon=1e-5, name=name)
    conv = lambda f, k, s, name: StdConv(
      f, (k, k), (s, s), padding=[(k // 2, k // 2)] * 2, use_bias=False, name=name
    )
    out = nn.relu(gn("a_group_norm")(x))
    residual = x
    if x.shape[-1] != out_ch or self.stride != 1:
      residual = conv(out_ch, 1, self.stride, "a_proj")(out)
    out = conv(self.mid, 1, 1, "a_conv")(out)
    out = conv(self.mid, 3, self.stride, "b_conv")(nn.relu(gn("b_group_norm")(out)))
    out = conv(out_ch, 1, 1, "c_conv")(nn.relu(gn("c_group_norm")(out)))
    return out + residual


# The input scaling each family of pretrained weights expects of [0, 1] images: 'bit' to [-1, 1]
# (the BiT checkpoints), 'imagenet' the torchvision ImageNet mean/std.
_INPUT_NORMS = {
  "bit": lambda x: x * 2.0 - 1.0,
  "imagenet": lambda x: (x - jnp.array([0.485, 0.456, 0.406])) / jnp.array([0.229, 0.224, 0.225]),
}


def pretrained_input(x, input_norm: str):
  """[0, 1] images (N, H, W, C) as pretrained weights expect them: 1-channel inputs repeated to 3
  channels, then the scaling ``input_norm`` of ``_INPUT_NORMS`` (any other value: unscaled)."""
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  norm = _INPUT_NORMS.get(input_norm)
  return x if norm is None else norm(x)


class BiTResNet(nn.Module):
  """BiT ResNet-v2: ``block_units`` (3,4,6,3) = R50, (3,4,23,3) = R101; ``width`` 1 or 3.

  ``input_norm='bit'`` maps [0, 1] inputs to [-1, 1] as the BiT checkpoints expect; 1-channel
  inputs are repeated to 3 channels. The head is zero-initialised (as in BiT fine-tuning).
  """

  num_outputs: int
  block_units: Sequence[int] = (3, 4, 6, 3)
  width: int = 1
  input_norm: str = "bit"

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = pretrained_input(x, self.input_norm)
    wf = self.width
    x = StdConv(
      64 * wf, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], use_bias=False, name="root_conv"
    )(x)
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    x = nn.max_pool(x, (3, 3), (2, 2))
    for bi, units in enumerate(self.block_units):
      for ui in range(units):
        stride = 2 if (bi > 0 and ui == 0) else 1
        x = BiTUnit(64 * wf * 2**bi, stride, name=f"block{bi + 1}_unit{ui + 1:02d}")(x)
    x = nn.relu(nn.GroupNorm(32, epsilon=1e-5, name="pre_head_group_norm")(x))
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_outputs, kernel_init=nn.initializers.zeros, name="head")(x)


def bit_resnet50(num_outputs, **kw):
  return BiTResNet(num_outputs, (3, 4, 6, 3), 1, **kw)


def bit_resnet101(num_outputs, width=3, **kw):
  return BiTResNet(num_outputs, (3, 4, 23, 3), width, **kw)


def load_bit_npz(path, params, prefix: str = "resnet/"):
  """Fill BiTResNet params from an official BiT ``.npz`` checkpoint (TF HWIO kernels); ``path``
  may also be the checkpoint's arrays already read (a name -> array mapping).

  The head is kept (freshly initialised): the checkpoint's classifier is replaced by Dense(n).
  Raises KeyError naming the first missing checkpoint entry.
  """
  w = path if isinstance(path, Mapping) else np.load(path)
  conv = "standardized_conv2d/kernel"
  p = jax.tree_util.tree_map(
    np.asarray, flax.core.unfreeze(params) if hasattr(params, "unfreeze") else params
  )
  p = jax.tree_util.tree_map(lambda a: a, dict(p))
  p["root_conv"]["kernel"] = w[f"{prefix}root_block/{conv}"]
  for name, sub in p.items():
    if not name.startswith("block"):
      continue
    blk, unit = name.split("_")
    pre = f"{prefix}{blk}/{unit}/"
    for part in ("a", "b", "c"):
      sub[f"{part}_conv"]["kernel"] = w[f"{pre}{part}/{conv}"]
      sub[f"{part}_group_norm"]["scale"] = w[f"{pre}{part}/group_norm/gamma"].reshape(-1)
      sub[f"{part}_group_norm"]["bias"] = w[f"{pre}{part}/group_norm/beta"].reshape(-1)
    if "a_proj" in sub:
      sub["a_proj"]["kernel"] = w[f"{pre}a/proj/{conv}"]
  p["pre_head_group_norm"]["scale"] = w[f"{prefix}group_norm/gamma"].reshape(-1)
  p["pre_head_group_norm"]["bias"] = w[f"{prefix}group_norm/beta"].reshape(-1)
  return jax.tree_util.tree_map(jnp.asarray, p)


# ----------------------------------------------------------------------------- DenseNet-121
class _DenseLayer(nn.Module):
  growth: int
  bn_size: int

  @nn.compact
  def __call__(self, x, train):
    bn = lambda name: nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name
    )
    y = nn.Conv(self.bn_size * self.growth, (1, 1), use_bias=False, name="conv1")(
      nn.relu(bn("norm1")(x))
    )
    y = nn.Conv(self.growth, (3, 3), padding=[(1, 1), (1, 1)], use_bias=False, name="conv2")(
      nn.relu(bn("norm2")(y))
    )
    return jnp.concatenate([x, y], -1)


class DenseNet(nn.Module):
  """torchvision DenseNet (default 121: growth 32, blocks 6-12-24-16, 64 initial features).

  ``input_norm='imagenet'`` applies the ImageNet mean/std the torchvision checkpoints expect;
  1-channel inputs are repeated to 3 channels. Sub-module names follow torchvision's.
  """

  num_outputs: int
  growth: int = 32
  block_config: Sequence[int] = (6, 12, 24, 16)
  init_features: int = 64
  bn_size: int = 4
  input_norm: str = "imagenet"

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = pretrained_input(x, self.input_norm)
    bn = lambda name: nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name
    )
    x = nn.Conv(
      self.init_features, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], use_bias=False, name="conv0"
    )(x)
    x = nn.relu(bn("norm0")(x))
    x = nn.max_pool(x, (3, 3), (2, 2), padding=[(1, 1), (1, 1)])
    for bi, n_layers in enumerate(self.block_config):
      for li in range(n_layers):
        x = _DenseLayer(self.growth, self.bn_size, name=f"denseblock{bi + 1}_denselayer{li + 1}")(
          x, train
        )
      if bi != len(self.block_config) - 1:
        x = nn.relu(bn(f"transition{bi + 1}_norm")(x))
        x = nn.Conv(x.shape[-1] // 2, (1, 1), use_bias=False, name=f"transition{bi + 1}_conv")(x)
        x = nn.avg_pool(x, (2, 2), (2, 2))
    x = nn.relu(bn("norm5")(x))
    x = x.mean(axis=(1, 2))
    return nn.Dense(self.num_outputs, name="classifier")(x)


def densenet121(num_outputs, **kw):
  return DenseNet(num_outputs, **kw)


def load_torchvision_densenet(state_dict, variables):
  """Fill DenseNet variables from a torchvision state dict (name -> numpy array, e.g. an npz
  written with ``np.savez(path, **{k: v.numpy() for k, v in sd.items()})``).

  Conv weights OIHW -> HWIO; BatchNorm weight/bias -> scale/bias, running stats -> batch_stats.
  The classifier is kept freshly initialised. Returns new variables {'params', 'batch_stats'}.
  """
  sd = {k.replace("features.", ""): np.asarray(v) for k, v in dict(state_dict).items()}
  sd = {
    k.replace(".denselayer", "_denselayer").replace("transition", "transition"): v
    for k, v in sd.items()
  }
  params = jax.tree_util.tree_map(np.asarray, dict(variables["params"]))
  stats = jax.tree_util.tree_map(np.asarray, dict(variables["batch_stats"]))
  params = {k: dict(v) for k, v in params.items()}
  stats = {k: dict(v) for k, v in stats.items()}

  def torch_name(flax_name):
    # denseblock1_denselayer3 -> denseblock1_denselayer3 ; transition1_norm -> transition1.norm
    return (
      flax_name.replace("transition1_", "transition1.")
      .replace("transition2_", "transition2.")
      .replace("transition3_", "transition3.")
    )

  def sub_items(tree):
    for name, sub in tree.items():
      if "denselayer" in name:
        for inner, leaf in sub.items():
          yield f"{name}.{inner}", leaf, (name, inner)
      else:
        yield name, sub, (name, None)

  for tname, leaf, (outer, inner) in list(sub_items(params)):
    key = torch_name(tname)
    if outer == "classifier":
      continue
    tgt = params[outer] if inner is None else params[outer][inner]
    if "kernel" in tgt:
      tgt["kernel"] = np.transpose(sd[f"{key}.weight"], (2, 3, 1, 0))
    else:
      tgt["scale"] = sd[f"{key}.weight"]
      tgt["bias"] = sd[f"{key}.bias"]
      st = stats[outer] if inner is None else stats[outer][inner]
      st["mean"] = sd[f"{key}.running_mean"]
      st["var"] = sd[f"{key}.running_var"]
  return {
    "params": jax.tree_util.tree_map(jnp.asarray, params),
    "batch_stats": jax.tree_util.tree_map(jnp.asarray, stats),
  }


def load_torch_cnn(state_dict, params):
  """Fill :class:`CNN` params from the reference PyTorch VanillaCNN state dict
  (numpy arrays; conv OIHW -> HWIO, linear weights transposed). Conv layers are taken in order."""
  sd = {k: np.asarray(v) for k, v in dict(state_dict).items()}
  sd = {k.replace("module.", ""): v for k, v in sd.items()}
  convs = [k[: -len(".weight")] for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4]
  linears = [k[: -len(".weight")] for k, v in sd.items() if k.endswith(".weight") and v.ndim == 2]
  if len(convs) != 5 or len(linears) != 1:
    raise ValueError(
      f"state_dict: expected 5 conv and 1 linear layer, got {len(convs)} and {len(linears)}"
    )
  new = {}
  for i, name in enumerate(convs):
    new[f"conv{i}"] = {
      "kernel": jnp.asarray(np.transpose(sd[name + ".weight"], (2, 3, 1, 0))),
      "bias": jnp.asarray(sd[name + ".bias"]),
    }
  new["head"] = {
    "kernel": jnp.asarray(sd[linears[0] + ".weight"].T),
    "bias": jnp.asarray(sd[linears[0] + ".bias"]),
  }
  return new


# ----------------------------------------------------------------------------- registry
MODELS = {
  "mlp": MLP,
  "cnn": CNN,
  "coordconv": CoordConv,
  "set_encoder": SetEncoder,
  "rot_eq": functools.partial(RotEqCNN, group=4, big=False),
  "rot_eq_big": functools.partial(RotEqCNN, group=4, big=True),
  "rot_eq_c8": functools.partial(RotEqCNN, group=8, big=False),
  "stn": STN,
  "resnet50": bit_resnet50,
  "resnet101": bit_resnet101,
  "densenet121": densenet121,
}

# Learning rates of the supervised protocol (Schott et al. 2022, App. H.3): DenseNet diverged at
# 5e-4.
DEFAULT_LR = {name: 5e-4 for name in MODELS}
DEFAULT_LR["densenet121"] = 1e-4


def make_model(name: str, num_outputs: int, **kw) -> nn.Module:
  validation.check_in_choices("model", name, sorted(MODELS))
  return MODELS[name](num_outputs, **kw)
