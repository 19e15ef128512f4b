"""ABS inference: latent sample bank, stage-1 bank search, stage-2 Adam latent search.

Spec sections 5.1-5.7. The decoder used here is a *fused* re-expression of
``nets.Decoder`` for inference: BatchNorm (eval mode) is folded into the
preceding transposed convolution, and every transposed convolution is written
as one GEMM (input pixels x [kh * kw * out] taps) followed by a col2im
(sum of K*K zero-interleaved pads), which XLA fuses into a single loop. The
per-(image, class) score is written for ONE latent and ONE class and then
vectorised with ``jax.vmap`` over images (inner) and classes (outer, over the
stacked per-class parameters), so the ten decoders become batched GEMMs with
the class as batch dimension. ``tests/abs`` checks it against ``nets.Decoder``.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.abs import nets

N_PIXELS = 784
BINARY_ABS_GAMMA = (1.0, 0.96, 1.001, 1.06, 0.98, 0.96, 1.03, 1.0, 1.0, 1.0)
ABS_ALPHA = 440.0
ABS_ETA = 3.9e-5


# ----------------------------------------------------------------- latent bank

def gaussian_bank(n_samples: int = 8000, fraction_to_dismiss: float = 0.1,
                  seed: int = 1234, latent: int = nets.LATENT_SIZE) -> np.ndarray:
  """Reference ``GaussianSamples``: draw int(n/(1-f)) N(0, I) vectors with NumPy's legacy
  RNG, keep the n of smallest norm in draw order. float32 (n, latent)."""
  n_draw = int(n_samples / (1.0 - fraction_to_dismiss))
  z = np.random.RandomState(seed).standard_normal((n_draw, latent))
  norms = np.sum(z ** 2, axis=1)
  keep = np.sort(np.argsort(norms, kind='stable')[:n_samples])
  return z[keep].astype(np.float32)


def grid_bank(n_samples: int = 8000, latent: int = nets.LATENT_SIZE,
              limit: float = 0.99) -> np.ndarray:
  """Reference ``GridMan`` option: round(n^(1/L)) points per axis in [-limit, limit]^L."""
  per_axis = int(round(n_samples ** (1.0 / latent)))
  axis = np.linspace(-limit, limit, per_axis)
  grid = np.stack(np.meshgrid(*([axis] * latent), indexing='ij'), -1)
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
  p = variables['params']
  s = variables['batch_stats']
  if 'Decoder' in p:
    p, s = p['Decoder'], s['Decoder']
  out = []
  for i in range(4):
    k = np.asarray(p[f'conv_{i}']['kernel'], np.float64)  # (kh, kw, out, in)
    b = np.asarray(p[f'conv_{i}']['bias'], np.float64)
    if i < 3:
      bn, st = p[f'bn_{i}'], s[f'bn_{i}']
      scale = np.asarray(bn['scale'], np.float64) / np.sqrt(np.asarray(st['var'], np.float64) + eps)
      k = k * scale[None, None, :, None]
      b = (b - np.asarray(st['mean'], np.float64)) * scale + np.asarray(bn['bias'], np.float64)
    kh, kw, o, i_ = k.shape
    w = np.transpose(k, (3, 0, 1, 2)).reshape(i_, kh * kw * o)  # (in, kh*kw*out)
    out += [w.astype(np.float32), b.astype(np.float32)]
  return FusedDecoder(*out)


def stack_fused(decoders) -> FusedDecoder:
  return FusedDecoder(*[jnp.stack(x) for x in zip(*decoders)])


def _elu(x):
  return jnp.where(x > 0, x, jnp.expm1(jnp.minimum(x, 0.)))


_DN = ('NHWC', 'HWIO', 'NHWC')


def _conv_transpose_s1_plain(h, kernel):
  return jax.lax.conv_transpose(h, kernel, (1, 1), 'VALID', dimension_numbers=_DN,
                                transpose_kernel=True)


@jax.custom_vjp
def _conv_transpose_s1(h, kernel):
  """Stride-1 PyTorch ConvTranspose2d (VALID); kernel (kh, kw, out, in).

  Its input gradient is written out as the VALID correlation of the output cotangent with the
  kernel as stored ((kh, kw, out, in) is already HWIO for that correlation). Left to autodiff,
  XLA folds a kernel transpose into the convolution's dimension labels; inside a while loop
  (the Adam steps of the latent search) the CPU backend then runs that convolution about 4x
  slower than a canonical-layout one.
  """
  return _conv_transpose_s1_plain(h, kernel)


def _conv_transpose_s1_fwd(h, kernel):
  return _conv_transpose_s1_plain(h, kernel), (h, kernel)


def _conv_transpose_s1_bwd(res, g):
  h, kernel = res
  dh = jax.lax.conv_general_dilated(g, kernel, (1, 1), 'VALID', dimension_numbers=_DN)
  # The kernel cotangent (unused, and removed by XLA, in the latent search).
  _, vjp_kernel = jax.vjp(lambda k: _conv_transpose_s1_plain(h, k), kernel)
  return dh, vjp_kernel(g)[0]


_conv_transpose_s1.defvjp(_conv_transpose_s1_fwd, _conv_transpose_s1_bwd)


def conv_transpose(h, kernel, stride: int):
  """PyTorch ConvTranspose2d (VALID) of h (N, H, W, I); kernel (kh, kw, out, in).

  A stride-s transposed convolution is split into s*s output phases; phase (p, q)
  is a dense stride-1 transposed convolution with the sub-kernel
  kernel[p::s, q::s], i.e. out[:, p::s, q::s]. This avoids the zero-dilated input of
  the textbook formulation (75 % multiplications by zero for s = 2) and maps every
  phase onto the CPU's dense convolution kernels. The phases are zero-padded to a
  common size and interleaved by a stack + reshape (no scatter).
  """
  if stride == 1:
    return _conv_transpose_s1(h, kernel)
  n, hh, ww, _ = h.shape
  k, o = kernel.shape[0], kernel.shape[2]
  out_h, out_w = (hh - 1) * stride + k, (ww - 1) * stride + k
  ph, pw = -(-out_h // stride), -(-out_w // stride)
  rows = []
  for p in range(stride):
    cols = []
    for q in range(stride):
      y = _conv_transpose_s1(h, kernel[p::stride, q::stride])
      cols.append(jnp.pad(y, ((0, 0), (0, ph - y.shape[1]), (0, pw - y.shape[2]), (0, 0))))
    rows.append(jnp.stack(cols, axis=3))  # (n, ph, pw, s, o): column phase q
  out = jnp.stack(rows, axis=2)  # (n, ph, s, pw, s, o): row phase p
  return out.reshape(n, ph * stride, pw * stride, o)[:, :out_h, :out_w]


def _kernel(w, k, o):
  """(in, k*k*out) fused weight -> (k, k, out, in) transpose-conv kernel."""
  return w.reshape(w.shape[0], k, k, o).transpose(1, 2, 3, 0)


def decode_logits_batch(p: FusedDecoder, z: jax.Array) -> jax.Array:
  """Fused decoder of ONE class on a batch of latents z (N, L) -> logits (N, 28, 28)."""
  h = _elu((z @ p.w0).reshape(-1, 4, 4, 32) + p.b0)
  h = _elu(conv_transpose(h, _kernel(p.w1, 5, 16), 2) + p.b1)
  h = _elu(conv_transpose(h, _kernel(p.w2, 5, 16), 2) + p.b2)
  return (conv_transpose(h, _kernel(p.w3, 4, 1), 1) + p.b3)[..., 0]


def decode_logits(p: FusedDecoder, z: jax.Array) -> jax.Array:
  """Fused decoder for ONE class and ONE latent z (L,) -> logits (28, 28)."""
  return decode_logits_batch(p, z[None])[0]


def decode_image(p: FusedDecoder, z: jax.Array) -> jax.Array:
  """G_c(z) = sigmoid(decoder_c(z)) flattened to (784,) for one latent."""
  return jax.nn.sigmoid(decode_logits(p, z)).reshape(-1)


def score(p: FusedDecoder, z: jax.Array, x: jax.Array, beta: float) -> jax.Array:
  """e_c(x, z) = (||x - G_c(z)||^2 + beta * 0.5 * ||z||^2) / 784 for one (image, class)."""
  r = decode_image(p, z)
  return (jnp.sum((x - r) ** 2) + beta * 0.5 * jnp.sum(z ** 2)) / N_PIXELS


def _residual_energy(x, r, deadzone):
  if deadzone is None:
    return jnp.sum((x - r) ** 2, axis=-1)
  return jnp.sum(jax.nn.relu(jnp.abs(x - r) - deadzone) ** 2, axis=-1)


def _score_and_recon(p, z, x, beta, deadzone=None):
  r = decode_image(p, z)
  return (_residual_energy(x, r, deadzone) + beta * 0.5 * jnp.sum(z ** 2)) / N_PIXELS, r


def _class_params(params, c):
  return jax.tree_util.tree_map(lambda a: a[c], params)


def _scores_all(params, z, x, beta, class_mode='unroll', deadzone=None):
  """params: class-stacked; z (C, B, L); x (B, P) -> scores (C, B), recon (C, B, P).

  The per-(image, class) score is vmapped over images. Classes are looped with
  ``lax.map`` (class_mode='map', default: one dense batched convolution stack per class,
  compiled once), unrolled (class_mode='unroll': same kernels, ten copies in the program,
  slower to compile) or vmapped too (class_mode='vmap': XLA sees grouped convolutions,
  2-4x slower on CPU).
  """
  over_images = jax.vmap(_score_and_recon, in_axes=(None, 0, 0, None, None if deadzone is None
                                                                      else 0))
  if class_mode == 'map':
    return jax.lax.map(lambda pz: over_images(pz[0], pz[1], x, beta, deadzone), (params, z))
  if class_mode == 'vmap':
    return jax.vmap(over_images, in_axes=(0, 0, None, None, None))(params, z, x, beta, deadzone)
  if class_mode != 'unroll':
    raise ValueError("argument 'class_mode': expected 'map', 'unroll' or 'vmap', got "
                     f'{class_mode!r}')
  outs = [over_images(_class_params(params, c), z[c], x, beta, deadzone)
          for c in range(z.shape[0])]
  return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])


@jax.jit
def _decode_bank_chunk(params, z):
  n_cls = params.b0.shape[0]
  return jnp.stack([jax.nn.sigmoid(decode_logits_batch(_class_params(params, c), z)).reshape(
      z.shape[0], -1) for c in range(n_cls)])


def decode_bank(params: FusedDecoder, bank, chunk: int = 1000) -> jax.Array:
  """Decodes the bank with every class decoder -> (C, S, 784) float32."""
  bank = jnp.asarray(bank)
  n = bank.shape[0]
  parts = []
  for i in range(0, n, chunk):
    zb = bank[i:i + chunk]
    m = zb.shape[0]
    if m < chunk:
      zb = jnp.concatenate([zb, jnp.zeros((chunk - m, zb.shape[1]), zb.dtype)])
    parts.append(_decode_bank_chunk(params, zb)[:, :m])
  return jnp.concatenate(parts, axis=1)


def clip_latents(z: jax.Array, clip: float, mode: str = 'reference') -> jax.Array:
  """Projects latent vectors (..., L) onto the ball of radius ``clip``.

  mode 'reference' reproduces the authors' sign-dropping formula
  sqrt(z_j^2 clip^2 / ||z||^2); 'correct' rescales z * clip / ||z||.
  """
  n2 = jnp.sum(z ** 2, axis=-1, keepdims=True)
  outside = n2 > clip ** 2
  if mode == 'reference':
    proj = jnp.sqrt(z ** 2 * clip ** 2 / jnp.maximum(n2, 1e-30))
  elif mode == 'correct':
    proj = z * clip / jnp.sqrt(jnp.maximum(n2, 1e-30))
  else:
    raise ValueError(f"argument 'clip_mode': expected 'reference' or 'correct', got {mode!r}")
  return jnp.where(outside, proj, z)


def stage1(x, bank, bank_images, bank_sqnorm, beta, deadzone=None):
  """Best bank latent per (image, class): x (B, P) -> (scores (B, C), z0 (B, C, L)).

  With ``deadzone`` (B,) the residual is the soft-thresholded sum
  sum_i max(0, |x_i - G(z)_i| - deadzone)^2 (computed directly, class by class).
  """
  if deadzone is not None:
    kl = 0.5 * jnp.sum(bank ** 2, axis=-1)

    def per_class(imgs):
      d = jax.nn.relu(jnp.abs(x[:, None, :] - imgs[None]) - deadzone[:, None, None])
      return jnp.sum(d ** 2, -1)  # (B, S)
    e = (jnp.transpose(jax.lax.map(per_class, bank_images), (1, 0, 2)) + beta * kl) / N_PIXELS
    idx = jnp.argmin(e, axis=-1)
    return jnp.min(e, axis=-1), bank[idx]
  cross = jnp.einsum('bp,csp->bcs', x, bank_images)
  kl = 0.5 * jnp.sum(bank ** 2, axis=-1)
  e = (jnp.sum(x ** 2, -1)[:, None, None] + bank_sqnorm[None] - 2.0 * cross
       + beta * kl[None, None]) / N_PIXELS
  idx = jnp.argmin(e, axis=-1)
  return jnp.min(e, axis=-1), bank[idx]


@functools.partial(jax.jit, static_argnames=('n_iter', 'clip_mode', 'return_recon',
                                             'class_mode', 'use_deadzone', 'micro_batch'))
def latent_search(params: FusedDecoder, bank, bank_images, bank_sqnorm, x, *,
                  n_iter: int = 50, lr: float = 0.05, clip: float = 5.0,
                  clip_mode: str = 'reference', beta: float = 1.0,
                  return_recon: bool = False, class_mode: str = 'map',
                  deadzone=None, use_deadzone: bool = False, micro_batch: int = 0):
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
  kw = dict(n_iter=n_iter, lr=lr, clip=clip, clip_mode=clip_mode, beta=beta,
            return_recon=return_recon, class_mode=class_mode)
  if not micro_batch or b <= micro_batch:
    return _latent_search(params, bank, bank_images, bank_sqnorm, x, deadzone, **kw)
  n_chunks = -(-b // micro_batch)
  pad = n_chunks * micro_batch - b
  xs = jnp.pad(x, ((0, pad), (0, 0))).reshape(n_chunks, micro_batch, -1)
  dz = None if deadzone is None else jnp.pad(deadzone, (0, pad)).reshape(n_chunks, micro_batch)
  out = jax.lax.map(
      lambda a: _latent_search(params, bank, bank_images, bank_sqnorm, a[0], a[1], **kw),
      (xs, dz))
  return jax.tree_util.tree_map(lambda o: o.reshape((-1,) + o.shape[2:])[:b], out)


def _latent_search(params, bank, bank_images, bank_sqnorm, x, deadzone, *, n_iter, lr, clip,
                   clip_mode, beta, return_recon, class_mode):
  e0, z0 = stage1(x, bank, bank_images, bank_sqnorm, beta, deadzone)
  if n_iter == 0:
    out = {'scores': e0, 'latents': z0}
    if return_recon:
      _, r = _scores_all(params, jnp.swapaxes(z0, 0, 1), x, beta, class_mode, deadzone)
      out['recon'] = jnp.swapaxes(r, 0, 1)
    return out
  z = jnp.swapaxes(z0, 0, 1)  # (C, B, L): class-major inside

  def total(zz):
    e, _ = _scores_all(params, zz, x, beta, class_mode, deadzone)
    return jnp.sum(e)

  tx = optax.adam(lr)
  if class_mode == 'map':
    # classes are independent: per-class gradients inside one loop over classes
    def class_total(p, zc):
      e, _ = _scores_all(jax.tree_util.tree_map(lambda a: a[None], p), zc[None], x, beta,
                         'unroll', deadzone)
      return jnp.sum(e)
    grad_fn = lambda zz: jax.lax.map(lambda pz: jax.grad(class_total, argnums=1)(*pz),
                                     (params, zz))
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
  out = {'scores': e.T, 'latents': jnp.swapaxes(z, 0, 1)}
  if return_recon:
    out['recon'] = jnp.swapaxes(r, 0, 1)
  return out


def sharded_latent_search(mesh, params, bank, bank_images, bank_sqnorm, x, **kwargs):
  """``latent_search`` data-parallel over a 1-D device mesh (its first axis).

  x (B, 784) is split along B over the mesh (B must be divisible by its size); parameters and
  the decoded bank are replicated. Each device searches its own images; the images are
  independent, so the result equals ``latent_search`` on the whole batch. On a CPU host with
  several XLA host devices this runs the shards on different cores. ``kwargs``: the static
  and scalar options of ``latent_search`` (no ``deadzone``).
  """
  if x.shape[0] % mesh.size:
    raise ValueError(f"argument 'x': expected a batch divisible by the {mesh.size} devices of "
                     f"the mesh, got {x.shape[0]} images")
  return _sharded_search_fn(mesh, tuple(sorted(kwargs.items())))(
      params, bank, bank_images, bank_sqnorm, x)


@functools.lru_cache(maxsize=32)
def _sharded_search_fn(mesh, kw_items):
  from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top
  axis = mesh.axis_names[0]
  search = functools.partial(latent_search, **dict(kw_items))
  return jax.jit(jax.shard_map(search, mesh=mesh, in_specs=(P(), P(), P(), P(), P(axis)),
                               out_specs=P(axis)))


# --------------------------------------------------------------- utilities

def binarize(x):
  """0 where x < 0.5, 1 where x >= 0.5."""
  return (x >= 0.5).astype(x.dtype)


def confidence_softmax(logits, alpha: float = ABS_ALPHA, eta: float = ABS_ETA):
  """Calibrated probabilities (paper eq. 4): (exp(a s) + eta) / (sum exp(a s) + K eta).

  Computed in float64 NumPy (no max-shift: eta breaks shift invariance).
  """
  s = np.asarray(logits, np.float64)
  with np.errstate(over='ignore'):
    ex = np.exp(alpha * s)
  return (ex + eta) / (np.sum(ex, axis=-1, keepdims=True) + s.shape[-1] * eta)
