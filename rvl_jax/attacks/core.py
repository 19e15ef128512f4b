"""Shared attack machinery (Schott et al. 2019, Sec. 5; Foolbox 1.x semantics): distances, the
best-adversarial tracker, gradients.

Every attack in :mod:`rvl_jax.attacks` attacks a *classifier* given as a pure function
``logits_fn(x) -> (N, K) logits`` with ``x`` float32 of shape ``(N, H, W, C)`` in the bounds
``(0, 1)``. The criterion is untargeted misclassification (``argmax logits != y``).

The :class:`Tracker` replicates Foolbox 1.x's ``Adversarial`` object, batched: every candidate
an attack queries goes through :func:`query`, and for each sample and each metric (L0, L2, L-inf)
the tracker keeps the closest misclassified candidate seen so far. Clean inputs that are already
misclassified get distance 0 (and are never attacked); samples that no query fooled keep
distance +inf. For binarized models (``binary=True``) every adversarial is post-processed before
its distance is measured (pixels whose binarized value did not change are reset to the clean
value, flipped pixels are moved just across the threshold) -- the binarized image, hence the
decision, is unchanged and the distance shrinks.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Callable, Dict, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation

LogitsFn = Callable[[jax.Array], jax.Array]
METRICS = ("l0", "l2", "linf")
BOUNDS = (0.0, 1.0)


# ----------------------------------------------------------------------------- distances


def distance(x0: jax.Array, x: jax.Array, metric: str) -> jax.Array:
  """Per-sample distance between batches ``x0`` and ``x`` (leading batch axis).

  Args:
    x0: (N, ...) reference inputs.
    x: (N, ...) perturbed inputs.
    metric: ``l0`` (number of entries that changed, any amount), ``l2`` (Euclidean norm),
      ``linf`` (max absolute change) or ``mse`` (Foolbox's mean squared error ``L2**2 / D``).

  Returns:
    (N,) distances.

  Raises:
    ValueError: naming ``metric`` for an unknown metric.
  """
  delta = (x - x0).reshape(x.shape[0], -1)
  if metric == "l0":
    return jnp.sum(delta != 0, axis=1).astype(jnp.float32)
  if metric == "l2":
    return jnp.sqrt(jnp.sum(jnp.square(delta), axis=1))
  if metric == "linf":
    return jnp.max(jnp.abs(delta), axis=1)
  if metric == "mse":
    return jnp.mean(jnp.square(delta), axis=1)
  raise ValueError(f"argument 'metric': expected one of l0, l2, linf, mse, got {metric!r}")


def _per_sample(v: jax.Array, like: jax.Array) -> jax.Array:
  """Reshapes a per-sample vector (N,) to broadcast against ``like`` (N, ...)."""
  return jnp.reshape(v, (-1,) + (1,) * (like.ndim - 1))


def clip(x: jax.Array) -> jax.Array:
  return jnp.clip(x, BOUNDS[0], BOUNDS[1])


# ----------------------------------------------------------------------------- binarization


def binarize(x: jax.Array, threshold: float = 0.5) -> jax.Array:
  """Binarizes inputs (inclusive at the threshold).

  Args:
    x: inputs.
    threshold: the binarization threshold.

  Returns:
    0 where x < threshold, 1 where x >= threshold, in x's dtype.
  """
  return (x >= threshold).astype(x.dtype)


def binarize_ste(x: jax.Array, threshold: float = 0.5) -> jax.Array:
  """Binarization with the straight-through gradient (d binarize / dx := 1).

  Args:
    x: inputs.
    threshold: the binarization threshold.

  Returns:
    ``binarize(x, threshold)`` in the forward pass, the identity's gradient backwards.
  """
  return x + jax.lax.stop_gradient(binarize(x, threshold) - x)


def straight_through(inner_logits_fn: LogitsFn, threshold: float = 0.5) -> LogitsFn:
  """Wraps a classifier of *binarized* inputs into a [0, 1] classifier with STE gradients.

  Args:
    inner_logits_fn: classifier of binary inputs.
    threshold: the binarization threshold.

  Returns:
    ``logits_fn(x) = inner_logits_fn(binarize_ste(x, threshold))``.
  """

  def logits_fn(x):
    return inner_logits_fn(binarize_ste(x, threshold))

  return logits_fn


def binary_postprocess(x0: jax.Array, x: jax.Array, threshold: float = 0.5) -> jax.Array:
  """Post-processing of adversarials for binarized models (Schott et al. 2019, Sec. 5).

  Pixels whose binarized value equals that of ``x0`` are reset to ``x0``; flipped pixels are set
  to the threshold side: ``threshold`` where the new pixel is >= threshold (clean below it) and
  ``threshold - 1e-5`` where it is below (clean at or above it). This shrinks the perturbation
  without changing the binarized image.

  Args:
    x0: clean inputs.
    x: adversarials of the same shape.
    threshold: the binarization threshold.

  Returns:
    The post-processed adversarials.
  """
  b0 = x0 >= threshold
  b = x >= threshold
  flipped_up = b & ~b0
  flipped_down = ~b & b0
  out = jnp.where(flipped_up, jnp.asarray(threshold, x.dtype), x0)
  out = jnp.where(flipped_down, jnp.asarray(threshold - 1e-5, x.dtype), out)
  return out


# ----------------------------------------------------------------------------- tracker


@flax.struct.dataclass
class Tracker:
  """Batched best-adversarial bookkeeping (one entry per sample and metric).

  Attributes:
    x0: clean inputs (N, H, W, C).
    y: true labels (N,) int32.
    best: metric -> (N, H, W, C) closest adversarial seen (the clean input while none).
    dist: metric -> (N,) its distance (0 if the clean input is misclassified, +inf if none).
    queries: (N,) int32 number of model queries made for each sample.
    clean_correct: (N,) bool, whether the clean input still needs attacking (untargeted:
      classified correctly; targeted: not yet classified as its target).
    binary: static, post-process adversarials for binarized models.
    threshold: static, the binarization threshold.
    targets: (N,) int32 target labels of a targeted attack (adversarial = classified as the
      target), or None for untargeted misclassification.
  """

  x0: jax.Array
  y: jax.Array
  best: Dict[str, jax.Array]
  dist: Dict[str, jax.Array]
  queries: jax.Array
  clean_correct: jax.Array
  binary: bool = flax.struct.field(pytree_node=False, default=False)
  threshold: float = flax.struct.field(pytree_node=False, default=0.5)
  targets: Optional[jax.Array] = None

  def adversarial(self, logits: jax.Array) -> jax.Array:
    """(N,) whether ``logits`` meet this tracker's criterion (untargeted or targeted)."""
    return is_adversarial(logits, self.y, self.targets)

  def success(self, metric: str) -> jax.Array:
    return jnp.isfinite(self.dist[metric])

  def found(self) -> jax.Array:
    """(N,) whether any adversarial (in any metric) was found, incl. misclassified inputs."""
    return jnp.isfinite(self.dist["l2"])


def is_adversarial(
  logits: jax.Array, y: jax.Array, targets: Optional[jax.Array] = None
) -> jax.Array:
  """Whether logits meet the adversarial criterion.

  Args:
    logits: (N, K) logits.
    y: (N,) true labels.
    targets: (N,) target labels of a targeted attack, or None.

  Returns:
    (N,) bool: untargeted argmax != y; targeted (``targets`` given) argmax == targets.
  """
  if targets is not None:
    return jnp.argmax(logits, axis=-1) == targets
  return jnp.argmax(logits, axis=-1) != y


def init_tracker(
  logits_fn: LogitsFn,
  x0: jax.Array,
  y: jax.Array,
  *,
  binary: bool = False,
  threshold: float = 0.5,
  targets: Optional[jax.Array] = None,
) -> Tracker:
  """Queries the clean inputs; samples already adversarial start (and stay) at distance 0.

  Args:
    logits_fn: the classifier.
    x0: (N, H, W, C) clean inputs.
    y: (N,) true labels.
    binary: post-process adversarials for a binarizing model (``binary_postprocess``).
    threshold: its binarization threshold.
    targets: (N,) target labels of a targeted attack, or None.

  Returns:
    A :class:`Tracker` with one query counted per sample.
  """
  logits = logits_fn(x0)
  if targets is not None:
    targets = jnp.asarray(targets, jnp.int32)
  mis = is_adversarial(logits, y, targets)
  inf = jnp.full((x0.shape[0],), jnp.inf, jnp.float32)
  dist = {m: jnp.where(mis, 0.0, inf) for m in METRICS}
  best = {m: x0 for m in METRICS}
  return Tracker(
    x0=x0,
    y=y.astype(jnp.int32),
    best=best,
    dist=dist,
    queries=jnp.ones((x0.shape[0],), jnp.int32),
    clean_correct=~mis,
    binary=binary,
    threshold=threshold,
    targets=targets,
  )


def update(
  tr: Tracker, cand: jax.Array, adv: jax.Array, active: Optional[jax.Array] = None
) -> Tracker:
  """Offers candidates to the tracker; each metric keeps the closest adversarial.

  Args:
    tr: the tracker.
    cand: (N, ...) candidates.
    adv: (N,) whether each candidate is adversarial.
    active: (N,) samples this query counts for (default all).

  Returns:
    The updated tracker.
  """
  if active is None:
    active = jnp.ones_like(adv)
  ok = adv & active
  if tr.binary:
    cand = binary_postprocess(tr.x0, cand, tr.threshold)
  best, dist = {}, {}
  for m in METRICS:
    d = distance(tr.x0, cand, m)
    better = ok & (d < tr.dist[m])
    dist[m] = jnp.where(better, d, tr.dist[m])
    best[m] = jnp.where(_per_sample(better, cand), cand, tr.best[m])
  return tr.replace(best=best, dist=dist, queries=tr.queries + active.astype(jnp.int32))


def query(
  tr: Tracker, logits_fn: LogitsFn, cand: jax.Array, active: Optional[jax.Array] = None
) -> Tuple[Tracker, jax.Array, jax.Array]:
  """Classifies candidates and offers them to the tracker.

  Args:
    tr: the tracker.
    logits_fn: the classifier.
    cand: (N, ...) candidates.
    active: (N,) samples this query counts for (default all).

  Returns:
    (tracker, (N,) adversarial flags, (N, K) logits).
  """
  logits = logits_fn(cand)
  adv = tr.adversarial(logits)
  return update(tr, cand, adv, active), adv, logits


def merge_leading(tr: Tracker) -> Tracker:
  """Per-sample minimum over the leading axis of a stacked (e.g. vmapped) tracker."""
  best, dist = {}, {}
  for m in METRICS:
    i = jnp.argmin(tr.dist[m], axis=0)
    dist[m] = jnp.take_along_axis(tr.dist[m], i[None], axis=0)[0]
    idx = i.reshape((1,) + i.shape + (1,) * (tr.best[m].ndim - 2))
    best[m] = jnp.take_along_axis(tr.best[m], idx, axis=0)[0]
  first = lambda a: None if a is None else a[0]
  return tr.replace(
    x0=tr.x0[0],
    y=tr.y[0],
    best=best,
    dist=dist,
    queries=jnp.sum(tr.queries, axis=0),
    clean_correct=tr.clean_correct[0],
    targets=first(tr.targets),
  )


def merge(trackers) -> Tracker:
  """Per-sample, per-metric minimum over several trackers of the same inputs.

  Args:
    trackers: an iterable of trackers of the same inputs.

  Returns:
    One tracker (queries summed).
  """
  trackers = list(trackers)
  out = trackers[0]
  for tr in trackers[1:]:
    best, dist = {}, {}
    for m in METRICS:
      better = tr.dist[m] < out.dist[m]
      dist[m] = jnp.where(better, tr.dist[m], out.dist[m])
      best[m] = jnp.where(_per_sample(better, tr.best[m]), tr.best[m], out.best[m])
    out = out.replace(best=best, dist=dist, queries=out.queries + tr.queries)
  return out


def _map_samples(tr: Tracker, fn) -> Tracker:
  """Applies ``fn`` to every per-sample field of a tracker (the optional targets included)."""
  return tr.replace(
    x0=fn(tr.x0),
    y=fn(tr.y),
    best={m: fn(v) for m, v in tr.best.items()},
    dist={m: fn(v) for m, v in tr.dist.items()},
    queries=fn(tr.queries),
    clean_correct=fn(tr.clean_correct),
    targets=None if tr.targets is None else fn(tr.targets),
  )


def tile_tracker(tr: Tracker, reps: int) -> Tracker:
  """Repeats every sample ``reps`` times along the batch axis (for parallel restarts)."""
  return _map_samples(tr, lambda a: jnp.concatenate([a] * reps, axis=0))


def untile_min(tr: Tracker, reps: int) -> Tracker:
  """Inverse of :func:`tile_tracker`: keeps the per-sample best over the ``reps`` copies."""
  n = tr.x0.shape[0] // reps
  return merge(_map_samples(tr, lambda a, r=r: a[r * n : (r + 1) * n]) for r in range(reps))


def while_undone(max_steps, body, init, *, done: int):
  """``jax.lax.while_loop`` over a state tuple ``(step, ...)``: runs ``body`` while fewer than
  ``max_steps`` steps ran and some sample is not done (``state[done]``, (N,) bool)."""
  return jax.lax.while_loop(lambda s: (s[0] < max_steps) & ~jnp.all(s[done]), body, init)


# ----------------------------------------------------------------------------- losses / grads


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
  """Per-sample softmax cross-entropy of raw logits w.r.t. integer labels.

  Args:
    logits: (N, K) logits.
    y: (N,) integer labels.

  Returns:
    (N,) cross-entropies.
  """
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=-1)[:, 0]


def calibrated_probs(logits: jax.Array, alpha: float, eta: float) -> jax.Array:
  """The calibrated eta-softmax of Schott et al. (2019), eq. 8:
  (exp(a s_c) + eta) / (sum_k exp(a s_k) + K eta).

  Computed without max-shifting (eta breaks shift invariance), in float32 with the exponent
  clipped to avoid overflow.

  Args:
    logits: (N, K) logits s.
    alpha: the scale a.
    eta: the offset.

  Returns:
    (N, K) probabilities.
  """
  s = alpha * logits.astype(jnp.float32)
  e = jnp.exp(jnp.clip(s, -80.0, 80.0))
  return (e + eta) / (jnp.sum(e, axis=-1, keepdims=True) + logits.shape[-1] * eta)


def ce_logit_cotangent(logits: jax.Array, y: jax.Array) -> jax.Array:
  """d CE / d logits = softmax - onehot, computed so that its direction survives saturation.

  Written as (1 - p_y) * (q - onehot) with q the softmax over the wrong classes; the scale
  1 - p_y is evaluated in log space and floored at exp(-80). When a float32 softmax saturates
  (logit gaps > ~88, common for the released CNN) the plain formula gives an all-zero gradient;
  here the gradient keeps its exact direction and only its (unrepresentable) magnitude is
  floored. Elsewhere it equals the exact gradient.
  """
  lg = logits.astype(jnp.float32)
  onehot = jax.nn.one_hot(y, lg.shape[-1], dtype=lg.dtype)
  lse_all = jax.nn.logsumexp(lg, axis=-1)
  masked = jnp.where(onehot > 0, -jnp.inf, lg)
  lse_other = jax.nn.logsumexp(masked, axis=-1)
  q = jnp.exp(masked - lse_other[:, None])
  scale = jnp.exp(jnp.clip(lse_other - lse_all, -80.0, 0.0))
  return scale[:, None] * (q - onehot)


def true_grad(logits_fn: LogitsFn) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """The autodiff gradient of the per-sample cross-entropy.

  Args:
    logits_fn: a differentiable classifier (straight-through for binarizing models).

  Returns:
    ``g(x, y)``: the gradient of the per-sample CE w.r.t. x (see :func:`ce_logit_cotangent`
    for the saturation-safe cotangent).
  """

  def g(x, y):
    logits, vjp = jax.vjp(logits_fn, x)
    return vjp(ce_logit_cotangent(logits, y).astype(logits.dtype))[0]

  return g


def _fd_probe_logits(logits_fn: LogitsFn, x: jax.Array, h: float, probe_batch: int):
  """Logits of the symmetric coordinate probes clip(x +- h e_i), all i.

  Returns (plus, minus), each (D, N, K). Probes are evaluated in model calls of about
  ``probe_batch`` images (``probe_batch // (2 N)`` pixels at a time).
  """
  n = x.shape[0]
  shape = x.shape[1:]
  d = int(np.prod(shape))
  chunk = max(1, min(int(probe_batch) // (2 * n), d))
  n_chunks = -(-d // chunk)
  flat = x.reshape(n, d)

  def one_chunk(c):
    idx = c * chunk + jnp.arange(chunk)
    valid = idx < d
    onehot = jax.nn.one_hot(jnp.where(valid, idx, 0), d, dtype=x.dtype) * valid[:, None]
    plus = jnp.clip(flat[None] + h * onehot[:, None, :], 0.0, 1.0)
    minus = jnp.clip(flat[None] - h * onehot[:, None, :], 0.0, 1.0)
    both = jnp.concatenate([plus, minus], axis=0).reshape((2 * chunk * n,) + shape)
    lg = logits_fn(both)
    lg = lg.reshape(2, chunk, n, -1)
    return lg[0], lg[1]

  plus, minus = jax.lax.map(one_chunk, jnp.arange(n_chunks))
  k = plus.shape[-1]
  plus = plus.reshape(n_chunks * chunk, n, k)[:d]
  minus = minus.reshape(n_chunks * chunk, n, k)[:d]
  return plus, minus


def estimated_grad(logits_fn: LogitsFn, h: float = 0.1, probe_batch: int = 2048):
  """Coordinate-wise symmetric finite-difference estimate of the CE gradient (the "w/ GE"
  attacks of Schott et al. 2019, Sec. 5).

  g_i = (CE(clip(x + h e_i)) - CE(clip(x - h e_i))) / (2 h): 2 * D queries per sample.
  Probes are not offered to the tracker (as in Foolbox's estimator).

  Args:
    logits_fn: the classifier (needs no gradients).
    h: the finite-difference step.
    probe_batch: about how many probe images go into one model call.

  Returns:
    ``g(x, y)`` -> gradient estimate of x's shape.
  """

  def g(x, y):
    plus, minus = _fd_probe_logits(logits_fn, x, h, probe_batch)
    ce = jax.vmap(lambda lg: cross_entropy(lg, y))
    diff = (ce(plus) - ce(minus)) / (2.0 * h)  # (D, N)
    return diff.T.reshape(x.shape)

  return g


def true_class_jacobian(logits_fn: LogitsFn):
  """Returns ``j(x) -> (N, K, ...)``: exact gradients of CE_k = -log_softmax_k for every class."""

  def j(x):
    def f(xx):
      return -jax.nn.log_softmax(logits_fn(xx), axis=-1)  # (N, K)

    out, vjp = jax.vjp(f, x)
    k = out.shape[-1]
    eye = jnp.eye(k, dtype=out.dtype)
    grads = jax.vmap(lambda e: vjp(jnp.broadcast_to(e, out.shape))[0])(eye)  # (K, N, ...)
    return jnp.moveaxis(grads, 0, 1)

  return j


def estimated_class_jacobian(logits_fn: LogitsFn, h: float = 0.1, probe_batch: int = 2048):
  """Finite-difference estimate of all K CE_k gradients from one set of 2 * D probes."""

  def j(x):
    plus, minus = _fd_probe_logits(logits_fn, x, h, probe_batch)
    lp = -jax.nn.log_softmax(plus, axis=-1)
    lm = -jax.nn.log_softmax(minus, axis=-1)
    diff = (lp - lm) / (2.0 * h)  # (D, N, K)
    n, k = x.shape[0], diff.shape[-1]
    return jnp.transpose(diff, (1, 2, 0)).reshape((n, k) + x.shape[1:])

  return j


def make_grad_fn(
  logits_fn: LogitsFn, gradient: str = "true", ge_step: float = 0.1, ge_probe_batch: int = 2048
):
  """Gradient source for gradient-based attacks.

  Args:
    logits_fn: the classifier.
    gradient: 'true' (autodiff, incl. STE; :func:`true_grad`) or 'ge' (:func:`estimated_grad`).
    ge_step: finite-difference step for 'ge'.
    ge_probe_batch: probe images per model call for 'ge'.

  Returns:
    ``g(x, y)`` -> the CE gradient (or its estimate) w.r.t. x.

  Raises:
    ValueError: naming ``gradient`` for an unknown source.
  """
  if gradient == "true":
    return true_grad(logits_fn)
  if gradient == "ge":
    return estimated_grad(logits_fn, ge_step, ge_probe_batch)
  raise ValueError(f"argument 'gradient': expected 'true' or 'ge', got {gradient!r}")


def make_jacobian_fn(
  logits_fn: LogitsFn, gradient: str = "true", ge_step: float = 0.1, ge_probe_batch: int = 2048
):
  if gradient == "true":
    return true_class_jacobian(logits_fn)
  if gradient == "ge":
    return estimated_class_jacobian(logits_fn, ge_step, ge_probe_batch)
  raise ValueError(f"argument 'gradient': expected 'true' or 'ge', got {gradient!r}")


@dataclasses.dataclass(frozen=True)
class GradientSource:
  """Where a gradient-based attack takes its gradients from; hashable, so one static setting.

  Attributes:
    gradient: 'true' (autodiff, straight-through for binarizing models) or 'ge' (the
      coordinate-wise finite-difference estimate, the "w/ GE" attacks of Schott et al. 2019,
      Sec. 5).
    ge_step: finite-difference step for 'ge'.
    ge_probe_batch: probe images per model call for 'ge'.
  """

  gradient: str = "true"
  ge_step: float = 0.1
  ge_probe_batch: int = 2048

  def __post_init__(self):
    # Settings converted to their types, so that equal settings hash equally as static arguments.
    object.__setattr__(self, "gradient", str(self.gradient))
    object.__setattr__(self, "ge_step", float(self.ge_step))
    object.__setattr__(self, "ge_probe_batch", int(self.ge_probe_batch))

  def grad_fn(self, logits_fn: LogitsFn):
    """``g(x, y)`` -> the CE gradient (or its estimate); see :func:`make_grad_fn`."""
    return make_grad_fn(logits_fn, self.gradient, self.ge_step, self.ge_probe_batch)

  def jacobian_fn(self, logits_fn: LogitsFn):
    """``J(x)`` -> the gradients of every class's CE (or their estimate), (N, K, ...)."""
    return make_jacobian_fn(logits_fn, self.gradient, self.ge_step, self.ge_probe_batch)


# ----------------------------------------------------------------------------- validation


def check_inputs(x, y) -> Tuple[jax.Array, jax.Array]:
  """Validates (x, y) at public entry points and converts them to jax arrays."""
  validation.check_array("x", x, ndim=4, dtype="floating", value_range=BOUNDS)
  validation.check_array("y", y, shape=(x.shape[0],), dtype="integer")
  return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


NORMS = ("l0", "l1", "l2", "linf")


@functools.lru_cache(maxsize=256)
def _output_shape(logits_fn: LogitsFn, x_shape) -> tuple:
  """Output shape of ``logits_fn`` on float32 inputs of ``x_shape`` (abstract evaluation)."""
  try:
    out = jax.eval_shape(logits_fn, jax.ShapeDtypeStruct(x_shape, jnp.float32))
  except Exception as e:
    raise ValueError(
      f"argument 'logits_fn': expected a function mapping x of shape "
      f"{x_shape} to (N, K) logits; calling it failed: {e}"
    ) from e
  return tuple(getattr(out, "shape", ()))


def logits_shape(logits_fn: LogitsFn, x_shape) -> tuple:
  """Output shape of ``logits_fn`` on float32 inputs of ``x_shape``, by abstract evaluation
  (cached per function and shape where the function is hashable)."""
  try:
    return _output_shape(logits_fn, tuple(x_shape))
  except TypeError:  # an unhashable callable: not cached
    return _output_shape.__wrapped__(logits_fn, tuple(x_shape))


def check_attack_args(
  logits_fn: LogitsFn,
  x,
  y,
  *,
  norm: str,
  eps=None,
  supported_norms: Tuple[str, ...] = ("l2", "linf"),
  targets=None,
  targeted: bool = False,
  min_classes: int = 2,
):
  """Validates the common arguments of a public attack entry point.

  Checks, each with an error naming the argument, what was expected and what was received:
  ``x`` (N, H, W, C) floating in [0, 1]; ``y`` (N,) integer; ``norm`` one of
  ``supported_norms``; ``eps`` (a scalar or a 1-D list of radii, ``None`` for minimal-norm
  attacks) finite and >= 0; ``logits_fn`` maps ``x`` to (N, K) logits with K >= 2 (checked
  abstractly with :func:`jax.eval_shape`, no computation; K >= ``min_classes``); for
  ``targeted=True`` ``targets``
  (N,) integer labels in [0, K).

  Every radius is the true Lp norm of the whole perturbation (L2: Euclidean norm over all
  pixels and channels), never a per-pixel RMS value.

  Args:
    logits_fn: the classifier.
    x: inputs.
    y: labels.
    norm: the attack's norm.
    eps: radius or radii (None for minimal-norm attacks).
    supported_norms: the norms the attack supports.
    targets: target labels (targeted attacks).
    targeted: whether ``targets`` is required.
    min_classes: the least number of classes ``logits_fn`` must output.

  Returns:
    ``(x, y, eps, targets)``: x float32 and y int32 jax arrays, eps a float32 numpy array of
    shape () or (E,) (``None`` if not given), targets an int32 jax array or ``None``.
  """
  x, y = check_inputs(x, y)
  validation.check_in_choices("norm", norm, tuple(supported_norms))
  if eps is not None:
    arr = np.asarray(eps, dtype=np.float64)
    if arr.ndim > 1 or arr.size == 0:
      raise ValueError(
        f"argument 'eps': expected a scalar or a non-empty 1-D list of radii, got shape {arr.shape}"
      )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
      if arr.ndim == 0:
        raise ValueError(
          f"argument 'eps': expected a finite number >= 0 (the {norm} radius), got {eps!r}"
        )
      raise ValueError(f"argument 'eps': expected finite radii >= 0, got {arr.tolist()}")
    eps = arr.astype(np.float32)
  shape = logits_shape(logits_fn, x.shape)
  if len(shape) != 2 or shape[0] != x.shape[0] or shape[1] < min_classes:
    raise ValueError(
      f"argument 'logits_fn': expected an output of shape (N, K) = "
      f"({x.shape[0]}, K) with K >= {min_classes} for x of shape "
      f"{tuple(x.shape)}, got {shape}"
    )
  if targeted and targets is None:
    raise ValueError(
      "argument 'targets': expected (N,) target labels for a targeted attack, got None"
    )
  if targets is not None:
    validation.check_array(
      "targets", targets, shape=(x.shape[0],), dtype="integer", value_range=(0, shape[1] - 1)
    )
    targets = jnp.asarray(targets, jnp.int32)
  return x, y, eps, targets


def foolbox1_to_true(eps, norm: str, shape) -> float:
  """Converts a Foolbox 1.x radius into the true Lp radius used everywhere in this package.

  Foolbox 1.x (used by the ABS paper, Schott et al. 2019, Sec. 5) measures L2 perturbations as
  root-mean-square values, sqrt(mean(delta^2)); the true L2 norm of an image with D = prod(shape)
  entries is sqrt(D) times that (28 on MNIST). L-inf (and L0) radii are the same in both.

  Args:
    eps: the Foolbox 1.x radius.
    norm: 'l0', 'l1', 'l2' or 'linf'.
    shape: the shape of one input (H, W, C).

  Returns:
    The true Lp radius.

  Raises:
    ValueError: naming ``norm`` for an unknown norm.
  """
  validation.check_in_choices("norm", norm, NORMS)
  if norm == "l2":
    return float(eps) * float(np.sqrt(np.prod(shape)))
  return float(eps)


def static_jit(fn, static_argnames=None):
  """jax.jit of an attack core ``fn(classifier, *arrays, *, settings)``.

  Without ``static_argnames`` the classifier (the first parameter, hashed by identity) and every
  keyword-only setting are static.
  """
  if static_argnames is None:
    static_argnames = [next(iter(inspect.signature(fn).parameters)), *setting_names(fn)]
  return jax.jit(fn, static_argnames=tuple(static_argnames))


def setting_names(fn) -> Tuple[str, ...]:
  """The keyword-only parameters (the settings) of an attack core."""
  params = inspect.signature(fn).parameters.values()
  return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)


# The Python type a setting is converted to, by the annotation of the attack core's parameter.
_SETTING_TYPES = {"int": int, "float": float, "bool": bool}


def settings_of(core_fn, namespace, **values):
  """The keyword-only settings of ``core_fn`` (an attack core, usually :func:`static_jit`-ed),
  for calling it from a public entry point.

  Each setting is taken from ``values`` or else from ``namespace`` (the entry point's
  ``locals()``, whose parameters carry the same names) and converted to the Python type of its
  annotation (``int``, ``float``, ``bool``, or ``Optional`` of one of them, None kept), so that
  equal settings hash equally as static arguments.

  Args:
    core_fn: the function to call.
    namespace: mapping name -> value holding the settings not in ``values``.
    **values: settings under another name in the public entry point, or computed there.

  Returns:
    A dict of keyword arguments for ``core_fn``.
  """
  params = inspect.signature(core_fn).parameters
  out = {}
  for name in setting_names(core_fn):
    value = values[name] if name in values else namespace[name]
    kind = _SETTING_TYPES.get(str(params[name].annotation).removeprefix("Optional[").rstrip("]"))
    out[name] = value if kind is None or value is None else kind(value)
  return out
