"""Minimal-norm attacks: Carlini-Wagner L2, DDN (L2) and HopSkipJump (L2 / L-inf).

Each attack searches, per sample, for the adversarial closest to the clean input, is batched over
samples (lock-step state machines under ``jax.jit``) and feeds every model query it classifies
into the shared :class:`~rvl_jax.attacks.core.Tracker`, so ``tracker.dist[metric]`` is the
smallest adversarial distance found (true Lp norms) and ``tracker.best[metric]`` the adversarial.

* :func:`carlini_wagner_l2` (Carlini & Wagner 2017, Sec. V-A): optimisation in tanh space,
  x = (tanh(w) + 1) / 2, of |x - x0|_2^2 + c * max(Z_y - max_{i != y} Z_i + kappa, 0) with Adam,
  and a per-sample binary search over the constant c (x10 until the first success).
* :func:`ddn` (Rony et al. 2019, Alg. 1, "Decoupling Direction and Norm"): a normalised gradient
  step on the cross-entropy, then the perturbation is rescaled onto the sphere of radius eps,
  where eps shrinks by a factor (1 - gamma) while the iterate is adversarial and grows by
  (1 + gamma) while it is not; the step size follows a cosine schedule.
* :func:`hop_skip_jump` (Chen, Jordan & Wainwright 2020, Alg. 1): decision-based; alternates a
  bisection to the decision boundary, a Monte-Carlo estimate of the boundary's normal from
  B_t = B_0 sqrt(t) random probes (Eq. 9, with the baseline of Eq. 16), and a geometric search
  for the step size along that direction (L2: the estimate; L-inf: its sign).

Targeted variants (``targets=``): Carlini-Wagner and DDN.
"""

from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.attacks import core
from rvl_jax.attacks.core import LogitsFn, Tracker, _per_sample

_TINY = 1e-12


def _norm(v, norm: str = "l2"):
  flat = v.reshape(v.shape[0], -1)
  if norm == "linf":
    return jnp.max(jnp.abs(flat), axis=1)
  return jnp.sqrt(jnp.sum(jnp.square(flat), axis=1))


def _margin(logits, label, targeted: bool):
  """Carlini-Wagner's f: (true - best other) logit, or (best other - target) when targeted.

  Negative exactly when the criterion holds (by a margin equal to its magnitude).
  """
  onehot = jax.nn.one_hot(label, logits.shape[-1], dtype=bool)
  own = jnp.sum(jnp.where(onehot, logits, 0.0), axis=-1)
  other = jnp.max(jnp.where(onehot, -jnp.inf, logits), axis=-1)
  return other - own if targeted else own - other


# ----------------------------------------------------------------------------- Carlini-Wagner


def _cw_impl(
  logits_fn,
  x,
  y,
  targets,
  *,
  binary_search_steps: int,
  steps: int,
  lr: float,
  initial_const: float,
  confidence: float,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary, targets=targets)
  n = x.shape[0]
  targeted = targets is not None
  label = targets if targeted else y
  w0 = jnp.arctanh(jnp.clip(2.0 * x - 1.0, -1.0 + 1e-6, 1.0 - 1e-6))
  to_x = lambda w: 0.5 * (jnp.tanh(w) + 1.0)  # noqa: E731
  opt = optax.adam(lr)

  def loss_fn(w, c):
    xa = to_x(w)
    logits = logits_fn(xa)
    f = jnp.maximum(_margin(logits, label, targeted) + confidence, 0.0)
    per = jnp.sum(jnp.square((xa - x).reshape(n, -1)), axis=1) + c * f
    return jnp.sum(per), (xa, logits)

  grad_fn = jax.grad(loss_fn, has_aux=True)

  def outer(state, _):
    tr, c, lo, hi = state
    active = tr.clean_correct

    def inner(i, s):
      w, opt_state, tr, ok = s
      g, (xa, logits) = grad_fn(w, c)
      adv = tr.adversarial(logits)
      tr = core.update(tr, xa, adv, active)
      ok = ok | (_margin(logits, label, targeted) <= -confidence)
      upd, opt_state = opt.update(g, opt_state, w)
      return optax.apply_updates(w, upd), opt_state, tr, ok

    init = (w0, opt.init(w0), tr, jnp.zeros((n,), bool))
    _, _, tr, ok = jax.lax.fori_loop(0, steps, inner, init)
    # Binary search over c: success -> smaller c; failure -> x10 until a success, then bisect.
    hi = jnp.where(ok, jnp.minimum(hi, c), hi)
    lo = jnp.where(ok, lo, jnp.maximum(lo, c))
    c = jnp.where(jnp.isfinite(hi), 0.5 * (lo + hi), c * 10.0)
    return (tr, c, lo, hi), None

  c0 = jnp.full((n,), initial_const, jnp.float32)
  state = (tr, c0, jnp.zeros((n,), jnp.float32), jnp.full((n,), jnp.inf, jnp.float32))
  (tr, *_), _ = jax.lax.scan(outer, state, None, length=binary_search_steps)
  return tr


_cw = core.static_jit(_cw_impl)


def carlini_wagner_l2(
  logits_fn: LogitsFn,
  x,
  y,
  *,
  binary_search_steps: int = 9,
  steps: int = 1000,
  lr: float = 0.01,
  initial_const: float = 1e-3,
  confidence: float = 0.0,
  targets=None,
  binary: bool = False,
) -> Tracker:
  """Carlini-Wagner L2 attack (Carlini & Wagner 2017).

  Cost per sample: ``binary_search_steps * steps`` gradient evaluations (defaults: 9 x 1000,
  Adam step 0.01, c starting at 1e-3, margin ``confidence`` = kappa).

  Args:
    logits_fn: the classifier, x -> (N, K) logits (differentiable).
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    binary_search_steps: binary-search steps on the constant c.
    steps: Adam steps per constant.
    lr: Adam learning rate.
    initial_const: the first c.
    confidence: the margin kappa (>= 0).
    targets: (N,) target labels of a targeted attack, or None.
    binary: post-process adversarials for a binarizing model.

  Returns:
    A :class:`Tracker` (minimal L2 in ``dist['l2']``).

  Raises:
    ValueError: naming ``confidence`` when it is negative.
  """
  x, y, _, targets = core.check_attack_args(
    logits_fn, x, y, norm="l2", targets=targets, supported_norms=("l2",)
  )
  if confidence < 0:
    raise ValueError(f"argument 'confidence': expected kappa >= 0, got {confidence}")
  return _cw(logits_fn, x, y, targets, **core.settings_of(_cw, locals()))


# ----------------------------------------------------------------------------- DDN


def _ddn_impl(
  logits_fn,
  x,
  y,
  targets,
  *,
  steps: int,
  gamma: float,
  init_eps: float,
  max_step: float,
  min_step: float,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary, targets=targets)
  targeted = targets is not None
  label = targets if targeted else y
  sign = -1.0 if targeted else 1.0
  n = x.shape[0]
  max_norm = jnp.sqrt(float(np.prod(x.shape[1:])))

  def loss(xa):
    logits = logits_fn(xa)
    return jnp.sum(core.cross_entropy(logits, label)), logits

  grad_fn = jax.grad(loss, has_aux=True)

  def body(i, s):
    tr, delta, eps = s
    xa = x + delta
    g, logits = grad_fn(xa)
    adv = tr.adversarial(logits)
    tr = core.update(tr, xa, adv, tr.clean_correct)
    # Cosine-annealed step size (Rony et al. 2019, Sec. 4).
    alpha = min_step + 0.5 * (max_step - min_step) * (1.0 + jnp.cos(jnp.pi * i / steps))
    g = sign * g
    g = g / _per_sample(_norm(g) + _TINY, g)
    delta = delta + alpha * g
    eps = jnp.where(adv, (1.0 - gamma) * eps, (1.0 + gamma) * eps)
    eps = jnp.minimum(eps, max_norm)
    delta = delta * _per_sample(eps / (_norm(delta) + _TINY), delta)
    delta = core.clip(x + delta) - x
    return tr, delta, eps

  init = (tr, jnp.zeros_like(x), jnp.full((n,), init_eps, jnp.float32))
  tr, delta, _ = jax.lax.fori_loop(0, steps, body, init)
  # The last iterate is a query too.
  tr, _, _ = core.query(tr, logits_fn, x + delta, tr.clean_correct)
  return tr


_ddn = core.static_jit(_ddn_impl)


def _restrict(logits_fn, tr: Tracker, eps):
  """Fixed-budget view of a minimal-norm result: the closest adversarial restricted to the L2
  ball of each radius; returns (x_adv (E, N, ...), success (E, N))."""
  x0, best = tr.x0, tr.best["l2"]
  delta = best - x0
  xs, oks = [], []
  for e in np.atleast_1d(eps):
    factor = jnp.minimum(1.0, float(e) / jnp.maximum(_norm(delta), _TINY))
    xa = core.clip(x0 + delta * _per_sample(factor, delta))
    xs.append(xa)
    oks.append(tr.adversarial(logits_fn(xa)))
  return jnp.stack(xs), jnp.stack(oks)


def ddn(
  logits_fn: LogitsFn,
  x,
  y,
  *,
  eps=None,
  n_iter: int = 100,
  gamma: float = 0.05,
  init_eps: float = 1.0,
  max_step: float = 1.0,
  min_step: float = 0.01,
  targets=None,
  binary: bool = False,
):
  """Decoupled Direction and Norm attack (Rony et al. 2019; L2, gradient-based, minimal-norm).

  Args:
    logits_fn: the classifier, x -> (N, K) logits (differentiable).
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    eps: None: return the tracker (minimal L2 in ``dist['l2']``). A radius or a list of radii:
      return ``(x_adv, success, tracker)``, x_adv being the closest adversarial restricted to
      each L2 ball (shapes (N, ...)/(N,) for a scalar, (E, N, ...)/(E, N) for a list).
    n_iter: gradient steps (one query each).
    gamma: the norm's multiplicative update, in (0, 1).
    init_eps: the starting radius.
    max_step: the cosine step-size schedule's first step.
    min_step: ... and its last.
    targets: (N,) target labels of a targeted attack, or None.
    binary: post-process adversarials for a binarizing model.

  Returns:
    The tracker, or ``(x_adv, success, tracker)`` when ``eps`` is given (see ``eps``).

  Raises:
    ValueError: naming ``gamma`` when it is outside (0, 1).
  """
  x, y, eps_arr, targets = core.check_attack_args(
    logits_fn, x, y, norm="l2", eps=eps, targets=targets, supported_norms=("l2",)
  )
  if not 0.0 < gamma < 1.0:
    raise ValueError(f"argument 'gamma': expected 0 < gamma < 1, got {gamma}")
  tr = _ddn(logits_fn, x, y, targets, **core.settings_of(_ddn, locals(), steps=n_iter))
  if eps_arr is None:
    return tr
  xa, ok = _restrict(logits_fn, tr, eps_arr)
  if eps_arr.ndim == 0:
    return xa[0], ok[0], tr
  return xa, ok, tr


# ----------------------------------------------------------------------------- HopSkipJump


def _toward(x0, xa, t, norm):
  """Point at fraction t (per sample) of the way from x0 to xa: the segment for L2, the
  L-inf ball of radius t * |xa - x0|_inf clipped around x0 for L-inf (Chen et al. Eq. 12)."""
  tt = _per_sample(t, x0)
  if norm == "l2":
    return (1.0 - tt) * x0 + tt * xa
  r = tt * _per_sample(_norm(xa - x0, "linf"), x0)
  return x0 + jnp.clip(xa - x0, -r, r)


def _hsj_impl(
  logits_fn,
  x,
  y,
  key,
  *,
  norm: str,
  iterations: int,
  init_evals: int,
  max_evals: int,
  gamma: float,
  bisect_steps: int,
  max_step_halvings: int,
  init_noise_draws: int,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  n = x.shape[0]
  d = int(np.prod(x.shape[1:]))
  theta = gamma / (d**1.5) if norm == "l2" else gamma / (d**2)
  is_adv = lambda z: core.is_adversarial(logits_fn(z), y)  # noqa: E731

  # Initialisation (Chen et al. Sec. 4): uniform noise until misclassified.
  def init_body(s):
    i, found, xa, key = s
    key, sub = jax.random.split(key)
    cand = jax.random.uniform(sub, x.shape)
    take = is_adv(cand) & ~found
    return i + 1, found | take, jnp.where(_per_sample(take, x), cand, xa), key

  key, k_init = jax.random.split(key)
  init = (0, ~tr.clean_correct, x, k_init)
  n_init, found, xa, _ = core.while_undone(init_noise_draws, init_body, init, done=1)
  active = found & tr.clean_correct
  queries = jnp.where(tr.clean_correct, n_init, 0)

  def bisect(xa):
    """Boundary point between x and the adversarial xa (its adversarial side)."""

    def body(_, s):
      lo, hi = s
      mid = 0.5 * (lo + hi)
      adv = is_adv(_toward(x, xa, mid, norm))
      return jnp.where(adv, lo, mid), jnp.where(adv, mid, hi)

    _, hi = jax.lax.fori_loop(0, bisect_steps, body, (jnp.zeros((n,)), jnp.ones((n,))))
    return _toward(x, xa, hi, norm)

  xb = bisect(xa)
  tr = core.update(tr, xb, is_adv(xb), active)
  queries = queries + bisect_steps

  def grad_estimate(key, xb, delta, n_chunks):
    """Monte-Carlo estimate of the boundary normal at xb (baseline-corrected, Eq. 16)."""

    def body(i, s):
      key, s_fu, s_f, s_u = s
      key, sub = jax.random.split(key)
      shape = (init_evals, n) + x.shape[1:]
      if norm == "l2":
        u = jax.random.normal(sub, shape)
      else:
        u = jax.random.uniform(sub, shape, minval=-1.0, maxval=1.0)
      u = u / jnp.reshape(jax.vmap(_norm)(u), (init_evals, n) + (1,) * (x.ndim - 1))
      dd = jnp.reshape(delta, (1, n) + (1,) * (x.ndim - 1))
      probe = core.clip(xb[None] + dd * u)
      u = (probe - xb[None]) / dd
      lg = logits_fn(probe.reshape((init_evals * n,) + x.shape[1:]))
      adv = core.is_adversarial(lg, jnp.tile(y, init_evals)).reshape(init_evals, n)
      ph = jnp.where(adv, 1.0, -1.0)
      return (
        key,
        s_fu + jnp.einsum("bn,bn...->n...", ph, u),
        s_f + jnp.sum(ph, 0),
        s_u + jnp.sum(u, 0),
      )

    z = jnp.zeros_like(x)
    # n_chunks is the same for every sample (it depends on t only): a dynamic trip count.
    _, s_fu, s_f, s_u = jax.lax.fori_loop(0, n_chunks, body, (key, z, jnp.zeros((n,)), z))
    count = (n_chunks * init_evals).astype(jnp.float32)
    mean_f = s_f / count
    g = s_fu / count - _per_sample(mean_f, z) * s_u / count
    # All probes on one side: the mean direction with that side's sign (as the reference code).
    one_sided = jnp.abs(mean_f) == 1.0
    g = jnp.where(_per_sample(one_sided, z), _per_sample(mean_f, z) * s_u / count, g)
    return g / _per_sample(_norm(g) + _TINY, g)

  def body(t, s):
    tr, xb, key, queries = s
    key, k1 = jax.random.split(key)
    dist = _norm(xb - x, norm)
    delta = (jnp.sqrt(float(d)) if norm == "l2" else float(d)) * theta * dist
    evals = jnp.minimum(init_evals * jnp.sqrt(t.astype(jnp.float32)), max_evals)
    n_chunks = jnp.maximum(1, jnp.ceil(evals / init_evals)).astype(jnp.int32)
    g = grad_estimate(k1, xb, delta, n_chunks)
    v = g if norm == "l2" else jnp.sign(g)
    # Geometric step-size search: eps = dist / sqrt(t), halved until the step stays adversarial.
    eps = dist / jnp.sqrt(t.astype(jnp.float32))

    def step_cond(s):
      j, eps, ok = s
      return (j < max_step_halvings) & ~jnp.all(ok | ~active)

    def step_body(s):
      j, eps, ok = s
      adv = is_adv(core.clip(xb + _per_sample(eps, x) * v))
      return j + 1, jnp.where(ok | adv, eps, 0.5 * eps), ok | adv

    n_halve, eps, ok = jax.lax.while_loop(step_cond, step_body, (0, eps, jnp.zeros((n,), bool)))
    moved = jnp.where(_per_sample(ok & active, x), core.clip(xb + _per_sample(eps, x) * v), xb)
    xb_new = bisect(moved)
    # The boundary point (adversarial side) is what the tracker sees of this iteration; the
    # probes, step-size trials and bisection queries are counted.
    tr = core.update(tr, xb_new, is_adv(xb_new), active)
    q = n_chunks * init_evals + n_halve + bisect_steps
    return tr, xb_new, key, queries + q

  tr, _, _, queries = jax.lax.fori_loop(1, iterations + 1, body, (tr, xb, key, queries))
  return tr.replace(queries=tr.queries + jnp.where(active, queries, 0))


_hsj = core.static_jit(_hsj_impl)


def hop_skip_jump(
  logits_fn: LogitsFn,
  x,
  y,
  key,
  *,
  norm: str = "l2",
  iterations: int = 64,
  init_evals: int = 100,
  max_evals: int = 10_000,
  gamma: float = 1.0,
  bisect_steps: Optional[int] = None,
  max_step_halvings: int = 25,
  init_noise_draws: int = 100,
  binary: bool = False,
) -> Tracker:
  """HopSkipJump (Chen et al. 2020; decision-based, minimal-norm).

  Cost per sample: about sum_t min(init_evals sqrt(t), max_evals) probes for the gradient
  estimates (~34,000 for 64 iterations at the defaults) plus ``bisect_steps`` queries per
  bisection and up to ``max_step_halvings`` per step-size search. ``bisect_steps=None`` takes
  the paper's resolution theta = gamma / d^(3/2) (L2) or gamma / d^2 (L-inf).

  Args:
    logits_fn: the classifier, x -> (N, K) logits (only decisions are used).
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    key: JAX PRNG key.
    norm: 'l2' or 'linf'.
    iterations: attack iterations.
    init_evals: gradient-estimate probes of the first iteration (grows with sqrt(t)).
    max_evals: the most probes per gradient estimate.
    gamma: sets the bisection resolution theta.
    bisect_steps: bisection queries per boundary search (None: from theta).
    max_step_halvings: the most halvings of the geometric step-size search.
    init_noise_draws: uniform-noise draws of the initialisation.
    binary: post-process adversarials for a binarizing model.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm=norm)
  d = int(np.prod(x.shape[1:]))
  if bisect_steps is None:
    theta = gamma / (d**1.5) if norm == "l2" else gamma / (d**2)
    bisect_steps = int(math.ceil(math.log2(1.0 / theta)))
  return _hsj(logits_fn, x, y, key, **core.settings_of(_hsj, locals()))
