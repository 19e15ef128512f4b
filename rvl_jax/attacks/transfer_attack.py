"""Transfer attacks (Schott et al. 2019, Sec. 5) and the line search they share.

For each clean input, adversarial perturbations are computed against a *substitute* model with
true gradients (L2 BIM, L-inf BIM, FGSM, L2 FGM by default); each direction delta = x_sub - x0 is
then scaled by the smallest t >= 0 for which clip(x0 + t delta) fools the *target* model:
geometric bracketing over ``t_grid`` (up to t = 100) followed by ``bisection_steps`` bisection
steps. Every target query goes through the target's tracker, so the result is the best
adversarial over all directions and scales, in every metric.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from rvl_jax.attacks import core, gradient
from rvl_jax.attacks.core import LogitsFn, Tracker, _per_sample

DEFAULT_T_GRID = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0, 100.0)


def _line_search_impl(logits_fn, tr: Tracker, x0, direction, active, *, t_grid, bisection_steps):
  n = x0.shape[0]
  grid = jnp.asarray(t_grid, jnp.float32)

  def cond(s):
    i, _, found, _ = s
    return (i < grid.shape[0]) & ~jnp.all(found)

  def body(s):
    i, tr, found, t_hi = s
    cand = core.clip(x0 + grid[i] * direction)
    run = ~found
    tr, adv, _ = core.query(tr, logits_fn, cand, run)
    take = adv & run
    return i + 1, tr, found | take, jnp.where(take, grid[i], t_hi)

  _, tr, found, t_hi = jax.lax.while_loop(
    cond, body, (0, tr, ~active, jnp.full((n,), jnp.inf, jnp.float32))
  )
  found = found & active
  idx = jnp.searchsorted(grid, t_hi)
  t_lo = jnp.where(idx > 0, grid[jnp.maximum(idx - 1, 0)], 0.0)

  def bis(i, s):
    tr, lo, hi = s
    mid = 0.5 * (lo + hi)
    cand = core.clip(x0 + _per_sample(mid, x0) * direction)
    tr, adv, _ = core.query(tr, logits_fn, cand, found)
    return tr, jnp.where(adv, lo, mid), jnp.where(adv, mid, hi)

  tr, _, hi = jax.lax.fori_loop(0, bisection_steps, bis, (tr, t_lo, jnp.where(found, t_hi, 0.0)))
  return tr, jnp.where(found, hi, jnp.inf)


_line_search = core.static_jit(_line_search_impl, ("logits_fn", "t_grid", "bisection_steps"))


def line_search(
  logits_fn: LogitsFn,
  tr: Tracker,
  direction,
  *,
  active=None,
  t_grid: Sequence[float] = DEFAULT_T_GRID,
  bisection_steps: int = 20,
):
  """Smallest t with clip(x0 + t * direction) adversarial (grid, then bisection).

  Args:
    logits_fn: the classifier.
    tr: the tracker of the clean inputs (candidates are offered to it).
    direction: (N, H, W, C) perturbation directions.
    active: (N,) samples to search (default: those still classified correctly).
    t_grid: the grid of t values tried first.
    bisection_steps: bisection steps below the first adversarial grid value.

  Returns:
    (tracker, (N,) t; +inf where none was found).
  """
  direction = jnp.asarray(direction, jnp.float32)
  if active is None:
    active = tr.clean_correct
  return _line_search(
    logits_fn,
    tr,
    tr.x0,
    direction,
    active,
    t_grid=tuple(map(float, t_grid)),
    bisection_steps=int(bisection_steps),
  )


def substitute_directions(
  substitute_fn: LogitsFn,
  x,
  y,
  attacks: Sequence[str] = ("bim_l2", "bim_linf", "fgsm", "fgm"),
  binary_substitute: bool = False,
):
  """Perturbations delta = x_sub - x0 of the minimal adversarials against the substitute.

  Args:
    substitute_fn: the substitute classifier (differentiable).
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    attacks: substitute attacks among 'bim_l2', 'bim_linf', 'fgsm' and 'fgm'.
    binary_substitute: the substitute binarizes its input.

  Returns:
    ``{attack: (N, H, W, C) perturbation}`` (zero where the attack failed).

  Raises:
    ValueError: naming ``attacks`` for an unknown substitute attack.
  """
  x, y, _, _ = core.check_attack_args(substitute_fn, x, y, norm="l2")
  out = {}
  for name in attacks:
    if name == "bim_l2":
      # The paper's L2 BIM: Foolbox 1.x eps0 0.3, step 0.05 (RMS values), as true L2 radii.
      fb1 = lambda v: core.foolbox1_to_true(v, "l2", x.shape[1:])  # noqa: E731
      tr, m = (
        gradient.bim(
          substitute_fn, x, y, norm="l2", eps0=fb1(0.3), step0=fb1(0.05), binary=binary_substitute
        ),
        "l2",
      )
    elif name == "bim_linf":
      tr, m = gradient.bim(substitute_fn, x, y, norm="linf", binary=binary_substitute), "linf"
    elif name == "fgsm":
      tr, m = gradient.fgsm(substitute_fn, x, y, binary=binary_substitute), "linf"
    elif name == "fgm":
      tr, m = gradient.fgm(substitute_fn, x, y, binary=binary_substitute), "l2"
    else:
      raise ValueError(
        f"argument 'attacks': unknown substitute attack {name!r}; expected "
        "bim_l2, bim_linf, fgsm or fgm"
      )
    ok = jnp.isfinite(tr.dist[m])
    out[name] = jnp.where(_per_sample(ok, x), tr.best[m] - x, 0.0)
  return out


def transfer(
  logits_fn: LogitsFn,
  substitute_fn: LogitsFn,
  x,
  y,
  *,
  attacks: Sequence[str] = ("bim_l2", "bim_linf", "fgsm", "fgm"),
  t_grid: Sequence[float] = DEFAULT_T_GRID,
  bisection_steps: int = 20,
  binary: bool = False,
  directions=None,
) -> Tracker:
  """Transfer attack: substitute-model perturbations + line search on the target model.

  ``directions`` (name -> (N, ...) perturbations) can be passed to reuse substitute results
  across target models.

  Args:
    logits_fn: the classifier, x -> (N, K) logits.
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    substitute_fn: the substitute classifier.
    attacks: substitute attacks (:func:`substitute_directions`).
    t_grid: line-search grid (:func:`line_search`).
    bisection_steps: line-search bisection steps.
    binary: post-process adversarials for a binarizing model.
    directions: precomputed substitute perturbations, or None.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm="l2")
  if directions is None:
    directions = substitute_directions(substitute_fn, x, y, attacks)
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  for name, delta in directions.items():
    nonzero = jnp.any(delta.reshape(delta.shape[0], -1) != 0, axis=1)
    tr, _ = line_search(
      logits_fn,
      tr,
      delta,
      active=tr.clean_correct & nonzero,
      t_grid=t_grid,
      bisection_steps=bisection_steps,
    )
  return tr
