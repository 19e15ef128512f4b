"""Gradient-free noise attacks (Schott et al. 2019, Sec. 5; also the Boundary attack's
initialisation).

* :func:`salt_and_pepper` -- L0: 10 repetitions over 100 noise levels, the level cap shrinking
  to 1.2 x the last successful level (Foolbox 1.x ``SaltAndPepperNoiseAttack``).
* :func:`additive_gaussian` -- L2: clip(x0 + eps * n) over a list of levels, stopping at the first
  adversarial. With ``foolbox_quirk=True`` (default, as in Foolbox 1.3) n ~ N(0, (eps/sqrt 3)^2),
  so the effective noise std is eps**2 / sqrt(3).
* :func:`blended_uniform_noise` -- the Boundary attack's initialisation.

All run the samples in lock-step (one batched model call per step, per-sample counters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.attacks import core
from rvl_jax.attacks.core import LogitsFn, Tracker, _per_sample


def _salt_and_pepper_tracker(logits_fn, tr: Tracker, key, *, repetitions, levels, metric="l0"):
  """Runs salt-and-pepper on an existing tracker (used by the Pointwise attack too)."""
  x0 = tr.x0
  n = x0.shape[0]
  # Per-sample state: repetition index, level index, level cap p_max.
  rep = jnp.where(tr.clean_correct, 0, repetitions).astype(jnp.int32)
  lvl = jnp.zeros((n,), jnp.int32)
  pmax = jnp.ones((n,), jnp.float32)

  def cond(s):
    return jnp.any(s[1] < repetitions)

  def body(s):
    tr, rep, lvl, pmax, key = s
    key, sub = jax.random.split(key)
    active = rep < repetitions
    p = pmax * (lvl + 1).astype(jnp.float32) / levels
    u = jax.random.uniform(sub, x0.shape)
    pp = _per_sample(p, x0)
    cand = jnp.where(u >= 1.0 - pp / 2.0, 1.0, x0)
    cand = jnp.where(u < pp / 2.0, 0.0, cand)
    # Foolbox skips a candidate that is not closer than the best so far.
    closer = core.distance(x0, cand, metric) < tr.dist[metric]
    tr, adv, _ = core.query(tr, logits_fn, cand, active & closer)
    success = adv & active & closer
    pmax = jnp.where(success, 1.2 * p, pmax)
    next_rep = success | (lvl + 1 >= levels)
    rep = jnp.where(active & next_rep, rep + 1, rep)
    lvl = jnp.where(active, jnp.where(next_rep, 0, lvl + 1), lvl)
    return tr, rep, lvl, pmax, key

  tr, *_ = jax.lax.while_loop(cond, body, (tr, rep, lvl, pmax, key))
  return tr


def _sp_impl(logits_fn, x, y, key, *, repetitions, levels, binary):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  return _salt_and_pepper_tracker(logits_fn, tr, key, repetitions=repetitions, levels=levels)


_sp = core.static_jit(_sp_impl, ("logits_fn", "repetitions", "levels", "binary"))


def salt_and_pepper(
  logits_fn: LogitsFn, x, y, key, *, repetitions: int = 10, levels: int = 100, binary: bool = False
) -> Tracker:
  """Salt-and-pepper noise attack (L0; Schott et al. 2019, Sec. 5).

  Args:
    logits_fn: the classifier, x -> (N, K) logits.
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    key: JAX PRNG key.
    repetitions: independent runs.
    levels: noise levels per run (increasing fractions of pixels set to 0 or 1).
    binary: post-process adversarials for a binarizing model.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric (use ``dist["l0"]``).
  """
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm="l0", supported_norms=("l0",))
  return _sp(logits_fn, x, y, key, repetitions=int(repetitions), levels=int(levels), binary=binary)


def _gauss_impl(logits_fn, x, y, key, levels, *, foolbox_quirk, binary):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  n_levels = levels.shape[0]

  def body(s):
    i, tr, done, key = s
    key, sub = jax.random.split(key)
    eps = levels[i]
    std = eps / jnp.sqrt(3.0)
    noise = jax.random.normal(sub, x.shape) * std
    if foolbox_quirk:
      noise = noise * eps
    cand = core.clip(x + noise)
    tr, adv, _ = core.query(tr, logits_fn, cand, ~done)
    return i + 1, tr, done | adv, key

  _, tr, _, _ = core.while_undone(n_levels, body, (0, tr, ~tr.clean_correct, key), done=2)
  return tr


_gauss = core.static_jit(_gauss_impl, ("logits_fn", "foolbox_quirk", "binary"))


def additive_gaussian(
  logits_fn: LogitsFn, x, y, key, *, levels=None, foolbox_quirk: bool = True, binary: bool = False
) -> Tracker:
  """Additive Gaussian noise attack (L2; Schott et al. 2019, Sec. 5).

  ``logits_fn``, ``x``, ``y``, ``key`` and ``binary`` are those of :func:`salt_and_pepper`.

  Args:
    levels: noise levels (default linspace(0.5, 1, 50), as the reference).
    foolbox_quirk: multiply the noise by the level once more, as Foolbox 1.x does.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm="l2", supported_norms=("l2",))
  if levels is None:
    levels = np.linspace(0.5, 1.0, 50)
  levels = jnp.asarray(levels, jnp.float32)
  return _gauss(logits_fn, x, y, key, levels, foolbox_quirk=bool(foolbox_quirk), binary=binary)


def blended_uniform_noise_tracker(
  logits_fn, tr: Tracker, key, *, max_noise_draws=1000, blend_steps=1000
):
  """Boundary-attack initialisation: uniform noise until misclassified, then the first
  adversarial blend (1 - t) x0 + t noise, t in linspace(0, 1, blend_steps + 1)[1:].

  Returns (tracker, start (N, ...), found (N,)).
  """
  x0 = tr.x0

  def body_noise(s):
    i, tr, found, noise, key = s
    key, sub = jax.random.split(key)
    cand = jax.random.uniform(sub, x0.shape)
    tr, adv, _ = core.query(tr, logits_fn, cand, ~found)
    take = adv & ~found
    noise = jnp.where(_per_sample(take, x0), cand, noise)
    return i + 1, tr, found | take, noise, key

  found0 = ~tr.clean_correct
  init = (0, tr, found0, x0, key)
  _, tr, has_noise, noise, _ = core.while_undone(max_noise_draws, body_noise, init, done=2)
  has_noise = has_noise & tr.clean_correct

  def body_blend(s):
    i, tr, found, start = s
    t = (i + 1).astype(jnp.float32) / blend_steps
    cand = (1.0 - t) * x0 + t * noise
    tr, adv, _ = core.query(tr, logits_fn, cand, ~found)
    take = adv & ~found
    start = jnp.where(_per_sample(take, x0), cand, start)
    return i + 1, tr, found | take, start

  _, tr, found, start = core.while_undone(blend_steps, body_blend, (0, tr, ~has_noise, x0), done=2)
  found = found & has_noise
  return tr, start, found
