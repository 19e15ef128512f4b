"""Exact clipping-aware projection of a perturbation onto the L2 epsilon sphere (Rusak et
al. 2020, Sec. 3.2).

Given images ``x`` in [0, 1] and raw perturbations ``delta`` find, per image, the scalar
``eta >= 0`` with ``||clip(x + eta * delta, 0, 1) - x||_2 = eps`` and return the perturbed
image.  The squared norm as a function of ``t = eta**2`` is piecewise linear with knots
``t_i = s_i**2 / delta_i**2`` (``s_i`` the head-room in the direction of ``delta_i``), so the
solution is found exactly by sorting the knots (Rauber & Bethge's clipping-aware rescaling).
Gradients flow through ``eta`` (via the active segment's closed form; the knot positions,
which only select the segment, are stop-gradient'ed to keep the backward pass finite).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_FLOOR = 1e-20
# Floor of the active-slope denominator: its square (1e-24) stays a normal float32, so the
# derivative of 1 / slope can never become inf (0 * inf = NaN in the backward pass).
_SLOPE_FLOOR = 1e-12


def _solve_eta(x: jax.Array, d: jax.Array, eps: jax.Array) -> jax.Array:
  """Scalar eta for one flattened image ``x`` and direction ``d``.

  Gradients: eta is differentiable through the active segment's closed form
  ``t* = (eps^2 - sum_{saturated} s^2) / sum_{active} d^2`` (this is where the perturbed image
  depends on eta). The knot values only select that segment (and bound it against round-off),
  so they are computed under ``stop_gradient``: their derivative ``-2 s^2 / d^3`` overflows for
  near-zero ``d`` (|d| < 1e-10, e.g. an exact zero of the generator output) and then turns the
  whole backward pass into NaN even where its cotangent is zero. In the unreachable case every
  element is saturated, so the output does not depend on eta there either.
  """
  s = jnp.where(d >= 0, 1.0 - x, x)
  d2 = d * d
  s2 = s * s
  knots = jax.lax.stop_gradient(s2 / jnp.maximum(d2, _FLOOR))
  order = jnp.argsort(knots)
  t = knots[order]
  d2s = d2[order]
  s2s = s2[order]
  # Slope of F(t) just below knot k: sum of d^2 over elements with knot >= t_k.
  slope = jnp.cumsum(d2s[::-1])[::-1]
  dt = jnp.diff(t, prepend=jnp.zeros((1,), t.dtype))
  f_at_knots = jnp.cumsum(slope * dt)
  target = eps * eps
  reached = f_at_knots >= target
  k = jnp.argmax(reached)
  any_reached = jnp.any(reached)
  # Recompute the two sums of the active segment directly (more accurate than cumsums).
  idx = jnp.arange(t.shape[0])
  saturated = jnp.sum(jnp.where(idx < k, s2s, 0.0))
  active_slope = jnp.sum(jnp.where(idx >= k, d2s, 0.0))
  t_star = (target - saturated) / jnp.maximum(active_slope, _SLOPE_FLOOR)
  t_star = jnp.clip(t_star, 0.0, t[k])
  t_star = jnp.where(any_reached, t_star, t[-1])
  return jnp.sqrt(jnp.maximum(t_star, 1e-30))


def projection_scale(x: jax.Array, delta: jax.Array, eps) -> jax.Array:
  """Per-image scale ``eta`` (shape (B,)) of the clipping-aware projection."""
  b = x.shape[0]
  xf = x.reshape(b, -1)
  df = delta.reshape(b, -1).astype(xf.dtype)
  eps = jnp.broadcast_to(jnp.asarray(eps, xf.dtype), (b,))
  return jax.vmap(_solve_eta)(xf, df, eps)


def project_to_eps_sphere(x: jax.Array, delta: jax.Array, eps) -> jax.Array:
  """Returns ``clip(x + eta * delta, 0, 1)`` with ``||. - x||_2 = eps`` per image.

  Args:
    x: images (B, ...) in [0, 1].
    delta: raw perturbations, same shape as ``x``.
    eps: scalar or (B,) target L2 norm(s). If ``eps`` exceeds the largest reachable norm
      the maximal (fully saturated) perturbation is returned.

  Returns:
    The perturbed images, same shape as ``x``.

  Raises:
    ValueError: naming 'delta' when its shape differs from ``x``'s.
  """
  if x.shape != delta.shape:
    raise ValueError(f"argument 'delta': expected shape {x.shape} (same as x), got {delta.shape}")
  eta = projection_scale(x, delta, eps)
  eta = eta.reshape((x.shape[0],) + (1,) * (x.ndim - 1))
  return jnp.clip(x + eta * delta, 0.0, 1.0)


def perturbation_norm(x: jax.Array, x_adv: jax.Array) -> jax.Array:
  """Per-image L2 norm of ``x_adv - x``."""
  b = x.shape[0]
  return jnp.sqrt(jnp.sum(jnp.square((x_adv - x).reshape(b, -1)), axis=1))
