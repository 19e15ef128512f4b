"""Forward ops of racecar layers and their EXPLICIT transposes (adjoints).

Every reverse op here is written out by hand (``(z - b) @ K.T``, a dilated convolution with the
flipped, channel-swapped kernel, nearest up-sampling, average pooling, reshapes). ``jax.vjp`` and
``jax.linear_transpose`` are deliberately NOT used in this module: the tests use them as the oracle
that every explicit transpose must match.

Layouts: activations NHWC, conv kernels HWIO (``[kh, kw, cin, cout]``), dense kernels ``[in, out]``.
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import jax
import jax.numpy as jnp
from jax import lax

Padding = Union[str, Sequence[Tuple[int, int]]]
_DN = ("NHWC", "HWIO", "NHWC")


def _pair(v) -> Tuple[int, int]:
  if isinstance(v, int):
    return (v, v)
  v = tuple(int(a) for a in v)
  if len(v) != 2:
    raise ValueError(f"argument 'strides/kernel/dilation': expected an int or a pair, got {v}")
  return v


# ----------------------------------------------------------------------------------------------
# dense
# ----------------------------------------------------------------------------------------------


def dense(x, kernel, bias=None):
  """y = x K + b (Flax layout, K in R^{in x out})."""
  y = x @ kernel
  return y if bias is None else y + bias


def dense_transpose(z, kernel, bias=None):
  """Racecar reverse of a dense layer: (z - b) K^T  (= M^T (z - b) with M = K^T)."""
  if bias is not None:
    z = z - bias
  return z @ kernel.T


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------


def effective_kernel_size(k: int, d: int) -> int:
  return (k - 1) * d + 1


def resolve_padding(
  padding: Padding,
  in_spatial: Sequence[int],
  kernel_spatial: Sequence[int],
  strides: Sequence[int],
  dilation: Sequence[int],
) -> Tuple[Tuple[int, int], ...]:
  """Turns 'SAME' / 'VALID' / explicit [(lo, hi), ...] into explicit (lo, hi) pairs."""
  if isinstance(padding, str):
    pad = padding.upper()
    out = []
    for n, k, s, d in zip(in_spatial, kernel_spatial, strides, dilation):
      ke = effective_kernel_size(k, d)
      if pad == "VALID":
        out.append((0, 0))
      elif pad == "SAME":
        o = -(-n // s)
        total = max((o - 1) * s + ke - n, 0)
        out.append((total // 2, total - total // 2))
      else:
        raise ValueError(
          f"argument 'padding': expected 'SAME', 'VALID' or [(lo, hi), ...], got {padding!r}"
        )
    return tuple(out)
  pads = tuple((int(lo), int(hi)) for lo, hi in padding)
  if len(pads) != len(in_spatial):
    raise ValueError(
      f"argument 'padding': expected {len(in_spatial)} (lo, hi) pairs, got {padding!r}"
    )
  return pads


def conv_output_size(n: int, k: int, s: int, d: int, pad: Tuple[int, int]) -> int:
  return (n + pad[0] + pad[1] - effective_kernel_size(k, d)) // s + 1


def conv(x, kernel, bias=None, strides=(1, 1), padding: Padding = "SAME", dilation=(1, 1)):
  """Forward 2-D convolution (NHWC x HWIO), explicit padding resolved from the input size."""
  strides, dilation = _pair(strides), _pair(dilation)
  pads = resolve_padding(padding, x.shape[1:3], kernel.shape[:2], strides, dilation)
  y = lax.conv_general_dilated(
    x, kernel, window_strides=strides, padding=pads, rhs_dilation=dilation, dimension_numbers=_DN
  )
  return y if bias is None else y + bias


def _transpose_kernel(kernel):
  """Spatially flipped kernel with in/out channels swapped: HWIO -> HW(O)(I)."""
  return jnp.swapaxes(kernel[::-1, ::-1], 2, 3)


def conv_transpose_pads(in_spatial, kernel_spatial, strides, dilation, pads):
  """Padding of the dilated convolution that realises conv^T and returns exactly `in_spatial`.

  For input size n, effective kernel size ke, stride s and forward padding (lo, hi), the forward
  output has o = (n + lo + hi - ke) // s + 1 entries. The transposed op dilates its input by s
  (length (o-1) s + 1) and pads it by (ke - 1 - lo, ke - 1 - hi + r) where
  r = (n + lo + hi - ke) mod s are the input rows/cols the forward conv never reached (stride > 1):
  they are appended as explicit extra padding so the output has exactly n entries.
  """
  out = []
  for n, k, s, d, (lo, hi) in zip(in_spatial, kernel_spatial, strides, dilation, pads):
    ke = effective_kernel_size(k, d)
    r = (n + lo + hi - ke) % s
    out.append((ke - 1 - lo, ke - 1 - hi + r))
  return tuple(out)


def conv_transpose(
  z, kernel, bias=None, *, input_shape, strides=(1, 1), padding: Padding = "SAME", dilation=(1, 1)
):
  """Explicit adjoint of :func:`conv` (after subtracting the bias), returning `input_shape`.

  `input_shape` is the stored forward input shape (N, H, W, Cin): with stride > 1 several input sizes
  map to one output size, so the target size has to be given.
  """
  strides, dilation = _pair(strides), _pair(dilation)
  in_spatial = tuple(input_shape[1:3])
  pads = resolve_padding(padding, in_spatial, kernel.shape[:2], strides, dilation)
  expect = tuple(
    conv_output_size(n, k, s, d, p)
    for n, k, s, d, p in zip(in_spatial, kernel.shape[:2], strides, dilation, pads)
  )
  if tuple(z.shape[1:3]) != expect:
    raise ValueError(
      f"argument 'z': expected spatial shape {expect} (forward output of input "
      f"{tuple(input_shape)}), got {tuple(z.shape)}"
    )
  if bias is not None:
    z = z - bias
  tpads = conv_transpose_pads(in_spatial, kernel.shape[:2], strides, dilation, pads)
  return lax.conv_general_dilated(
    z,
    _transpose_kernel(kernel),
    window_strides=(1, 1),
    padding=tpads,
    lhs_dilation=strides,
    rhs_dilation=dilation,
    dimension_numbers=_DN,
  )


def deconv_output_spatial(in_spatial, kernel_spatial, strides, dilation, padding: Padding):
  """Default output size of a transposed conv: the largest n whose conv output is `in_spatial`
  for VALID/explicit padding ((i-1) s + ke - lo - hi), and i * s for SAME."""
  strides, dilation = _pair(strides), _pair(dilation)
  out = []
  for i, k, s, d in zip(in_spatial, kernel_spatial, strides, dilation):
    if isinstance(padding, str) and padding.upper() == "SAME":
      out.append(i * s)
    elif isinstance(padding, str):
      out.append((i - 1) * s + effective_kernel_size(k, d))
    else:
      out.append(None)
  if not isinstance(padding, str):
    pads = [(int(lo), int(hi)) for lo, hi in padding]
    out = [
      (i - 1) * s + effective_kernel_size(k, d) - lo - hi
      for i, k, s, d, (lo, hi) in zip(in_spatial, kernel_spatial, strides, dilation, pads)
    ]
  return tuple(out)


def deconv(
  x,
  kernel,
  bias=None,
  *,
  output_spatial=None,
  strides=(1, 1),
  padding: Padding = "SAME",
  dilation=(1, 1),
):
  """Transposed convolution ("deconv", generators), defined as the adjoint of the conv with the
  same HWIO kernel: `kernel` is [kh, kw, C_out_of_deconv, C_in_of_deconv] (TF conv2d_transpose layout)."""
  strides, dilation = _pair(strides), _pair(dilation)
  if output_spatial is None:
    output_spatial = deconv_output_spatial(
      x.shape[1:3], kernel.shape[:2], strides, dilation, padding
    )
  shape = (x.shape[0],) + tuple(output_spatial) + (kernel.shape[2],)
  y = conv_transpose(
    x, kernel, input_shape=shape, strides=strides, padding=padding, dilation=dilation
  )
  return y if bias is None else y + bias


def deconv_transpose(
  z, kernel, bias=None, *, strides=(1, 1), padding: Padding = "SAME", dilation=(1, 1)
):
  """Reverse of a deconv layer: the plain convolution with the very same kernel (after -b)."""
  if bias is not None:
    z = z - bias
  return conv(z, kernel, None, strides=strides, padding=padding, dilation=dilation)


# ----------------------------------------------------------------------------------------------
# pooling / up-sampling / reshapes
# ----------------------------------------------------------------------------------------------


def max_pool2(x):
  """2x2 / stride-2 max-pool (VALID: odd trailing rows/cols are dropped)."""
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def avg_pool2(x):
  """2x2 / stride-2 average pool (the left-inverse of nearest 2x up-sampling)."""
  return lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0


def sum_pool2(x):
  """2x2 / stride-2 sum pool: the exact adjoint of nearest 2x up-sampling."""
  return lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def upsample_nearest2(x, target_spatial=None):
  """Nearest 2x up-sampling. With `target_spatial` (the stored pre-pool size, possibly odd) the
  result is edge-padded/cropped to exactly that size."""
  y = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  if target_spatial is None:
    return y
  h, w = target_spatial
  y = y[:, :h, :w]
  ph, pw = h - y.shape[1], w - y.shape[2]
  if ph or pw:
    y = jnp.pad(y, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
  return y


def global_avg_pool(x):
  return jnp.mean(x, axis=(1, 2))


def global_avg_pool_reverse(z, spatial):
  """Reverse of global average pooling: broadcast back over H x W."""
  return jnp.broadcast_to(z[:, None, None, :], (z.shape[0],) + tuple(spatial) + (z.shape[-1],))


def flatten(x):
  return x.reshape(x.shape[0], -1)


def unflatten(z, shape):
  return z.reshape((z.shape[0],) + tuple(shape[1:]))


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------


def lrelu(x):
  return jnp.where(x >= 0, x, 0.2 * x)


ACTIVATIONS = {
  None: lambda x: x,
  "none": lambda x: x,
  "linear": lambda x: x,
  "relu": jax.nn.relu,
  "tanh": jnp.tanh,
  "sigmoid": jax.nn.sigmoid,
  "lrelu": lrelu,
  "softmax": lambda x: jax.nn.softmax(x, axis=-1),
}


def get_activation(name):
  if name not in ACTIVATIONS:
    raise ValueError(
      f"argument 'activation': expected one of {sorted(k for k in ACTIVATIONS if k)}, got {name!r}"
    )
  return ACTIVATIONS[name]
