"""The Pointwise attack (Schott et al. 2019, Sec. 5; Foolbox 1.x ``PointwiseAttack``), batched in
lock-step.

1. Start from the best salt-and-pepper adversarial (8.3); samples without one fail.
2. Phase 1 (greedy L0 reduction): walk the still-perturbed pixels in a fresh random order,
   tentatively resetting each to its clean value; a reset that keeps the image adversarial is
   kept and a new pass with a new order starts; a full walk without success ends phase 1.
3. Phase 2 (per-pixel refinement): visit all perturbed pixels in a fresh random order; try the
   reset, otherwise bisect (``bisection_steps``) that pixel's value between clean and adversarial,
   keeping the adversarial end; passes repeat until one yields no improvement.

Every sample makes exactly one model query per loop step (a per-sample state machine), so a
batch of images -- and ``restarts`` independent runs of each -- advance together in one jitted
``while_loop``. ``max_steps`` caps the number of loop steps (queries per run after the
salt-and-pepper start).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rvl_jax.attacks import core
from rvl_jax.attacks.core import LogitsFn, Tracker
from rvl_jax.attacks.noise import _salt_and_pepper_tracker
from rvl_jax.core import validation

_P1, _P2, _DONE = 0, 1, 2


def _new_perm(key, n, d):
  return jnp.argsort(jax.random.uniform(key, (n, d)), axis=1).astype(jnp.int32)


def _pointwise_run(
  logits_fn,
  tr: Tracker,
  key,
  *,
  metric,
  bisection_steps,
  max_steps,
  sp_repetitions,
  sp_levels,
  phase2=True,
):
  key, k_sp, k_perm = jax.random.split(key, 3)
  tr = _salt_and_pepper_tracker(
    logits_fn, tr, k_sp, repetitions=sp_repetitions, levels=sp_levels, metric=metric
  )
  n = tr.x0.shape[0]
  shape = tr.x0.shape
  x0 = tr.x0.reshape(n, -1)
  d = x0.shape[1]
  start_ok = tr.clean_correct & jnp.isfinite(tr.dist[metric])
  xa = tr.best[metric].reshape(n, -1)
  phase = jnp.where(start_ok, _P1, _DONE).astype(jnp.int32)
  perm = _new_perm(k_perm, n, d)
  ptr = jnp.zeros((n,), jnp.int32)
  k = jnp.zeros((n,), jnp.int32)  # 0: reset attempt, >0: bisection step
  pix = jnp.zeros((n,), jnp.int32)  # pixel under bisection
  lo = jnp.zeros((n,), jnp.float32)  # non-adversarial end (clean side)
  hi = jnp.zeros((n,), jnp.float32)  # adversarial end
  improved = jnp.zeros((n,), bool)
  rows = jnp.arange(n)
  pos = jnp.arange(d)[None, :]

  def cond(s):
    return (s[0] < max_steps) & jnp.any(s[3] != _DONE)

  def body(s):
    step, tr, xa, phase, perm, ptr, k, pix, lo, hi, improved, key = s
    key, k_new = jax.random.split(key)
    fresh = _new_perm(k_new, n, d)
    differs = xa != x0
    in_perm = jnp.take_along_axis(differs, perm, axis=1) & (pos >= ptr[:, None])
    has_next = jnp.any(in_perm, axis=1)
    j = jnp.argmax(in_perm, axis=1).astype(jnp.int32)
    nxt = perm[rows, j]

    p1 = phase == _P1
    p2 = phase == _P2
    p2_reset = p2 & (k == 0)
    p2_bis = p2 & (k > 0)

    # Transitions that need no query this step.
    p1_end = p1 & ~has_next
    p2_pass_end = p2_reset & ~has_next
    # Candidate pixel and value.
    cur_pix = jnp.where(p2_bis, pix, nxt)
    mid = 0.5 * (lo + hi)
    value = jnp.where(p2_bis, mid, x0[rows, cur_pix])
    querying = (p1 & has_next) | (p2_reset & has_next) | p2_bis
    cand = xa.at[rows, cur_pix].set(value)
    tr, adv, _ = core.query(tr, logits_fn, cand.reshape(shape), querying)
    adv = adv & querying
    xa = jnp.where(adv[:, None], cand, xa)

    # Phase 1 updates.
    p1_q = p1 & has_next
    new_perm_mask = p1_q & adv
    ptr_new = jnp.where(p1_q, jnp.where(adv, 0, j + 1), ptr)
    # Phase 1 -> phase 2.
    new_perm_mask = new_perm_mask | p1_end
    ptr_new = jnp.where(p1_end, 0, ptr_new)
    improved_new = jnp.where(p1_end, False, improved)
    phase_new = jnp.where(p1_end, _P2 if phase2 else _DONE, phase)

    # Phase 2, reset attempts.
    p2_q = p2_reset & has_next
    improved_new = jnp.where(p2_q & adv, True, improved_new)
    ptr_new = jnp.where(p2_q, j + 1, ptr_new)
    start_bis = p2_q & ~adv & (bisection_steps > 0)
    k_new = jnp.where(start_bis, 1, k)
    pix_new = jnp.where(start_bis, nxt, pix)
    lo_new = jnp.where(start_bis, x0[rows, nxt], lo)
    hi_new = jnp.where(start_bis, xa[rows, nxt], hi)
    # Phase 2, bisection steps.
    hi_new = jnp.where(p2_bis & adv, mid, hi_new)
    lo_new = jnp.where(p2_bis & ~adv, mid, lo_new)
    improved_new = jnp.where(p2_bis & adv, True, improved_new)
    k_new = jnp.where(p2_bis, jnp.where(k >= bisection_steps, 0, k + 1), k_new)
    # Phase 2, end of a pass.
    again = p2_pass_end & improved
    new_perm_mask = new_perm_mask | again
    ptr_new = jnp.where(again, 0, ptr_new)
    improved_new = jnp.where(again, False, improved_new)
    phase_new = jnp.where(p2_pass_end & ~improved, _DONE, phase_new)

    perm = jnp.where(new_perm_mask[:, None], fresh, perm)
    return (
      step + 1,
      tr,
      xa,
      phase_new,
      perm,
      ptr_new,
      k_new,
      pix_new,
      lo_new,
      hi_new,
      improved_new,
      key,
    )

  init = (0, tr, xa, phase, perm, ptr, k, pix, lo, hi, improved, key)
  out = jax.lax.while_loop(cond, body, init)
  return out[1]


def _pointwise_impl(
  logits_fn,
  x,
  y,
  key,
  *,
  metric: str,
  restarts: int,
  bisection_steps: int,
  max_steps: int,
  sp_repetitions: int,
  sp_levels: int,
  phase2: bool,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  tiled = core.tile_tracker(tr, restarts)
  tiled = _pointwise_run(logits_fn, tiled, key, **core.settings_of(_pointwise_run, locals()))
  out = core.untile_min(tiled, restarts)
  return out.replace(queries=out.queries - (restarts - 1))  # the clean query counts once


_pointwise = core.static_jit(_pointwise_impl)


def pointwise(
  logits_fn: LogitsFn,
  x,
  y,
  key,
  *,
  metric: str = "l0",
  restarts: int = 10,
  bisection_steps: int = 10,
  max_steps: int = 20000,
  sp_repetitions: int = 10,
  sp_levels: int = 100,
  phase2: bool = True,
  binary: bool = False,
) -> Tracker:
  """Pointwise attack with ``restarts`` independent runs (best per sample and metric kept).

  ``metric`` ('l0' or 'l2') is the distance the salt-and-pepper start is selected by; the
  tracker keeps the best adversarial in every metric. ``phase2=False`` stops after the greedy
  L0 phase (a budget option: phase 2 mainly reduces L2).

  Args:
    logits_fn: the classifier, x -> (N, K) logits.
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    key: JAX PRNG key.
    metric: 'l0' or 'l2'.
    restarts: independent runs.
    bisection_steps: bisection steps per pixel in phase 2.
    max_steps: the most loop steps per run (about one query each).
    sp_repetitions: repetitions of the salt-and-pepper start.
    sp_levels: noise levels of the salt-and-pepper start.
    phase2: run the second (continuous) phase.
    binary: post-process adversarials for a binarizing model.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.

  Raises:
    ValueError: naming ``metric`` when it is neither 'l0' nor 'l2'.
  """
  validation.check_in_choices("metric", metric, ("l0", "l2"))
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm=metric, supported_norms=("l0", "l2"))
  return _pointwise(logits_fn, x, y, key, **core.settings_of(_pointwise, locals()))
