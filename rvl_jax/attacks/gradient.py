"""Gradient-based attacks (Schott et al. 2019, Sec. 5): FGM/FGSM, DeepFool L2/L-inf, L2 BIM,
L-inf BIM/PGD, MIM.

All functions are batched over samples and jit-compiled with the classifier ``logits_fn`` as a
static argument. ``gradient='true'`` differentiates ``logits_fn`` (binarized models should use
:func:`rvl_jax.attacks.straight_through` so the STE applies); ``gradient='ge'`` replaces the
gradient by the coordinate-wise finite-difference estimate with step ``ge_step`` ("w/ GE").

The *minimal-perturbation* attacks (``fgm``, ``fgsm``, ``deepfool``, ``bim``, ``mim``) return a
:class:`~rvl_jax.attacks.core.Tracker` whose ``dist[metric]`` holds the smallest adversarial found
per sample. The *fixed-epsilon* variants (``iterative_attack``, ``pgd``) take one radius or a list
of radii (vectorised over the list) and return the adversarials and whether they succeed, per
radius, as Foolbox 3's ``epsilons=``.

Units: every radius and step is in true Lp units of the whole input (L2: the Euclidean norm over
all pixels and channels). The Foolbox 1.x numbers of the ABS paper (Schott et al. 2019), which
measured L2 as a root-mean-square value, are converted explicitly by the caller with
:func:`rvl_jax.attacks.core.foolbox1_to_true`.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.attacks import core
from rvl_jax.attacks.core import LogitsFn, Tracker, _per_sample

_EPS = 1e-12


def _l2(g):
  return jnp.sqrt(jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=1))


def _direction(g, norm: str):
  """Steepest-ascent direction of unit Lp norm: sign(g) (L-inf), g / |g|_2 (L2)."""
  if norm == "linf":
    return jnp.sign(g)
  if norm == "l2":
    return g / _per_sample(_l2(g) + _EPS, g)
  raise ValueError(f"argument 'norm': expected 'l2' or 'linf', got {norm!r}")


def _project(delta, eps, norm: str):
  """Projects perturbations onto the eps-ball of the true Lp norm (per-sample eps)."""
  if norm == "linf":
    e = _per_sample(eps, delta)
    return jnp.clip(delta, -e, e)
  factor = jnp.minimum(1.0, eps / jnp.maximum(_l2(delta), _EPS))
  return delta * _per_sample(factor, delta)


def _uniform_ball(key, shape, eps, norm: str):
  """Uniform samples from the Lp ball of radius eps (per sample) for the random start."""
  e = jnp.reshape(eps, (-1,) + (1,) * (len(shape) - 1))
  if norm == "linf":
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0) * e
  k1, k2 = jax.random.split(key)
  d = float(np.prod(shape[1:]))
  g = jax.random.normal(k1, shape)
  r = jax.random.uniform(k2, (shape[0],)) ** (1.0 / d)
  return g / _per_sample(_l2(g) + _EPS, g) * _per_sample(r, g) * e


def _gradient_settings(binary: bool = False, **source):
  """The keywords every attack of this module takes (documented at :func:`fgm`: ``gradient``,
  ``ge_step``, ``ge_probe_batch``, ``binary``), as the ``source`` and ``binary`` settings of its
  jitted core."""
  return {"source": core.GradientSource(**source), "binary": binary}


# ----------------------------------------------------------------------------- FGM / FGSM


def _single_step_impl(
  logits_fn,
  x,
  y,
  *,
  norm: str,
  n_steps: int,
  max_eps: float,
  source: core.GradientSource,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  grad_fn = source.grad_fn(logits_fn)
  g = grad_fn(x, y)
  direction = _direction(g, norm)
  n = x.shape[0]
  eps_grid = jnp.linspace(0.0, max_eps, n_steps + 1)[1:]

  def body(s):
    i, tr, found, first = s
    active = ~found
    cand = core.clip(x + eps_grid[i] * direction)
    tr, adv, _ = core.query(tr, logits_fn, cand, active)
    newly = adv & active
    first = jnp.where(newly, i, first)
    return i + 1, tr, found | newly, first

  found0 = ~tr.clean_correct
  first0 = jnp.full((n,), -1, jnp.int32)
  _, tr, found, first = core.while_undone(n_steps, body, (0, tr, found0, first0), done=2)
  # Refinement: when the first success is among the first 20 step sizes, 20 finer steps.
  refine = found & tr.clean_correct & (first >= 0) & (first < 20)
  eps_found = eps_grid[jnp.maximum(first, 0)]

  def refine_body(j, tr):
    eps = eps_found * (j + 1) / 20.0
    cand = core.clip(x + _per_sample(eps, x) * direction)
    tr, _, _ = core.query(tr, logits_fn, cand, refine)
    return tr

  tr = jax.lax.cond(
    jnp.any(refine), lambda t: jax.lax.fori_loop(0, 20, refine_body, t), lambda t: t, tr
  )
  return tr


_single_step = core.static_jit(_single_step_impl)


def _fast_gradient(
  logits_fn,
  x,
  y,
  *,
  norm: str,
  n_steps: int,
  max_eps: Optional[float],
  **kwargs,
) -> Tracker:
  """FGM (``norm='l2'``) or FGSM (``'linf'``); ``max_eps=None``: the diagonal of the box."""
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm=norm, eps=max_eps)
  if max_eps is None:
    max_eps = core.foolbox1_to_true(1.0, norm, x.shape[1:])
  settings = core.settings_of(_single_step, locals(), **_gradient_settings(**kwargs))
  return _single_step(logits_fn, x, y, **settings)


def fgm(
  logits_fn: LogitsFn, x, y, *, n_steps: int = 1000, max_eps: Optional[float] = None, **kwargs
) -> Tracker:
  """Fast gradient method (L2): steps along g / |g|_2 of true L2 lengths
  linspace(0, max_eps, n+1)[1:]. ``max_eps=None``: the diagonal of the [0, 1] box, sqrt(D)
  (= Foolbox 1.x's RMS grid in (0, 1], as in the ABS paper).

  Args:
    logits_fn: the classifier, x -> (N, K) logits.
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    n_steps: number of step lengths tried.
    max_eps: the largest step length (a true L2 norm).
    gradient: 'true' (autodiff, straight-through for binarizing models; the default) or 'ge'
      (finite-difference estimate, the "w/ GE" rows).
    ge_step: finite-difference step for 'ge' (default 0.1).
    ge_probe_batch: probe images per model call for 'ge' (default 2048).
    binary: post-process adversarials for a binarizing model (default False).

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  return _fast_gradient(logits_fn, x, y, norm="l2", n_steps=n_steps, max_eps=max_eps, **kwargs)


def fgsm(
  logits_fn: LogitsFn, x, y, *, n_steps: int = 20, max_eps: float = 1.0, **kwargs
) -> Tracker:
  """Fast gradient sign method (L-inf), step sizes linspace(0, max_eps, n+1)[1:]; the ABS
  reference passes 20 step sizes in (0, 1].

  The arguments other than ``n_steps`` and ``max_eps`` are those of :func:`fgm`.

  Args:
    n_steps: number of step sizes tried.
    max_eps: the largest step size (L-inf).

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  return _fast_gradient(logits_fn, x, y, norm="linf", n_steps=n_steps, max_eps=max_eps, **kwargs)


# ----------------------------------------------------------------------------- DeepFool


def _deepfool_impl(
  logits_fn,
  x,
  y,
  *,
  norm: str,
  max_steps: int,
  overshoot: float,
  source: core.GradientSource,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  jac_fn = source.jacobian_fn(logits_fn)
  n = x.shape[0]

  def body(s):
    i, tr, xc, done = s
    logits = logits_fn(xc)
    ce = -jax.nn.log_softmax(logits, axis=-1)  # (N, K)
    k = ce.shape[-1]
    jac = jac_fn(xc)  # (N, K, ...)
    ce_y = jnp.take_along_axis(ce, y[:, None], axis=1)  # (N, 1)
    g_y = jnp.take_along_axis(jac, y.reshape((n, 1) + (1,) * (jac.ndim - 2)), axis=1)
    dl = ce_y - ce  # (N, K)
    dg = jac - g_y  # (N, K, ...)
    flat = dg.reshape(n, k, -1)
    if norm == "l2":
      gnorm = jnp.sqrt(jnp.sum(jnp.square(flat), axis=-1))
    else:
      gnorm = jnp.sum(jnp.abs(flat), axis=-1)
    ratio = jnp.abs(dl) / (gnorm + 1e-8)
    not_true = jnp.arange(k)[None, :] != y[:, None]
    ratio = jnp.where(not_true, ratio, jnp.inf)
    kstar = jnp.argmin(ratio, axis=1)
    dl_k = jnp.take_along_axis(jnp.abs(dl), kstar[:, None], axis=1)[:, 0]
    dg_k = jnp.take_along_axis(flat, kstar[:, None, None], axis=1)[:, 0].reshape(x.shape)
    gn_k = jnp.take_along_axis(gnorm, kstar[:, None], axis=1)[:, 0]
    if norm == "l2":
      step = _per_sample(dl_k / (jnp.square(gn_k) + 1e-8), x) * (-dg_k)
    else:
      step = _per_sample(dl_k / (gn_k + 1e-8), x) * jnp.sign(-dg_k)
    x_new = core.clip(xc + overshoot * step)
    active = ~done
    tr, adv, _ = core.query(tr, logits_fn, x_new, active)
    xc = jnp.where(_per_sample(active, x), x_new, xc)
    return i + 1, tr, xc, done | adv

  _, tr, _, _ = core.while_undone(max_steps, body, (0, tr, x, ~tr.clean_correct), done=3)
  return tr


_deepfool = core.static_jit(_deepfool_impl)


def deepfool(
  logits_fn: LogitsFn,
  x,
  y,
  *,
  norm: str = "l2",
  max_steps: int = 100,
  overshoot: float = 1.05,
  **kwargs,
) -> Tracker:
  """DeepFool (Moosavi-Dezfooli et al. 2016; the Foolbox variant on cross-entropies).

  The arguments other than ``norm``, ``max_steps`` and ``overshoot`` are those of :func:`fgm`.

  Args:
    norm: 'l2' or 'linf'.
    max_steps: the most DeepFool steps.
    overshoot: factor on the linearised step.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm=norm)
  settings = core.settings_of(_deepfool, locals(), **_gradient_settings(**kwargs))
  return _deepfool(logits_fn, x, y, **settings)


# ----------------------------------------------------------------------------- iterative


def _iterative_run(
  logits_fn,
  grad_fn,
  tr: Tracker,
  x0,
  y,
  eps,
  step,
  active,
  *,
  n_iter,
  norm,
  momentum: Optional[float],
  start=None,
  sign: float = 1.0,
):
  """One BIM/PGD/MIM run at per-sample (eps, step); queries every iterate, stops on success.

  ``y`` are the labels the gradient is taken for and ``sign`` the direction (+1: ascend the
  cross-entropy of the true labels, -1: descend that of target labels). Returns (tracker,
  success (N,), final iterate).
  """
  x_init = x0 if start is None else start

  def body(s):
    i, tr, xc, h, done = s
    xc_new, h = _step(grad_fn, xc, x0, y, h, eps, step, norm=norm, momentum=momentum, sign=sign)
    run = ~done
    tr, adv, _ = core.query(tr, logits_fn, xc_new, run)
    xc = jnp.where(_per_sample(run, xc), xc_new, xc)
    return i + 1, tr, xc, h, done | (adv & run)

  done0 = ~active
  init = (0, tr, x_init, jnp.zeros_like(x0), done0)
  _, tr, xc, _, done = core.while_undone(n_iter, body, init, done=4)
  return tr, done & active, xc


def _step(grad_fn, xc, x0, y, h, eps, step, *, norm, momentum, sign):
  """One projected step: x <- clip(x0 + proj_eps(x + step * dir(sign * g) - x0)).

  MIM (``momentum`` given, L-inf): h <- momentum * h + g / mean|g|, dir = sign(h).
  Returns (new iterate, new momentum buffer).
  """
  g = sign * grad_fn(xc, y)
  if momentum is not None:
    mean_abs = jnp.mean(jnp.abs(g.reshape(g.shape[0], -1)), axis=1)
    h = momentum * h + g / _per_sample(mean_abs + _EPS, g)
    d = jnp.sign(h)
  else:
    d = _direction(g, norm)
  x_new = xc + _per_sample(step, xc) * d
  return core.clip(x0 + _project(x_new - x0, eps, norm)), h


def _eps_search_impl(
  logits_fn,
  x,
  y,
  *,
  norm: str,
  eps0: float,
  step0: float,
  n_iter: int,
  momentum: Optional[float],
  grow_steps: int,
  search_steps: int,
  source: core.GradientSource,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary)
  grad_fn = source.grad_fn(logits_fn)
  n = x.shape[0]
  ratio = step0 / eps0
  # phase 0: growing eps (x1.5 until success), 1: bisection, 2: finished.
  phase = jnp.where(tr.clean_correct, 0, 2).astype(jnp.int32)
  eps = jnp.full((n,), eps0, jnp.float32)
  lo = jnp.zeros((n,), jnp.float32)
  hi = jnp.full((n,), jnp.inf, jnp.float32)
  count = jnp.zeros((n,), jnp.int32)

  def cond(s):
    return jnp.any(s[1] < 2)

  def body(s):
    tr, phase, eps, lo, hi, count = s
    active = phase < 2
    tr, ok, _ = _iterative_run(
      logits_fn,
      grad_fn,
      tr,
      x,
      y,
      eps,
      eps * ratio,
      active,
      n_iter=n_iter,
      norm=norm,
      momentum=momentum,
    )
    grow = phase == 0
    bis = phase == 1
    # growing phase
    g_success = grow & ok
    g_fail = grow & ~ok
    g_count = jnp.where(grow, count + 1, count)
    new_hi = jnp.where(g_success, eps, hi)
    new_lo = lo
    # bisection phase
    new_hi = jnp.where(bis & ok, eps, new_hi)
    new_lo = jnp.where(bis & ~ok, eps, new_lo)
    b_count = jnp.where(bis, count + 1, count)
    count_new = jnp.where(grow, jnp.where(g_success, 0, g_count), b_count)
    phase_new = phase
    phase_new = jnp.where(g_success, 1, phase_new)
    phase_new = jnp.where(g_fail & (g_count >= grow_steps), 2, phase_new)
    phase_new = jnp.where(bis & (b_count >= search_steps), 2, phase_new)
    eps_new = jnp.where(g_fail, eps * 1.5, eps)
    eps_new = jnp.where(phase_new == 1, 0.5 * (new_lo + new_hi), eps_new)
    return tr, phase_new, eps_new, new_lo, new_hi, count_new

  tr, *_ = jax.lax.while_loop(cond, body, (tr, phase, eps, lo, hi, count))
  return tr


_eps_search = core.static_jit(_eps_search_impl)


def _minimal_iterative(
  logits_fn,
  x,
  y,
  *,
  norm: str,
  eps0: float,
  step0: float,
  momentum: Optional[float],
  n_iter: int = 10,
  grow_steps: int = 20,
  search_steps: int = 20,
  **kwargs,
) -> Tracker:
  """BIM (``momentum=None``) or MIM with the epsilon search (see :func:`bim`)."""
  x, y, _, _ = core.check_attack_args(logits_fn, x, y, norm=norm, eps=[eps0, step0])
  if eps0 <= 0:
    raise ValueError(f"argument 'eps0': expected a radius > 0, got {eps0}")
  settings = core.settings_of(_eps_search, locals(), **_gradient_settings(**kwargs))
  return _eps_search(logits_fn, x, y, **settings)


def bim(
  logits_fn: LogitsFn, x, y, *, norm: str = "linf", eps0: float = 0.3, step0: float = 0.05, **kwargs
) -> Tracker:
  """Basic iterative method with epsilon search (L-inf BIM or L2 BIM), minimal-perturbation.

  eps (a true Lp radius) starts at ``eps0`` and is multiplied by 1.5 until a run succeeds
  (<= ``grow_steps`` runs), then ``search_steps`` bisection steps on (0, eps_success], step/eps
  kept constant. The ABS paper's L2 BIM (Foolbox 1.x: eps0 0.3, step 0.05 as RMS values) is
  ``eps0=foolbox1_to_true(0.3, 'l2', shape)``, ``step0=foolbox1_to_true(0.05, 'l2', shape)``.

  The arguments other than those below are those of :func:`fgm`.

  Args:
    norm: 'linf' or 'l2'.
    eps0: the first radius.
    step0: the first step size (step / eps stays constant).
    n_iter: iterations per run (default 10).
    grow_steps: the most runs while the radius grows (default 20).
    search_steps: bisection steps on the radius (default 20).

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  return _minimal_iterative(
    logits_fn, x, y, norm=norm, eps0=eps0, step0=step0, momentum=None, **kwargs
  )


def mim(
  logits_fn: LogitsFn, x, y, *, eps0: float = 0.3, step0: float = 0.06, decay: float = 1.0, **kwargs
) -> Tracker:
  """Momentum iterative method (L-inf; Dong et al. 2018) with the epsilon search of :func:`bim`.

  The arguments other than ``decay`` are those of :func:`bim` (``norm`` is L-inf).

  Args:
    decay: momentum decay.

  Returns:
    A :class:`Tracker` with the closest adversarial per sample in every metric.
  """
  return _minimal_iterative(
    logits_fn, x, y, norm="linf", eps0=eps0, step0=step0, momentum=decay, **kwargs
  )


# Foolbox 3 defaults of its PGD attacks (relative step size, i.e. step = rel_step * eps).
DEFAULT_REL_STEP = {"linf": 0.01 / 0.3, "l2": 0.025}


def _fixed_impl(
  logits_fn,
  x,
  y,
  key,
  eps,
  step,
  targets,
  *,
  norm: str,
  n_iter: int,
  momentum: Optional[float],
  random_start: bool,
  early_stop: bool,
  source: core.GradientSource,
  binary: bool,
):
  tr = core.init_tracker(logits_fn, x, y, binary=binary, targets=targets)
  grad_fn = source.grad_fn(logits_fn)
  n = x.shape[0]
  eps_v = jnp.broadcast_to(eps, (n,))
  step_v = jnp.broadcast_to(step, (n,))
  # Targeted: descend the cross-entropy of the target class.
  label, sign = (y, 1.0) if targets is None else (targets, -1.0)
  start = core.clip(x + _uniform_ball(key, x.shape, eps_v, norm)) if random_start else x
  if early_stop:
    tr, _, xf = _iterative_run(
      logits_fn,
      grad_fn,
      tr,
      x,
      label,
      eps_v,
      step_v,
      tr.clean_correct,
      n_iter=n_iter,
      norm=norm,
      momentum=momentum,
      start=start,
      sign=sign,
    )
    return xf, tr.adversarial(logits_fn(xf)), tr

  def body(i, s):
    xc, h = s
    return _step(grad_fn, xc, x, label, h, eps_v, step_v, norm=norm, momentum=momentum, sign=sign)

  # Fully unrolled: on XLA:CPU a while-loop body runs markedly slower than straight-line code.
  xf, _ = jax.lax.fori_loop(0, n_iter, body, (start, jnp.zeros_like(x)), unroll=True)
  tr, fooled, _ = core.query(tr, logits_fn, xf)
  return xf, fooled, tr


def _fixed_multi_impl(logits_fn, x, y, key, eps, step, targets, **static):
  """:func:`_fixed_impl` vectorised over a list of radii (and their step sizes)."""
  run = lambda e, s: _fixed_impl(logits_fn, x, y, key, e, s, targets, **static)  # noqa: E731
  xf, fooled, tr = jax.vmap(run)(eps, step)
  return xf, fooled, core.merge_leading(tr)


_fixed_multi = core.static_jit(_fixed_multi_impl, ["logits_fn", *core.setting_names(_fixed_impl)])


def iterative_attack(
  logits_fn: LogitsFn,
  x,
  y,
  key,
  eps,
  *,
  norm: str = "linf",
  step: Optional[float] = None,
  rel_step: Optional[float] = None,
  n_iter: int = 40,
  momentum: Optional[float] = None,
  random_start: bool = True,
  early_stop: bool = False,
  targets=None,
  **kwargs,
) -> Tuple[jax.Array, jax.Array, Tracker]:
  """Fixed-epsilon BIM/PGD/MIM at one radius or a list of radii.

  ``gradient``, ``ge_step``, ``ge_probe_batch`` and ``binary`` are those of :func:`fgm`.

  Args:
    logits_fn: the model, images (B, ...) -> logits (B, classes); pure, so it can be jitted.
    x: (N, ...) clean images in [0, 1].
    y: (N,) true labels.
    key: PRNG key of the random start (ignored without one).
    eps: true Lp radius (L2: Euclidean norm of the whole perturbation), a scalar or a list; a
      list is run as one vectorised (vmapped) program.
    step: absolute step size (the same for every radius), or
    rel_step: step size relative to each radius (step = rel_step * eps). With neither, Foolbox
      3's defaults: rel_step 0.01 / 0.3 (L-inf) or 0.025 (L2).
    targets: (N,) target labels for a targeted attack (success = classified as the target;
      the step descends the target's cross-entropy); None = untargeted.
    early_stop: False (PGD of Madry et al.): all ``n_iter`` steps run and the final iterate is
      queried; True: every iterate is queried and a sample stops at its first success.
    momentum: MIM decay (L-inf only); None = BIM/PGD.
    norm: 'linf' or 'l2'.
    n_iter: gradient steps per radius.
    random_start: start from a uniform point of the ball (PGD, Madry et al. 2018) instead of x.

  Returns:
    ``(x_adv, success, tracker)``: x_adv (N, ...) and success (N,) bool for a scalar ``eps``,
    (E, N, ...) and (E, N) for a list of E radii; the tracker keeps the closest adversarial
    over all radii per sample and metric.
  """
  x, y, eps_arr, targets = core.check_attack_args(
    logits_fn, x, y, norm=norm, eps=eps, supported_norms=("l2", "linf"), targets=targets
  )
  if momentum is not None and norm != "linf":
    raise ValueError(f"argument 'momentum': MIM is an L-inf attack, got norm {norm!r}")
  if step is not None and rel_step is not None:
    raise ValueError("arguments 'step' and 'rel_step': expected at most one, got both")
  eps_list = np.atleast_1d(eps_arr)
  if step is not None:
    steps = np.full_like(eps_list, float(step))
  else:
    steps = eps_list * float(DEFAULT_REL_STEP[norm] if rel_step is None else rel_step)
  eps_list, steps = jnp.asarray(eps_list), jnp.asarray(steps, jnp.float32)
  settings = core.settings_of(_fixed_impl, locals(), **_gradient_settings(**kwargs))
  xf, fooled, tr = _fixed_multi(logits_fn, x, y, key, eps_list, steps, targets, **settings)
  if eps_arr.ndim == 0:
    return xf[0], fooled[0], tr
  return xf, fooled, tr


def pgd(
  logits_fn: LogitsFn,
  x,
  y,
  key,
  eps=0.3,
  *,
  norm: str = "linf",
  step: Optional[float] = None,
  rel_step: Optional[float] = None,
  n_iter: int = 40,
  random_start: bool = True,
  targets=None,
  **kwargs,
):
  """PGD (Madry et al. 2018): ``(x_adv, success)``, per radius when ``eps`` is a list.

  Defaults: L-inf, eps 0.3, 40 steps of 0.01 (rel_step 0.01 / 0.3), random start = Foolbox 3's
  ``LinfPGD``; its ``L2PGD`` is ``norm='l2', n_iter=50`` (rel_step 0.025; eps a true L2 radius).

  Args:
    logits_fn: the classifier, x -> (N, K) logits.
    x: (N, H, W, C) inputs in [0, 1].
    y: (N,) true labels.
    key: JAX PRNG key.
    eps: a radius or a list of radii.
    norm: 'linf' or 'l2'.
    step: absolute step size (overrides ``rel_step``).
    rel_step: step size relative to eps.
    n_iter: iterations.
    random_start: start from a uniform point of the ball.
    targets: (N,) target labels of a targeted attack, or None.
    **kwargs: further ``iterative_attack`` arguments.

  Returns:
    ``(x_adv, success)``; with a list of radii, one row per radius.
  """
  xf, fooled, _ = iterative_attack(
    logits_fn,
    x,
    y,
    key,
    eps,
    norm=norm,
    step=step,
    rel_step=rel_step,
    n_iter=n_iter,
    random_start=random_start,
    targets=targets,
    **kwargs,
  )
  return xf, fooled
