"""Fast Adaptive Boundary attack, FAB and FAB-T (Croce & Hein, ICML 2020, "Minimally distorted
adversarial examples with a fast adaptive boundary attack"), L-inf and L2.

Each step linearises the classifier at the current iterate, picks the decision hyperplane of the
class closest in the dual norm (untargeted) or of the target class (FAB-T, used by AutoAttack),
and computes the minimal-norm steps onto that hyperplane, inside the box [0, 1], both from the
iterate (``d1``) and from the clean input (``d2``). The new iterate is the convex combination
``(x + eta d1)(1 - alpha) + (x0 + eta d2) alpha`` with ``alpha = min(|d1| / (|d1| + |d2|),
alpha_max)`` (biasing towards the clean input, Sec. 3.2); once an iterate is adversarial it is
recorded if closer than the best so far and pulled back towards the clean input by the factor
``beta`` (Sec. 3.3). Restarts after the first start at a random point of radius
``eps / 2`` around the clean input.

The box-constrained projection onto a hyperplane ``w . z = b`` from a point ``p`` is solved in
closed form: with ``v = -sign(w . p - b) w`` the optimum moves coordinate i by
``sign(v_i) min(s |v_i|, cap_i)`` (L2) or ``sign(v_i) min(s, cap_i)`` (L-inf), ``cap_i`` the room
to the box boundary, where the scalar ``s`` makes ``sum_i a_i min(s, mu_i) = |w . p - b|``; this
piecewise-linear equation is solved exactly after sorting its breakpoints ``mu_i``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from rvl_jax.attacks import apgd_attack as _ap
from rvl_jax.attacks import core

_TINY = 1e-12


def box_hyperplane_step(p: jax.Array, w: jax.Array, b: jax.Array, norm: str) -> jax.Array:
  """Smallest-norm ``d`` (per row) with ``w . (p + d) = b`` and ``p + d`` in [0, 1].

  p, w: (N, D); b: (N,). When the hyperplane cannot be reached inside the box, ``d`` goes as
  far towards it as the box allows.
  """
  c = jnp.sum(w * p, axis=1) - b
  v = -jnp.sign(c)[:, None] * w
  cap = jnp.where(v > 0, 1.0 - p, p)
  av = jnp.abs(v)
  nz = av > _TINY
  if norm == "l2":
    a = jnp.where(nz, av * av, 0.0)
    mu = jnp.where(nz, cap / jnp.where(nz, av, 1.0), 0.0)
  else:
    a = jnp.where(nz, av, 0.0)
    mu = jnp.where(nz, cap, 0.0)
  order = jnp.argsort(mu, axis=1)
  mu_s = jnp.take_along_axis(mu, order, axis=1)
  a_s = jnp.take_along_axis(a, order, axis=1)
  cum_am = jnp.cumsum(a_s * mu_s, axis=1)
  cum_a = jnp.cumsum(a_s, axis=1)
  total = cum_a[:, -1:]
  g_at = cum_am + mu_s * (total - cum_a)  # G(mu_(k)) = sum_i a_i min(mu_(k), mu_i)
  need = jnp.abs(c)
  k = jnp.sum(g_at < need[:, None], axis=1)  # first breakpoint with G >= |c|
  km1 = jnp.maximum(k - 1, 0)[:, None]
  lin = jnp.where(k > 0, jnp.take_along_axis(cum_am, km1, axis=1)[:, 0], 0.0)
  slope = jnp.where(k > 0, total[:, 0] - jnp.take_along_axis(cum_a, km1, axis=1)[:, 0], total[:, 0])
  s = (need - lin) / jnp.maximum(slope, _TINY)
  s = jnp.where(k < p.shape[1], s, mu_s[:, -1])
  if norm == "l2":
    d = jnp.sign(v) * jnp.minimum(s[:, None] * av, cap)
  else:
    d = jnp.sign(v) * jnp.minimum(s[:, None], cap)
  return jnp.where(nz, d, 0.0)


def _fab_run_impl(
  logits_fn,
  inputs,
  eps,
  *,
  norm: str,
  n_iter: int,
  targeted: bool,
  alpha_max: float,
  eta: float,
  beta: float,
  stop_at_eps: bool,
):
  x0, y, target, keys, restart = (
    inputs["x"],
    inputs["y"],
    inputs["target"],
    inputs["key"],
    inputs["restart"],
  )
  n = x0.shape[0]
  flat0 = x0.reshape(n, -1)

  if norm == "linf":
    t = jax.vmap(lambda k: jax.random.uniform(k, x0.shape[1:], minval=-1.0, maxval=1.0))(keys)
  else:
    t = jax.vmap(lambda k: jax.random.normal(k, x0.shape[1:]))(keys)
  t = t / _ap.per_sample(_ap.lp_norm(t, norm) + _TINY, t)
  start = core.clip(x0 + 0.5 * eps * t)
  x1 = jnp.where(_ap.per_sample(restart > 0, x0), start, x0)

  def hyperplane(x):
    """(df, dg): the linearised decision function f_t - f_y at x and its gradient."""
    logits, vjp = jax.vjp(logits_fn, x)
    k = logits.shape[-1]
    oh_y = jax.nn.one_hot(y, k, dtype=logits.dtype)
    if targeted:
      oh_t = jax.nn.one_hot(target, k, dtype=logits.dtype)
      df = jnp.sum(logits * (oh_t - oh_y), axis=1)
      dg = vjp(oh_t - oh_y)[0].reshape(n, -1)
      return df, dg
    grads = jax.vmap(lambda e: vjp(jnp.broadcast_to(e, logits.shape))[0])(
      jnp.eye(k, dtype=logits.dtype)
    )  # (K, N, ...)
    grads = jnp.moveaxis(grads, 0, 1).reshape(n, k, -1)
    g_y = jnp.take_along_axis(grads, y[:, None, None], axis=1)
    dgs = grads - g_y
    z_y = jnp.take_along_axis(logits, y[:, None], axis=1)
    dfs = logits - z_y
    dual = jnp.sum(jnp.abs(dgs), -1) if norm == "linf" else jnp.sqrt(jnp.sum(dgs * dgs, -1))
    dist = jnp.abs(dfs) / (dual + _TINY)
    dist = jnp.where(oh_y > 0, jnp.inf, dist)
    kk = jnp.argmin(dist, axis=1)
    return (
      jnp.take_along_axis(dfs, kk[:, None], axis=1)[:, 0],
      jnp.take_along_axis(dgs, kk[:, None, None], axis=1)[:, 0],
    )

  def cond(s):
    i, _, best, _ = s
    go = i < n_iter
    if stop_at_eps:
      go = go & jnp.any(best > eps)
    return go

  def body(s):
    i, x1, best, x_best = s
    df, dg = hyperplane(x1)
    f1 = x1.reshape(n, -1)
    b = jnp.sum(dg * f1, axis=1) - df
    d1 = box_hyperplane_step(f1, dg, b, norm)
    d2 = box_hyperplane_step(flat0, dg, b, norm)
    a1 = jnp.maximum(_ap.lp_norm(d1, norm), 1e-8)
    a2 = jnp.maximum(_ap.lp_norm(d2, norm), 1e-8)
    alpha = jnp.clip(a1 / (a1 + a2), 0.0, alpha_max)[:, None]
    xn = jnp.clip((f1 + eta * d1) * (1.0 - alpha) + (flat0 + eta * d2) * alpha, 0.0, 1.0)
    xn = xn.reshape(x0.shape)
    adv = core.is_adversarial(logits_fn(xn), y)
    dist = _ap.lp_norm(xn - x0, norm)
    better = adv & (dist < best)
    x_best = jnp.where(_ap.per_sample(better, x0), xn, x_best)
    best = jnp.where(better, dist, best)
    x1 = jnp.where(_ap.per_sample(adv, x0), x0 + beta * (xn - x0), xn)
    return i + 1, x1, best, x_best

  best0 = jnp.full((n,), jnp.inf, jnp.float32)
  _, _, best, x_best = jax.lax.while_loop(cond, body, (jnp.int32(0), x1, best0, x0))
  return best <= eps, x_best


_fab_run = core.static_jit(_fab_run_impl)


def fab(
  logits_fn,
  x,
  y,
  key,
  *,
  norm: str = "linf",
  eps: float,
  n_iter: int = 100,
  n_restarts: int = 1,
  targeted: bool = False,
  targets=None,
  n_target_classes: Optional[int] = None,
  alpha_max: float = 0.1,
  eta: float = 1.05,
  beta: float = 0.9,
  batch_size: int = 256,
  robust=None,
  show_progress: bool = False,
) -> Tuple[jax.Array, jax.Array]:
  """FAB (untargeted) or FAB-T (``targeted=True``) at radius ``eps`` (Croce & Hein 2020).

  A point counts as fooled when FAB found an adversarial within the true Lp radius ``eps``
  (the run for a batch stops once every point has one). FAB-T goes over the
  ``n_target_classes`` classes with the largest clean logits after the top one (9 in
  AutoAttack), or uses the given ``targets``; one of the two is required.

  Args:
    logits_fn: classifier ``f(x) -> (N, K)`` on inputs in [0, 1] (differentiable).
    x: float images (N, H, W, C) in [0, 1].
    y: integer labels (N,).
    key: PRNG key (random restarts).
    norm: 'linf' or 'l2'.
    eps: the true Lp radius.
    n_iter: iterations per run.
    n_restarts: runs, each only on points not yet fooled.
    targeted: FAB-T.
    targets: (N,) one target class per sample.
    n_target_classes: target classes per point (largest clean logits after the top one).
    alpha_max: the largest bias towards the clean input.
    eta: overshoot of the projection step.
    beta: backward step towards the clean input once adversarial.
    batch_size: largest batch per compiled call.
    robust: optional (N,) bool, attack only these points.
    show_progress: a progress line with rate and ETA.

  Returns:
    (x_adv, fooled (N,) bool), as :func:`rvl_jax.attacks.apgd_attack.apgd`.
  """
  x, y, k = _ap.check_attack_args(logits_fn, x, y, norm=norm, eps=eps)
  _ap.check_budget(n_iter=n_iter, n_restarts=n_restarts, batch_size=batch_size)
  clean_logits = logits_fn(x)
  runs = _ap.resolve_targets(targeted, targets, n_target_classes, k, clean_logits, x.shape[0])
  settings = core.settings_of(_fab_run, locals(), stop_at_eps=True)
  fn = lambda inp: _fab_run(logits_fn, inp, jnp.float32(eps), **settings)
  name = "fab-t" if targeted else "fab"
  return _ap.sweep(fn, x, y, key, clean_logits, runs, **core.settings_of(_ap.sweep, locals()))
