"""The Latent Descent attack on ABS models (Schott et al. 2019, Sec. 5, paper version) and a
demo-style variant.

The attack needs the model's class reconstructions: ``abs_fn(x) -> (logits (N, K),
reconstructions (N, K, H, W, C))`` (for ABS, ``G_c(z*_c(x))`` for every class c).

Paper version: starting at x_t = x0, repeatedly move towards the reconstruction x~ of the most
likely wrong class, x_{t+1} = (1 - eps) x_t + eps x~ (eps = 0.01; for binary ABS x~ is first
binary-projected relative to x_t), until x_{t+1} is misclassified; then bisect on [x_t, x_{t+1}]
(``bisection_steps``) and finally on the segment from x0 to the adversarial
(``final_steps``), keeping the smallest adversarial. Samples advance in lock-step, one ABS call
on the batch per descent step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rvl_jax.attacks import core
from rvl_jax.attacks.core import Tracker, _per_sample
from rvl_jax.core import validation


def _best_other_recon(logits, recons, y):
  k = logits.shape[-1]
  masked = jnp.where(jnp.arange(k)[None, :] == y[:, None], -jnp.inf, logits)
  other = jnp.argmax(masked, axis=1)
  idx = other.reshape((-1, 1) + (1,) * (recons.ndim - 2))
  return jnp.take_along_axis(recons, idx, axis=1)[:, 0]


def _ld_impl(
  abs_fn,
  x,
  y,
  *,
  eps: float,
  max_steps: int,
  bisection_steps: int,
  final_steps: int,
  binary: bool,
  threshold: float,
  binary_target: str,
):
  logits_fn = lambda z: abs_fn(z)[0]
  logits0, rec0 = abs_fn(x)
  adv0 = core.is_adversarial(logits0, y)
  inf = jnp.full((x.shape[0],), jnp.inf, jnp.float32)
  tr = Tracker(
    x0=x,
    y=y,
    best={m: x for m in core.METRICS},
    dist={m: jnp.where(adv0, 0.0, inf) for m in core.METRICS},
    queries=jnp.ones((x.shape[0],), jnp.int32),
    clean_correct=~adv0,
    binary=binary,
    threshold=threshold,
  )

  def body(s):
    i, tr, done, xt, lg, rec, x_prev, x_adv = s
    target = _best_other_recon(lg, rec, y)
    if binary:
      if binary_target == "threshold":  # literal: flipped pixels sit at the threshold
        target = core.binary_postprocess(xt, target, threshold)
      else:  # 'flip': flipped pixels move towards their far binary value, others stay
        flip = core.binarize(target, threshold) != core.binarize(xt, threshold)
        target = jnp.where(flip, core.binarize(target, threshold), xt)
    x_next = (1.0 - eps) * xt + eps * target
    lg_n, rec_n = abs_fn(x_next)
    adv = core.is_adversarial(lg_n, y)
    run = ~done
    tr = core.update(tr, x_next, adv, run)
    hit = adv & run
    m = _per_sample(hit, x)
    x_prev = jnp.where(m, xt, x_prev)
    x_adv = jnp.where(m, x_next, x_adv)
    move = _per_sample(run & ~adv, x)
    xt = jnp.where(move, x_next, xt)
    lg = jnp.where((run & ~adv)[:, None], lg_n, lg)
    rec = jnp.where(_per_sample(run & ~adv, rec), rec_n, rec)
    return i + 1, tr, done | hit, xt, lg, rec, x_prev, x_adv

  init = (0, tr, ~tr.clean_correct, x, logits0, rec0, x, x)
  _, tr, _, _, _, _, x_prev, x_adv = core.while_undone(max_steps, body, init, done=2)
  found = jnp.isfinite(tr.dist["l2"]) & tr.clean_correct

  def segment_bisect(tr, a, b, steps):
    """Bisection on a + lam (b - a), b adversarial; returns (tracker, adversarial end)."""

    def step(i, s):
      tr, lo, hi = s
      mid = 0.5 * (lo + hi)
      cand = a + _per_sample(mid, a) * (b - a)
      tr, adv, _ = core.query(tr, logits_fn, cand, found)
      return tr, jnp.where(adv, lo, mid), jnp.where(adv, mid, hi)

    n = a.shape[0]
    tr, _, hi = jax.lax.fori_loop(0, steps, step, (tr, jnp.zeros((n,)), jnp.ones((n,))))
    return tr, a + _per_sample(hi, a) * (b - a)

  tr, xa = segment_bisect(tr, x_prev, x_adv, bisection_steps)
  tr, _ = segment_bisect(tr, x, xa, final_steps)
  return tr


_ld = core.static_jit(_ld_impl)


def _demo_impl(abs_fn, x, y, *, n_grid: int, max_steps: int, binary: bool, threshold: float):
  """Reference-demo variant: interpolate from x0 towards the current best-other reconstruction
  on a grid of mixing weights, take the first adversarial weight (the demo's buggy refinement
  is not replicated)."""
  logits_fn = lambda z: abs_fn(z)[0]
  tr = core.init_tracker(logits_fn, x, y, binary=binary, threshold=threshold)
  weights = jnp.linspace(0.0, 1.0, n_grid)[1:]

  def body(s):
    i, tr, done, xt = s
    lg, rec = abs_fn(xt)
    target = _best_other_recon(lg, rec, y)

    def grid_step(j, c):
      tr, found, first = c
      cand = x + weights[j] * (target - x)
      tr, adv, _ = core.query(tr, logits_fn, cand, ~done & ~found)
      take = adv & ~done & ~found
      return tr, found | take, jnp.where(_per_sample(take, x), cand, first)

    tr, found, first = jax.lax.fori_loop(
      0, weights.shape[0], grid_step, (tr, jnp.zeros_like(done), xt)
    )
    xt = jnp.where(_per_sample(~done & ~found, x), target, xt)
    return i + 1, tr, done | found, xt

  _, tr, _, _ = core.while_undone(max_steps, body, (0, tr, ~tr.clean_correct, x), done=2)
  return tr


_demo = core.static_jit(_demo_impl)


def latent_descent(
  abs_fn,
  x,
  y,
  *,
  eps: float = 0.01,
  max_steps: int = 1000,
  bisection_steps: int = 10,
  final_steps: int = 20,
  binary: bool = False,
  threshold: float = 0.5,
  variant: str = "paper",
  n_grid: int = 51,
  binary_target: str = "flip",
) -> Tracker:
  """Latent Descent attack (L2). ``abs_fn(x) -> (logits, reconstructions (N, K, H, W, C))``.

  ``variant='paper'`` (default) or ``'reference_demo'`` (grid interpolation from x0).
  For binary models, ``binary_target='threshold'`` is the literal binary projection of the
  reconstruction relative to x_t (flipped pixels set to the threshold side, 0.5 / 0.49999);
  convex steps towards a target *at* the threshold never cross it, so that variant cannot
  change the binarized image. ``'flip'`` (default) moves only the pixels whose binarized value
  differs towards their far binary value (0 or 1); the tracker's post-processing then shrinks
  the adversarial back to the threshold.

  Args:
    abs_fn: x -> (logits (N, K), reconstructions (N, K, H, W, C)).
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    eps: convex step x_{t+1} = (1 - eps) x_t + eps x~ towards the most likely wrong class's
      reconstruction x~.
    max_steps: the most descent steps.
    bisection_steps: bisection steps on [x_t, x_{t+1}].
    final_steps: bisection steps on the segment from x0 to the adversarial.
    binary: the model binarizes its input.
    threshold: its binarization threshold.
    variant: 'paper' or 'reference_demo'.
    n_grid: grid points of 'reference_demo'.
    binary_target: 'flip' or 'threshold' (binary models).

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.

  Raises:
    ValueError: naming ``binary_target`` or ``variant`` for an unknown value.
  """
  validation.check_in_choices("binary_target", binary_target, ("flip", "threshold"))
  x, y = core.check_inputs(x, y)
  variants = {"paper": _ld, "reference_demo": _demo}
  if variant in variants:
    attack = variants[variant]
    return attack(abs_fn, x, y, **core.settings_of(attack, locals()))
  raise ValueError(f"argument 'variant': expected 'paper' or 'reference_demo', got {variant!r}")
