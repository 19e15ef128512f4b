"""The Boundary attack (Brendel et al. 2018, Foolbox 1.x defaults; used by Schott et al. 2019,
Sec. 5), batched in lock-step.

Initialisation by blended uniform noise. Each iteration draws ``candidates`` proposals per sample:
a Gaussian direction made orthogonal to the source direction d = x0 - x_a, scaled to
``spherical_step * |d|``, projected back onto the sphere of radius |d| around x0 and clipped,
then moved towards x0 by ``source_step * |d|`` (corrected for the sphere deviation) and clipped.
The first adversarial candidate that is closer is accepted. Every ``stats_every``-th iteration
the purely spherical candidates are classified too, and the success statistics adapt the steps
(factor 1.5): spherical success > 0.5 -> both steps x1.5, < 0.2 -> both / 1.5 (over the last
``spherical_window`` trials); full-step success > 0.5 -> source step x1.5, < 0.2 -> / 1.5 (last
``step_window`` trials). A sample stops when its source step drops below ``min_source_step``.

Lock-step deviation from Foolbox: statistics are per-sample running counts over fixed windows
(reset after each adaptation) instead of deques, and candidates are evaluated as one batch of
``N * candidates`` images per iteration (float32 throughout).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rvl_jax.attacks import core
from rvl_jax.attacks.core import LogitsFn, Tracker, _per_sample
from rvl_jax.attacks.noise import blended_uniform_noise_tracker


def _norm(v):
  return jnp.sqrt(jnp.sum(jnp.square(v.reshape(v.shape[0], -1)), axis=1))


def _boundary_impl(
  logits_fn,
  x,
  y,
  key,
  *,
  iterations: int,
  candidates: int,
  spherical_step: float,
  source_step: float,
  step_adaptation: bool,
  stats_every: int,
  spherical_window: int,
  step_window: int,
  min_source_step: float,
  init_noise_draws: int,
  init_blend_steps: int,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  key, k_init = jax.random.split(key)
  tr, xa, found = blended_uniform_noise_tracker(
    logits_fn, tr, k_init, max_noise_draws=init_noise_draws, blend_steps=init_blend_steps
  )
  n = x.shape[0]
  c = candidates
  shape = x.shape
  sph = jnp.full((n,), spherical_step, jnp.float32)
  src = jnp.full((n,), source_step, jnp.float32)
  active0 = found

  def cond(s):
    return (s[0] < iterations) & jnp.any(s[3])

  def body(s):
    (i, tr, xa, active, sph, src, sph_succ, sph_tot, st_succ, st_tot, key) = s
    key, sub = jax.random.split(key)
    xr = jnp.repeat(x, c, axis=0)
    xar = jnp.repeat(xa, c, axis=0)
    sphr = jnp.repeat(sph, c)
    srcr = jnp.repeat(src, c)
    unnorm_src = xr - xar
    src_norm = _norm(unnorm_src)
    src_dir = unnorm_src / _per_sample(src_norm + 1e-12, xr)
    pert = jax.random.normal(sub, xr.shape)
    dot = jnp.sum((pert * src_dir).reshape(n * c, -1), axis=1)
    pert = pert - _per_sample(dot, xr) * src_dir
    pert = pert * _per_sample(sphr * src_norm / (_norm(pert) + 1e-12), xr)
    dfac = 1.0 / jnp.sqrt(jnp.square(sphr) + 1.0)
    direction = pert - unnorm_src
    spherical = core.clip(xr + _per_sample(dfac, xr) * direction)
    new_src = xr - spherical
    new_src_norm = _norm(new_src)
    length = srcr * src_norm + (new_src_norm - src_norm)
    length = jnp.maximum(length, 0.0) / (new_src_norm + 1e-12)
    cand = core.clip(spherical + _per_sample(length, xr) * new_src)

    lg = logits_fn(cand)
    adv = core.is_adversarial(lg, jnp.repeat(y, c)).reshape(n, c)
    cand_d = _norm(cand - xr).reshape(n, c)
    cur_d = _norm(x - xa)
    ok = adv & (cand_d < cur_d[:, None])
    any_ok = jnp.any(ok, axis=1) & active
    first = jnp.argmax(ok, axis=1)
    cand_r = cand.reshape((n, c) + shape[1:])
    chosen = jnp.take_along_axis(cand_r, first.reshape((n, 1) + (1,) * (len(shape) - 1)), axis=1)[
      :, 0
    ]
    # The tracker sees the closest adversarial candidate of this iteration.
    closest = jnp.argmin(jnp.where(adv, cand_d, jnp.inf), axis=1)
    best_c = jnp.take_along_axis(cand_r, closest.reshape((n, 1) + (1,) * (len(shape) - 1)), axis=1)[
      :, 0
    ]
    tr = core.update(tr, best_c, jnp.any(adv, axis=1), active)
    tr = tr.replace(queries=tr.queries + jnp.where(active, c - 1, 0))
    xa = jnp.where(_per_sample(any_ok, x), chosen, xa)

    # Step-size adaptation.
    do_stats = (i % stats_every) == 0
    if step_adaptation:
      sph_adv = jax.lax.cond(
        do_stats,
        lambda: core.is_adversarial(logits_fn(spherical), jnp.repeat(y, c)).reshape(n, c),
        lambda: jnp.zeros((n, c), bool),
      )
      upd = do_stats & active
      tr = tr.replace(queries=tr.queries + jnp.where(upd, c, 0))
      sph_succ = sph_succ + jnp.where(upd, jnp.sum(sph_adv, axis=1), 0)
      sph_tot = sph_tot + jnp.where(upd, c, 0)
      st_succ = st_succ + jnp.where(upd, jnp.sum(adv, axis=1), 0)
      st_tot = st_tot + jnp.where(upd, c, 0)
      sph_full = sph_tot >= spherical_window
      p_sph = sph_succ / jnp.maximum(sph_tot, 1)
      up = sph_full & (p_sph > 0.5)
      down = sph_full & (p_sph < 0.2)
      sph = jnp.where(up, sph * 1.5, jnp.where(down, sph / 1.5, sph))
      src = jnp.where(up, src * 1.5, jnp.where(down, src / 1.5, src))
      sph_succ = jnp.where(sph_full, 0, sph_succ)
      sph_tot = jnp.where(sph_full, 0, sph_tot)
      st_full = st_tot >= step_window
      p_st = st_succ / jnp.maximum(st_tot, 1)
      src = jnp.where(
        st_full & (p_st > 0.5), src * 1.5, jnp.where(st_full & (p_st < 0.2), src / 1.5, src)
      )
      st_succ = jnp.where(st_full, 0, st_succ)
      st_tot = jnp.where(st_full, 0, st_tot)
    active = active & (src >= min_source_step)
    return (i + 1, tr, xa, active, sph, src, sph_succ, sph_tot, st_succ, st_tot, key)

  zi = jnp.zeros((n,), jnp.int32)
  init = (0, tr, xa, active0, sph, src, zi, zi, zi, zi, key)
  out = jax.lax.while_loop(cond, body, init)
  return out[1]


_boundary = core.static_jit(_boundary_impl)


def boundary(
  logits_fn: LogitsFn,
  x,
  y,
  key,
  *,
  iterations: int = 5000,
  candidates: int = 25,
  spherical_step: float = 0.01,
  source_step: float = 0.01,
  step_adaptation: bool = True,
  stats_every: int = 10,
  spherical_window: int = 100,
  step_window: int = 30,
  min_source_step: float = 1e-7,
  init_noise_draws: int = 1000,
  init_blend_steps: int = 1000,
  binary: bool = False,
) -> Tracker:
  """Boundary attack (L2, decision-based; Brendel et al. 2018), Foolbox 1.x defaults.

  Cost per sample: up to ``init_noise_draws + init_blend_steps`` queries for the start, then
  ``candidates`` per iteration (twice that every ``stats_every``-th iteration with step adaptation).

  Args:
    logits_fn: the classifier, x -> (N, K) logits.
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    key: JAX PRNG key.
    iterations: attack iterations (the paper's 5000).
    candidates: candidate steps per iteration.
    spherical_step: initial orthogonal step size.
    source_step: initial step size towards the clean input.
    step_adaptation: adapt both step sizes from the success statistics.
    stats_every: iterations between adaptations.
    spherical_window: length of the orthogonal-step success window.
    step_window: length of the source-step success window.
    min_source_step: the attack stops for a sample when its source step drops below this.
    init_noise_draws: uniform-noise draws of the initialisation.
    init_blend_steps: blending steps of the initialisation.
    binary: post-process adversarials for a binarizing model.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric (use ``dist["l2"]``).
  """
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm="l2", supported_norms=("l2",))
  return _boundary(logits_fn, x, y, key, **core.settings_of(_boundary, locals()))
