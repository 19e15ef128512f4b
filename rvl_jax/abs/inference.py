"""ABS inference: latent sample bank, stage-1 bank search, stage-2 Adam latent search.

Schott et al. (2019), Sec. 3: a class's score is the negative ELBO (eq. 2) of its best
latent, found from a fixed bank of latent samples and refined with Adam. The decoder used here is a *fused* re-expression of
``nets.Decoder`` for inference: BatchNorm (eval mode) is folded into the
preceding transposed convolution, and each transposed convolution has a
hand-written input gradient and the forward form (GEMM + overlap-add, sub-pixel
convolution or taps; see ``conv_transpose``) that is fastest on a CPU for its
shape, with its kernels laid out once per search (``prepare_decoder``). The
per-(image, class) score is written for ONE latent and ONE class and then
vectorised with ``jax.vmap`` over images; classes are looped (or vmapped, see
``class_mode``). ``tests/abs`` checks it against ``nets.Decoder``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.abs import nets
from rvl_jax.core import validation

N_PIXELS = 784
BINARY_ABS_GAMMA = (1.0, 0.96, 1.001, 1.06, 0.98, 0.96, 1.03, 1.0, 1.0, 1.0)
ABS_ALPHA = 440.0
ABS_ETA = 3.9e-5


# ----------------------------------------------------------------- latent bank


def gaussian_bank(
  n_samples: int = 8000,
  fraction_to_dismiss: float = 0.1,
  seed: int = 1234,
  latent: int = nets.LATENT_SIZE,
) -> np.ndarray:
  """The reference code's ``GaussianSamples`` bank.

  Draws int(n/(1-f)) N(0, I) vectors with NumPy's legacy RNG and keeps the n of smallest norm
  in draw order.

  Args:
    n_samples: bank size n (the paper's 8000).
    fraction_to_dismiss: the fraction f of largest-norm draws left out.
    seed: the legacy RNG's seed (1234 reproduces the released model's bank).
    latent: latent dimension.

  Returns:
    float32 (n, latent) latents.
  """
  n_draw = int(n_samples / (1.0 - fraction_to_dismiss))
  z = np.random.RandomState(seed).standard_normal((n_draw, latent))
  norms = np.sum(z**2, axis=1)
  keep = np.sort(np.argsort(norms, kind="stable")[:n_samples])
  return z[keep].astype(np.float32)


def grid_bank(
  n_samples: int = 8000, latent: int = nets.LATENT_SIZE, limit: float = 0.99
) -> np.ndarray:
  """Reference ``GridMan`` option: round(n^(1/L)) points per axis in [-limit, limit]^L."""
  per_axis = int(round(n_samples ** (1.0 / latent)))
  axis = np.linspace(-limit, limit, per_axis)
  grid = np.stack(np.meshgrid(*([axis] * latent), indexing="ij"), -1)
  return grid.reshape(-1, latent).astype(np.float32)


# ------------------------------------------------------------- fused decoder


class FusedDecoder(NamedTuple):
  """Decoder weights with eval-mode BN folded in; each leaf may carry a class axis."""

  w0: jax.Array  # (L, 4*4*32)
  b0: jax.Array  # (32,)
  w1: jax.Array  # (32, 5*5*16)
  b1: jax.Array  # (16,)
  w2: jax.Array  # (16, 5*5*16)
  b2: jax.Array  # (16,)
  w3: jax.Array  # (16, 4*4*1)
  b3: jax.Array  # (1,)


def fuse_decoder(variables: dict, eps: float = nets.BN_EPS) -> FusedDecoder:
  """Folds a ``nets.Decoder`` variable dict (params + batch_stats) into ``FusedDecoder``.

  Accepts either the VAE variables ({'params': {'Decoder': ...}, ...}) or decoder ones.
  """
  p = variables["params"]
  s = variables["batch_stats"]
  if "Decoder" in p:
    p, s = p["Decoder"], s["Decoder"]
  out = []
  for i in range(4):
    k = np.asarray(p[f"conv_{i}"]["kernel"], np.float64)  # (kh, kw, out, in)
    b = np.asarray(p[f"conv_{i}"]["bias"], np.float64)
    if i < 3:
      bn, st = p[f"bn_{i}"], s[f"bn_{i}"]
      scale = np.asarray(bn["scale"], np.float64) / np.sqrt(np.asarray(st["var"], np.float64) + eps)
      k = k * scale[None, None, :, None]
      b = (b - np.asarray(st["mean"], np.float64)) * scale + np.asarray(bn["bias"], np.float64)
    kh, kw, o, i_ = k.shape
    w = np.transpose(k, (3, 0, 1, 2)).reshape(i_, kh * kw * o)  # (in, kh*kw*out)
    out += [w.astype(np.float32), b.astype(np.float32)]
  return FusedDecoder(*out)


def stack_fused(decoders) -> FusedDecoder:
  return FusedDecoder(*[jnp.stack(x) for x in zip(*decoders)])


def _elu(x):
  return jnp.where(x > 0, x, jnp.expm1(jnp.minimum(x, 0.0)))


_DN = ("NHWC", "HWIO", "NHWC")


def _overlap_add(tap, shape, k, stride):
  """col2im: ``tap(a, b)`` (N, H, W, O) is tap (a, b) of every input pixel, landing on output
  pixel (s*i + a, s*j + b); shape = (N, H, W, O) -> (N, (H-1)s + k, (W-1)s + k, O).

  Output phase (p, q) (the pixels out[:, p::s, q::s]) is the sum of the taps a = p + s*t,
  b = q + s*u shifted by (t, u): zero-padded slices that XLA fuses into one loop per phase; the
  phases are interleaved by stack + reshape (no scatter, no zero-dilated intermediate).
  """
  n, hh, ww, o = shape
  out_h, out_w = (hh - 1) * stride + k, (ww - 1) * stride + k
  ph, pw = -(-out_h // stride), -(-out_w // stride)
  rows = []
  for p in range(stride):
    cols = []
    for q in range(stride):
      acc = None
      for a in range(p, k, stride):
        for b in range(q, k, stride):
          t, u = (a - p) // stride, (b - q) // stride
          y = jnp.pad(tap(a, b), ((0, 0), (t, ph - hh - t), (u, pw - ww - u), (0, 0)))
          acc = y if acc is None else acc + y
      cols.append(acc)
    if stride == 1:
      return cols[0]
    rows.append(jnp.stack(cols, axis=3))  # (n, ph, pw, s, o): column phase q
  out = jnp.stack(rows, axis=2)  # (n, ph, s, pw, s, o): row phase p
  return out.reshape(n, ph * stride, pw * stride, o)[:, :out_h, :out_w]


def _conv_transpose_impl(h, wf, k, stride, forward):
  if forward == "gemm":  # wf (I, k*k*O)
    n, hh, ww, c = h.shape
    o = wf.shape[1] // (k * k)
    taps = (h.reshape(-1, c) @ wf).reshape(n, hh, ww, k, k, o)
    return _overlap_add(lambda a, b: taps[:, :, :, a, b, :], (n, hh, ww, o), k, stride)
  if forward == "taps":  # wf (I, k*k): one output channel, stride 1
    n, hh, ww, c = h.shape
    taps = (h.reshape(-1, c) @ wf).reshape(n, hh, ww, k * k)
    tp = jnp.pad(taps, ((0, 0), (k - 1, k - 1), (k - 1, k - 1), (0, 0)))
    out_h, out_w = hh + k - 1, ww + k - 1
    acc = None
    for a in range(k):
      for b in range(k):
        y = tp[:, k - 1 - a : k - 1 - a + out_h, k - 1 - b : k - 1 - b + out_w, a * k + b]
        acc = y if acc is None else acc + y
    return acc[..., None]
  if forward == "subpixel":  # wf (m, m, I, s*s*O), m = ceil(k / s)
    n, hh, ww, _ = h.shape
    m = wf.shape[0]
    o = wf.shape[3] // (stride * stride)
    y = jax.lax.conv_general_dilated(
      h, wf, (1, 1), ((m - 1, m - 1), (m - 1, m - 1)), dimension_numbers=_DN
    )  # (n, H+m-1, W+m-1, s*s*O)
    ph, pw = y.shape[1], y.shape[2]
    y = y.reshape(n, ph, pw, stride, stride, o).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, ph * stride, pw * stride, o)[
      :, : (hh - 1) * stride + k, : (ww - 1) * stride + k
    ]
  # 'lax': wf (k, k, I, O) is the flipped kernel of the equivalent correlation of the
  # stride-dilated, (k-1)-padded input.
  return jax.lax.conv_general_dilated(
    h,
    wf,
    (1, 1),
    ((k - 1, k - 1), (k - 1, k - 1)),
    lhs_dilation=(stride, stride),
    dimension_numbers=_DN,
  )


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _conv_transpose_prepared(h, wf, wb, k, stride, forward):
  """Transposed convolution with the kernel already laid out for its forward (``wf``) and for
  its input gradient (``wb``, the same weights; see ``prepare_conv_transpose``)."""
  return _conv_transpose_impl(h, wf, k, stride, forward)


def _conv_transpose_prepared_fwd(h, wf, wb, k, stride, forward):
  return _conv_transpose_impl(h, wf, k, stride, forward), (h, wf, wb)


def _conv_transpose_prepared_bwd(k, stride, forward, res, g):
  h, wf, wb = res
  _, hh, ww, _ = h.shape
  if wb.ndim == 3:  # one output channel, stride 1: wb (k, k, I)
    dh = None
    for a in range(k):
      for b in range(k):
        y = g[:, a : a + hh, b : b + ww, :] * wb[a, b]
        dh = y if dh is None else dh + y
  else:  # wb (k, k, O, I): the stride-s VALID correlation of the cotangent with the kernel,
    # as the sum over the s*s output phases of stride-1 correlations of the phase's cotangent
    # with its sub-kernel. (One strided convolution is faster on a CPU, but XLA's CPU backend
    # then gives run-to-run different sums when several host devices run concurrently, which
    # the latent search's clipping amplifies into different results.)
    dh = None
    for p in range(stride):
      for q in range(stride):
        y = jax.lax.conv_general_dilated(
          g[:, p::stride, q::stride],
          wb[p::stride, q::stride],
          (1, 1),
          "VALID",
          dimension_numbers=_DN,
        )[:, :hh, :ww]
        dh = y if dh is None else dh + y
  # The weight cotangent (unused, and removed by XLA, in the latent search). ``wb`` only
  # re-lays out the weights for the backward pass; the output does not depend on it.
  _, vjp_w = jax.vjp(lambda w_: _conv_transpose_impl(h, w_, k, stride, forward), wf)
  return dh, vjp_w(g)[0], jnp.zeros_like(wb)


_conv_transpose_prepared.defvjp(_conv_transpose_prepared_fwd, _conv_transpose_prepared_bwd)


def _subpixel_kernel(kernel, stride):
  """(k, k, O, I) -> (m, m, I, s*s*O), m = ceil(k/s): output phase (p, q) of the transposed
  convolution as output channels (p, q, o) of one stride-1 correlation of the (m-1)-padded
  input; tap (t', u') of phase (p, q) is kernel[p + s(m-1-t'), q + s(m-1-u')] (zero past k)."""
  k, _, o, i = kernel.shape
  m = -(-k // stride)
  full = jnp.zeros((m * stride, m * stride, o, i), kernel.dtype).at[:k, :k].set(kernel)
  # full[s*t + p, s*u + q] -> (t, u, p, q, o, i) -> flip t, u -> (t', u', i, p, q, o)
  w = full.reshape(m, stride, m, stride, o, i).transpose(0, 2, 1, 3, 4, 5)
  w = jnp.flip(w, (0, 1)).transpose(0, 1, 5, 2, 3, 4)
  return w.reshape(m, m, i, stride * stride * o)


def prepare_conv_transpose(kernel, forward: str = "lax", stride: int = 1):
  """kernel (k, k, O, I) (a PyTorch ConvTranspose2d weight (I, O, k, k) transposed) ->
  (wf, wb): the layouts ``_conv_transpose_prepared`` consumes for ``forward`` and for the
  input gradient. Computed once, outside the latent search's loop: left inside, XLA
  re-lays out the kernels at every Adam step."""
  k, _, o, i = kernel.shape
  if forward == "gemm":
    wf = jnp.transpose(kernel, (3, 0, 1, 2)).reshape(i, k * k * o)
  elif forward == "lax":
    wf = jnp.transpose(jnp.flip(kernel, (0, 1)), (0, 1, 3, 2))
  elif forward == "subpixel":
    wf = _subpixel_kernel(kernel, stride)
  elif forward == "taps" and o == 1 and stride == 1:
    wf = jnp.transpose(kernel[:, :, 0, :], (2, 0, 1)).reshape(i, k * k)
  else:
    raise ValueError(
      "argument 'forward': expected 'gemm', 'lax', 'subpixel' or (one output "
      f"channel, stride 1) 'taps', got {forward!r}"
    )
  wb = kernel[:, :, 0, :] if o == 1 and stride == 1 else kernel
  return wf, wb


def conv_transpose(h, kernel, stride: int, forward: str = "lax"):
  """PyTorch ConvTranspose2d (VALID, no bias) of h (N, H, W, I); kernel (k, k, O, I), square.

  ``forward``: 'gemm' computes all taps of every input pixel in one GEMM
  (N*H*W, I) @ (I, k*k*O) and overlap-adds them (fast on a CPU when the input has few pixels);
  'taps' (one output channel, stride 1) does the same with the k*k taps as channels, summed by
  one fused loop of shifted slices; 'subpixel' computes the s*s output phases as the s*s*O
  output channels of one stride-1 convolution (ceil(k/s)^2 taps, with zeros where a phase has
  fewer) and interleaves them; 'lax' is XLA's convolution of the stride-dilated input.
  The input gradient is written out rather than left to autodiff: the sum over the s*s phases
  of stride-1 correlations of the phase's cotangent with its sub-kernel, or, for one output
  channel at stride 1, a sum of k*k shifted cotangent slices times the taps, vectorised over
  the input channels. Left to autodiff, XLA folds a kernel transpose into the gradient
  convolution's dimension labels, and inside a while loop (the Adam steps of the latent search)
  the CPU backend runs that convolution several times slower.
  """
  wf, wb = prepare_conv_transpose(kernel, forward, stride)
  return _conv_transpose_prepared(h, wf, wb, kernel.shape[0], stride, forward)


def _kernel(w, k, o):
  """(in, k*k*out) fused weight -> (k, k, out, in) transpose-conv kernel."""
  return w.reshape(w.shape[0], k, k, o).transpose(1, 2, 3, 0)


# (kernel size, stride, forward form) of the three transposed convolutions: each uses the
# forward that was fastest on a CPU for its shape inside the latent search's loop (AVX-512,
# 2 cores; 8 % to 2x against the alternatives): 4x4 -> 11x11 as one GEMM plus overlap-add,
# 11x11 -> 25x25 (two thirds of the MACs) as a sub-pixel convolution (twice the MACs, but one
# dense convolution with 64 outputs), 25x25 -> 28x28 (one output channel) as taps.
_LAYERS = ((5, 2, "gemm"), (5, 2, "subpixel"), (4, 1, "taps"))


class PreparedDecoder(NamedTuple):
  """``FusedDecoder`` with every transposed-convolution kernel in its forward and backward
  layouts (``prepare_decoder``); each leaf may carry a class axis."""

  w0: jax.Array
  b0: jax.Array
  convs: tuple  # ((wf, wb), ...) per transposed convolution
  biases: tuple


def prepare_decoder(p: FusedDecoder) -> PreparedDecoder:
  """Lays out the kernels of one class's ``FusedDecoder`` for ``decode_logits_batch``."""
  ws, bs = (p.w1, p.w2, p.w3), (p.b1, p.b2, p.b3)
  convs = tuple(
    prepare_conv_transpose(_kernel(w, k, b.shape[-1]), fwd, stride)
    for w, b, (k, stride, fwd) in zip(ws, bs, _LAYERS)
  )
  return PreparedDecoder(p.w0, p.b0, convs, bs)


def decode_logits_batch(p, z: jax.Array) -> jax.Array:
  """Decoder of ONE class (``FusedDecoder`` or ``PreparedDecoder``) on latents z (N, L) ->
  logits (N, 28, 28)."""
  if isinstance(p, FusedDecoder):
    p = prepare_decoder(p)
  h = _elu((z @ p.w0).reshape(-1, 4, 4, 32) + p.b0)
  for i, ((wf, wb), b, (k, stride, fwd)) in enumerate(zip(p.convs, p.biases, _LAYERS)):
    h = _conv_transpose_prepared(h, wf, wb, k, stride, fwd) + b
    h = _elu(h) if i < 2 else h[..., 0]
  return h


def decode_logits(p: FusedDecoder, z: jax.Array) -> jax.Array:
  """Fused decoder for ONE class and ONE latent z (L,) -> logits (28, 28)."""
  return decode_logits_batch(p, z[None])[0]


def decode_image(p: FusedDecoder, z: jax.Array) -> jax.Array:
  """G_c(z) = sigmoid(decoder_c(z)) flattened to (784,) for one latent."""
  return jax.nn.sigmoid(decode_logits(p, z)).reshape(-1)


def score(p: FusedDecoder, z: jax.Array, x: jax.Array, beta: float) -> jax.Array:
  """e_c(x, z) = (||x - G_c(z)||^2 + beta * 0.5 * ||z||^2) / 784 for one (image, class)."""
  r = decode_image(p, z)
  return (jnp.sum((x - r) ** 2) + beta * 0.5 * jnp.sum(z**2)) / N_PIXELS


def _residual_energy(x, r, deadzone):
  if deadzone is None:
    return jnp.sum((x - r) ** 2, axis=-1)
  return jnp.sum(jax.nn.relu(jnp.abs(x - r) - deadzone) ** 2, axis=-1)


def _score_and_recon(p, z, x, beta, deadzone=None):
  r = decode_image(p, z)
  return (_residual_energy(x, r, deadzone) + beta * 0.5 * jnp.sum(z**2)) / N_PIXELS, r


def _class_params(params, c):
  return jax.tree_util.tree_map(lambda a: a[c], params)


def _scores_all(params, z, x, beta, class_mode="unroll", deadzone=None):
  """params: class-stacked; z (C, B, L); x (B, P) -> scores (C, B), recon (C, B, P).

  The per-(image, class) score is vmapped over images. Classes are looped with
  ``lax.map`` (class_mode='map', default: one dense batched convolution stack per class,
  compiled once), unrolled (class_mode='unroll': same kernels, ten copies in the program,
  slower to compile) or vmapped too (class_mode='vmap': XLA sees grouped convolutions,
  2-4x slower on CPU).
  """
  validation.check_in_choices("class_mode", class_mode, ("map", "unroll", "vmap"))
  over_images = jax.vmap(
    _score_and_recon, in_axes=(None, 0, 0, None, None if deadzone is None else 0)
  )
  if class_mode == "map":
    return jax.lax.map(lambda pz: over_images(pz[0], pz[1], x, beta, deadzone), (params, z))
  if class_mode == "vmap":
    return jax.vmap(over_images, in_axes=(0, 0, None, None, None))(params, z, x, beta, deadzone)
  outs = [over_images(_class_params(params, c), z[c], x, beta, deadzone) for c in range(z.shape[0])]
  return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])


@jax.jit
def _decode_bank_chunk(params, z):
  n_cls = params.b0.shape[0]
  return jnp.stack(
    [
      jax.nn.sigmoid(decode_logits_batch(_class_params(params, c), z)).reshape(z.shape[0], -1)
      for c in range(n_cls)
    ]
  )


def decode_bank(params: FusedDecoder, bank, chunk: int = 1000) -> jax.Array:
  """Decodes the bank with every class decoder -> (C, S, 784) float32."""
  bank = jnp.asarray(bank)
  n = bank.shape[0]
  parts = []
  for i in range(0, n, chunk):
    zb = bank[i : i + chunk]
    m = zb.shape[0]
    if m < chunk:
      zb = jnp.concatenate([zb, jnp.zeros((chunk - m, zb.shape[1]), zb.dtype)])
    parts.append(_decode_bank_chunk(params, zb)[:, :m])
  return jnp.concatenate(parts, axis=1)


def clip_latents(z: jax.Array, clip: float, mode: str = "reference") -> jax.Array:
  """Projects latent vectors (..., L) onto the ball of radius ``clip``.

  mode 'reference' reproduces the authors' sign-dropping formula
  sqrt(z_j^2 clip^2 / ||z||^2); 'correct' rescales z * clip / ||z||.
  """
  n2 = jnp.sum(z**2, axis=-1, keepdims=True)
  outside = n2 > clip**2
  validation.check_in_choices("clip_mode", mode, ("reference", "correct"))
  if mode == "reference":
    proj = jnp.sqrt(z**2 * clip**2 / jnp.maximum(n2, 1e-30))
  else:
    proj = z * clip / jnp.sqrt(jnp.maximum(n2, 1e-30))
  return jnp.where(outside, proj, z)


def stage1(x, bank, bank_images, bank_sqnorm, beta, deadzone=None):
  """Best bank latent per (image, class): x (B, P) -> (scores (B, C), z0 (B, C, L)).

  With ``deadzone`` (B,) the residual is the soft-thresholded sum
  sum_i max(0, |x_i - G(z)_i| - deadzone)^2 (computed directly, class by class).
  """
  if deadzone is not None:
    kl = 0.5 * jnp.sum(bank**2, axis=-1)

    def per_class(imgs):
      d = jax.nn.relu(jnp.abs(x[:, None, :] - imgs[None]) - deadzone[:, None, None])
      return jnp.sum(d**2, -1)  # (B, S)

    e = (jnp.transpose(jax.lax.map(per_class, bank_images), (1, 0, 2)) + beta * kl) / N_PIXELS
    idx = jnp.argmin(e, axis=-1)
    return jnp.min(e, axis=-1), bank[idx]
  cross = jnp.einsum("bp,csp->bcs", x, bank_images)
  kl = 0.5 * jnp.sum(bank**2, axis=-1)
  e = (
    jnp.sum(x**2, -1)[:, None, None] + bank_sqnorm[None] - 2.0 * cross + beta * kl[None, None]
  ) / N_PIXELS
  idx = jnp.argmin(e, axis=-1)
  return jnp.min(e, axis=-1), bank[idx]


@functools.partial(
  jax.jit,
  static_argnames=(
    "n_iter",
    "clip_mode",
    "return_recon",
    "class_mode",
    "use_deadzone",
    "micro_batch",
  ),
)
def latent_search(
  params: FusedDecoder,
  bank,
  bank_images,
  bank_sqnorm,
  x,
  *,
  n_iter: int = 50,
  lr: float = 0.05,
  clip: float = 5.0,
  clip_mode: str = "reference",
  beta: float = 1.0,
  return_recon: bool = False,
  class_mode: str = "map",
  deadzone=None,
  use_deadzone: bool = False,
  micro_batch: int = 0,
):
  """Full ABS latent search for a batch x (B, 784) (already binarized if needed).

  Returns dict(scores (B, C), latents (B, C, L)[, recon (B, C, 784)]). ``n_iter``
  passes: n_iter - 1 Adam updates (each followed by clipping) and a final forward
  pass that produces the outputs; n_iter = 0 returns the stage-1 minima.
  ``deadzone`` (B,) with use_deadzone=True replaces the squared residual by the
  soft-thresholded one (used by the L-inf lower bound).
  ``micro_batch`` > 0 runs the search on consecutive chunks of that many images in a
  ``lax.map`` (the images are independent, so the result is the same): the decoder
  activations of one chunk stay in the CPU caches, which makes large batches as fast
  per image as small ones.
  """
  b = x.shape[0]
  deadzone = deadzone if use_deadzone else None
  if isinstance(params, FusedDecoder):  # kernel layouts once, outside the Adam loop
    params = jax.vmap(prepare_decoder)(params)
  kw = dict(
    n_iter=n_iter,
    lr=lr,
    clip=clip,
    clip_mode=clip_mode,
    beta=beta,
    return_recon=return_recon,
    class_mode=class_mode,
  )
  if not micro_batch or b <= micro_batch:
    return _latent_search(params, bank, bank_images, bank_sqnorm, x, deadzone, **kw)
  n_chunks = -(-b // micro_batch)
  pad = n_chunks * micro_batch - b
  xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(n_chunks, micro_batch, -1)
  dz = None if deadzone is None else jnp.pad(deadzone, (0, pad)).reshape(n_chunks, micro_batch)
  out = jax.lax.map(
    lambda a: _latent_search(params, bank, bank_images, bank_sqnorm, a[0], a[1], **kw), (xs, dz)
  )
  return jax.tree_util.tree_map(lambda o: o.reshape((-1,) + o.shape[2:])[:b], out)


def _latent_search(
  params,
  bank,
  bank_images,
  bank_sqnorm,
  x,
  deadzone,
  *,
  n_iter,
  lr,
  clip,
  clip_mode,
  beta,
  return_recon,
  class_mode,
):
  e0, z0 = stage1(x, bank, bank_images, bank_sqnorm, beta, deadzone)
  if n_iter == 0:
    out = {"scores": e0, "latents": z0}
    if return_recon:
      _, r = _scores_all(params, jnp.swapaxes(z0, 0, 1), x, beta, class_mode, deadzone)
      out["recon"] = jnp.swapaxes(r, 0, 1)
    return out
  z = jnp.swapaxes(z0, 0, 1)  # (C, B, L): class-major inside

  def total(zz):
    e, _ = _scores_all(params, zz, x, beta, class_mode, deadzone)
    return jnp.sum(e)

  tx = optax.adam(lr)
  if class_mode == "map":
    # classes are independent: per-class gradients inside one loop over classes
    def class_total(p, zc):
      e, _ = _scores_all(
        jax.tree_util.tree_map(lambda a: a[None], p), zc[None], x, beta, "unroll", deadzone
      )
      return jnp.sum(e)

    grad_fn = lambda zz: jax.lax.map(lambda pz: jax.grad(class_total, argnums=1)(*pz), (params, zz))
  else:
    grad_fn = jax.grad(total)

  def body(_, carry):
    zz, st = carry
    g = grad_fn(zz)
    upd, st = tx.update(g, st, zz)
    zz = clip_latents(optax.apply_updates(zz, upd), clip, clip_mode)
    return zz, st

  z, _ = jax.lax.fori_loop(0, n_iter - 1, body, (z, tx.init(z)))
  e, r = _scores_all(params, z, x, beta, class_mode, deadzone)
  out = {"scores": e.T, "latents": jnp.swapaxes(z, 0, 1)}
  if return_recon:
    out["recon"] = jnp.swapaxes(r, 0, 1)
  return out


def choose_split(num_classes: int, num_devices: int) -> str:
  """How ``sharded_latent_search`` splits the work over ``num_devices``: 'classes' when they
  divide the classes evenly (every device searches all images for its share of the classes,
  so the per-device batch, and with it the GEMM sizes, stay those of the whole batch, and a
  batch of one image still uses every device), else 'images'."""
  if num_devices > 1 and num_classes % num_devices == 0:
    return "classes"
  return "images"


def search_shardings(mesh, split: str):
  """(params, bank latents, bank images, bank squared norms, x) shardings that
  ``sharded_latent_search`` uses for ``split``; place the model's arrays with them once
  (``jax.device_put``) so that calls do not re-distribute the decoded bank (251 MB)."""
  from jax.sharding import NamedSharding  # pylint: disable=g-import-not-at-top

  return tuple(NamedSharding(mesh, spec) for spec in _split_specs(mesh.axis_names[0], split)[0])


def _split_specs(axis, split):
  from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top

  if split == "images":
    return (P(), P(), P(), P(), P(axis)), P(axis)
  return (P(axis), P(), P(axis), P(axis), P()), P(None, axis)  # outputs (B, C, ...)


def sharded_latent_search(
  mesh, params, bank, bank_images, bank_sqnorm, x, *, split: str = "images", **kwargs
):
  """``latent_search`` over the devices of a 1-D mesh (its first axis).

  split='images': x (B, 784) is split along B (B must be divisible by the mesh size); the
  parameters and the decoded bank are replicated. split='classes': every device searches all
  images for C / size of the classes (C must be divisible by the mesh size); the class-stacked
  parameters and decoded bank images are split along the class axis. Images and classes are
  independent in the search, so either result equals ``latent_search`` on one device. On a
  CPU host with several XLA host devices the shards run on different cores. ``kwargs``: the
  static and scalar options of ``latent_search`` (no ``deadzone``).
  """
  if split == "images":
    if x.shape[0] % mesh.size:
      raise ValueError(
        f"argument 'x': expected a batch divisible by the {mesh.size} devices "
        f"of the mesh, got {x.shape[0]} images"
      )
  elif split == "classes":
    n_cls = bank_images.shape[0]
    if n_cls % mesh.size:
      raise ValueError(
        f"argument 'split': 'classes' needs a class count divisible by the "
        f"{mesh.size} devices of the mesh, got {n_cls} classes"
      )
  else:
    raise ValueError(f"argument 'split': expected 'images' or 'classes', got {split!r}")
  return _sharded_search_fn(mesh, split, tuple(sorted(kwargs.items())))(
    params, bank, bank_images, bank_sqnorm, x
  )


@functools.lru_cache(maxsize=32)
def _sharded_search_fn(mesh, split, kw_items):
  search = functools.partial(latent_search, **dict(kw_items))
  in_specs, out_specs = _split_specs(mesh.axis_names[0], split)
  return jax.jit(jax.shard_map(search, mesh=mesh, in_specs=in_specs, out_specs=out_specs))


# --------------------------------------------------------------- utilities


def binarize(x):
  """Input binarization of Binary ABS (Schott et al. 2019, Sec. 3).

  Args:
    x: inputs.

  Returns:
    0 where x < 0.5, 1 where x >= 0.5, in x's dtype.
  """
  return (x >= 0.5).astype(x.dtype)


def confidence_softmax(logits, alpha: float = ABS_ALPHA, eta: float = ABS_ETA):
  """Calibrated probabilities (Schott et al. 2019, eq. 8):
  (exp(a s) + eta) / (sum exp(a s) + K eta).

  Computed in float64 NumPy (no max-shift: eta breaks shift invariance).

  Args:
    logits: (N, K) logits s.
    alpha: the scale a (440 for ABS).
    eta: the offset (3.9e-5 for ABS).

  Returns:
    (N, K) float64 probabilities.
  """
  s = np.asarray(logits, np.float64)
  with np.errstate(over="ignore"):
    ex = np.exp(alpha * s)
  return (ex + eta) / (np.sum(ex, axis=-1, keepdims=True) + s.shape[-1] * eta)
