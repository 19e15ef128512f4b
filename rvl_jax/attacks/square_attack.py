"""Square Attack (Andriushchenko et al., ECCV 2020): score-based random search, L-inf and L2.

Only the logits are used (no gradients). Starting from a random point on the boundary of the
eps-ball (L-inf: vertical stripes of +-eps, Sec. 3.1; L2: a grid of the "eta" patterns below,
Sec. 3.2), every iteration proposes a change of the current best point inside one random square
window and keeps it if the margin loss ``z_y - max_{k != y} z_k`` decreases; a point is done
once the margin is negative. The side of the window follows the schedule of the fraction ``p``
of pixels changed: ``p_init`` halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000
iterations on a 10,000-iteration scale (rescaled to ``n_queries``).

* L-inf: the window is set to ``x0 +- eps`` (one random sign per channel).
* L2: a new zero-mean pattern made of two opposite "rings" (each pixel at Chebyshev distance r
  from its half's centre gets ``sum_{k >= r} 1 / (k + 1)^2``) is added in window 1, the mass of
  window 2 is moved into window 1, and the whole perturbation is rescaled to the L2 sphere of
  radius eps (Alg. 3).

Every iteration costs one forward pass; ``n_queries`` bounds the iterations (5000 in AutoAttack).
Windows are drawn per sample; all samples of a batch advance in lock step and the loop stops
when every sample is fooled.
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.attacks import apgd_attack as _ap
from rvl_jax.attacks import core

_TINY = 1e-12
_P_STEPS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(i: jax.Array, n_queries: int, p_init: float) -> jax.Array:
  """Fraction of pixels changed at iteration ``i`` (0-based)."""
  it = jnp.floor(i.astype(jnp.float32) / n_queries * 10000.0)
  halvings = jnp.sum(it[..., None] > jnp.asarray(_P_STEPS, jnp.float32), axis=-1)
  return p_init / jnp.power(2.0, halvings.astype(jnp.float32))


def _margin(logits, y):
  z_y = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
  other = jnp.max(jnp.where(jax.nn.one_hot(y, logits.shape[-1]) > 0, -jnp.inf, logits), axis=1)
  return z_y - other


def _window(h, w, top, left, size):
  """(N, H, W, 1) masks of the square windows [top, top + size) x [left, left + size)."""
  r = jnp.arange(h)[None, :, None]
  c = jnp.arange(w)[None, None, :]
  top, left = top[:, None, None], left[:, None, None]
  m = (r >= top) & (r < top + size) & (c >= left) & (c < left + size)
  return m[..., None]


def _ring_half(i, j, a, b, table):
  """Ring pattern of an a x b rectangle at (i, j): sum_{k >= r} 1/(k+1)^2, r = Chebyshev
  distance to the centre (a // 2, b // 2)."""
  r = jnp.maximum(jnp.abs(i - a // 2), jnp.abs(j - b // 2))
  k_max = jnp.maximum(a // 2, b // 2) + 1
  return table[k_max] - table[jnp.minimum(r, k_max)]


def _eta_pattern(h, w, top, left, size, transpose):
  """(N, H, W, 1) canvas holding the unit-norm two-ring pattern of side ``size`` in the window."""
  table = jnp.concatenate([jnp.zeros((1,)), jnp.cumsum(1.0 / jnp.arange(1, h + w + 3) ** 2)])
  ii = jnp.arange(h)[None, :, None] - top[:, None, None]
  jj = jnp.arange(w)[None, None, :] - left[:, None, None]
  flip = transpose[:, None, None]
  ii, jj = jnp.where(flip, jj, ii), jnp.where(flip, ii, jj)
  inside = (ii >= 0) & (ii < size) & (jj >= 0) & (jj < size)
  half = size // 2
  top_part = inside & (ii < half)
  low_part = inside & (ii >= half)
  up = jnp.where(top_part, _ring_half(ii, jj, half, size, table), 0.0)
  lo = jnp.where(low_part, _ring_half(ii - half, jj, size - half, size, table), 0.0)
  nrm = lambda v: jnp.sqrt(jnp.sum(v * v, axis=(1, 2), keepdims=True)) + _TINY
  pat = up / nrm(up) - lo / nrm(lo)
  return (pat / nrm(pat))[..., None]


def _per_channel_norm(v):
  return jnp.sqrt(jnp.sum(v * v, axis=(1, 2), keepdims=True))


def _square_run_impl(logits_fn, inputs, eps, *, norm: str, n_queries: int, p_init: float):
  x0, y, keys = inputs["x"], inputs["y"], inputs["key"]
  n, h, w, c = x0.shape
  sign = lambda k, shape: jnp.where(jax.random.bernoulli(k, 0.5, shape), 1.0, -1.0)

  k_init = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
  if norm == "linf":
    stripes = jax.vmap(lambda k: sign(k, (1, w, c)))(k_init[:, 0])
    x_best = core.clip(x0 + eps * stripes)
  else:
    # A 5 x 5 grid of two-ring tiles of side H // 5, random sign (per channel) and orientation
    # per tile; the tile canvases are constants.
    s0 = h // 5
    sp = (h - 5 * s0) // 2
    tile = -np.ones((h, w), np.int32)
    for ti in range(5):
      for tj in range(5):
        tile[sp + ti * s0 : sp + (ti + 1) * s0, sp + tj * s0 : sp + (tj + 1) * s0] = 5 * ti + tj
    with jax.ensure_compile_time_eval():
      tops = jnp.asarray(sp + s0 * (np.arange(25) // 5), jnp.int32)
      lefts = jnp.asarray(sp + s0 * (np.arange(25) % 5), jnp.int32)
      canv = [
        jnp.sum(_eta_pattern(h, w, tops, lefts, s0, jnp.full((25,), t))[..., 0], axis=0)
        for t in (False, True)
      ]
    idx = jnp.asarray(np.maximum(tile, 0))
    sg = jax.vmap(lambda k: sign(k, (25, c)))(k_init[:, 1])[:, idx]  # (N, H, W, C)
    flip = jax.vmap(lambda k: jax.random.bernoulli(k, 0.5, (25,)))(k_init[:, 2])[:, idx]
    pat = jnp.where(flip, canv[1][None], canv[0][None]) * jnp.asarray(tile >= 0)[None]
    delta = pat[..., None] * sg
    x_best = core.clip(x0 + eps * delta / _ap.per_sample(_ap.lp_norm(delta, "l2") + _TINY, delta))
  m_best = _margin(logits_fn(x_best), y)

  def cond(s):
    i, _, m = s
    return (i < n_queries) & jnp.any(m > 0)

  def body(s):
    i, x_best, m_best = s
    ks = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, i), 6))(keys)
    p = p_schedule(i, n_queries, p_init)
    side = jnp.round(jnp.sqrt(p * h * w)).astype(jnp.int32)
    if norm == "linf":
      side = jnp.clip(side, 1, min(h, w))
    else:
      side = jnp.maximum(side, 3)
      side = jnp.minimum(side + (1 - side % 2), min(h, w))
    draw = lambda k, hi: jax.vmap(lambda kk: jax.random.randint(kk, (), 0, hi + 1))(k)
    top, left = draw(ks[:, 0], h - side), draw(ks[:, 1], w - side)
    win = _window(h, w, top, left, side)
    sg = jax.vmap(lambda k: sign(k, (1, 1, c)))(ks[:, 2])
    if norm == "linf":
      x_new = jnp.where(win, core.clip(x0 + eps * sg), x_best)
    else:
      top2, left2 = draw(ks[:, 3], h - side), draw(ks[:, 4], w - side)
      win2 = _window(h, w, top2, left2, side)
      tr = jax.vmap(jax.random.bernoulli)(ks[:, 5])
      delta = x_best - x0
      in1 = jnp.where(win, delta, 0.0)
      new = _eta_pattern(h, w, top, left, side, tr) * sg + in1 / (_per_channel_norm(in1) + _TINY)
      room = jnp.maximum(eps**2 - jnp.square(_ap.lp_norm(delta, "l2")), 0.0) / c
      both = _ap.lp_norm(jnp.where(win | win2, delta, 0.0), "l2")
      scale = jnp.sqrt(room + both**2)
      new = new / (_per_channel_norm(new) + _TINY) * _ap.per_sample(scale, new)
      delta = jnp.where(win, new, jnp.where(win2, 0.0, delta))
      x_new = core.clip(x0 + eps * delta / _ap.per_sample(_ap.lp_norm(delta, "l2") + _TINY, delta))
    m_new = _margin(logits_fn(x_new), y)
    accept = (m_best > 0) & (m_new < m_best)
    x_best = jnp.where(_ap.per_sample(accept, x0), x_new, x_best)
    return i + 1, x_best, jnp.where(accept, m_new, m_best)

  _, x_best, _ = jax.lax.while_loop(cond, body, (jnp.int32(0), x_best, m_best))
  return core.is_adversarial(logits_fn(x_best), y), x_best


_square_run = core.static_jit(_square_run_impl)


def square(
  logits_fn,
  x,
  y,
  key,
  *,
  norm: str = "linf",
  eps: float,
  n_queries: int = 5000,
  n_restarts: int = 1,
  p_init: float = 0.8,
  batch_size: int = 256,
  robust=None,
  show_progress: bool = False,
) -> Tuple[jax.Array, jax.Array]:
  """Square Attack (Andriushchenko et al. 2020) at radius ``eps`` (true Lp norm).

  Args:
    logits_fn: classifier ``f(x) -> (N, K)`` on inputs in [0, 1] (only scores are used).
    x: float images (N, H, W, C) in [0, 1].
    y: integer labels (N,).
    key: PRNG key.
    norm: 'linf' or 'l2'.
    eps: the true Lp radius.
    n_queries: iterations (one model query each) per run.
    n_restarts: runs, each only on points not yet fooled.
    p_init: initial fraction of pixels in the window (0.8 as in AutoAttack).
    batch_size: largest batch per compiled call.
    robust: optional (N,) bool, attack only these points.
    show_progress: a progress line with rate and ETA.

  Returns:
    (x_adv, fooled (N,) bool), as :func:`rvl_jax.attacks.apgd_attack.apgd`.

  Raises:
    ValueError: naming ``p_init`` when it is outside (0, 1].
  """
  x, y, _ = _ap.check_attack_args(logits_fn, x, y, norm=norm, eps=eps)
  _ap.check_budget(n_queries=n_queries, n_restarts=n_restarts, batch_size=batch_size)
  if not 0.0 < float(p_init) <= 1.0:
    raise ValueError(f"argument 'p_init': expected a fraction in (0, 1], got {p_init!r}")
  clean_logits = logits_fn(x)
  runs = [np.zeros((x.shape[0],), np.int32)]
  settings = core.settings_of(_square_run, locals())
  fn = lambda inp: _square_run(logits_fn, inp, jnp.float32(eps), **settings)
  name = "square"
  return _ap.sweep(fn, x, y, key, clean_logits, runs, **core.settings_of(_ap.sweep, locals()))
