"""Auto-PGD (APGD) with the CE, DLR and targeted-DLR losses (Croce & Hein, ICML 2020).

APGD is PGD without a step-size parameter (Croce & Hein 2020, Sec. 3, Alg. 1):

* the step size starts at ``2 eps`` and is halved at checkpoints ``w_j = ceil(p_j N_iter)`` with
  ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` whenever (condition 1)
  the loss increased in fewer than ``rho (w_j - w_{j-1})`` of the steps since the previous
  checkpoint, or (condition 2) the step size was not halved at the previous checkpoint and the
  best loss has not improved since; after a halving the iterate restarts from the best point;
* steps combine the projected gradient step with momentum 0.75 (eq. 2);
* the best-loss iterate is tracked, and every iterate that is misclassified ends the attack for
  its sample (per-sample masks inside a ``lax.while_loop``; the loop stops once all are fooled).

Losses (eqs. 5 and 6): cross-entropy, and the Difference of Logits Ratio
``DLR = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`` (invariant to shifts and scalings of the
logits), targeted ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``. APGD-T runs the targeted loss
once per target class, the classes with the 2nd, 3rd, ... largest clean logits.

``eps`` is the true radius of the Lp ball: the L2 norm is the Euclidean norm of the whole image.
Randomized models (``stochastic=True``) are called as ``logits_fn(x, key=k)`` and attacked with
Expectation over Transformation: each gradient is the mean of ``eot_iter`` draws.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.attacks import core
from rvl_jax.core import batched, prng, validation

NORMS = ("linf", "l2")
LOSSES = ("ce", "dlr", "dlr-targeted")
_TINY = 1e-12


# ----------------------------------------------------------------------------- shared helpers


def per_sample(v, like):
  return jnp.reshape(v, (-1,) + (1,) * (like.ndim - 1))


def lp_norm(v: jax.Array, norm: str) -> jax.Array:
  """Per-sample L-inf or L2 (Euclidean, whole image) norm of a batch."""
  flat = v.reshape(v.shape[0], -1)
  if norm == "linf":
    return jnp.max(jnp.abs(flat), axis=1)
  return jnp.sqrt(jnp.sum(jnp.square(flat), axis=1))


def project(x0: jax.Array, x: jax.Array, eps, norm: str) -> jax.Array:
  """Projection onto the eps-ball around x0 (true Lp radius), then onto the box [0, 1]."""
  d = x - x0
  if norm == "linf":
    d = jnp.clip(d, -eps, eps)
  else:
    n = lp_norm(d, "l2")
    d = d * per_sample(jnp.minimum(1.0, eps / jnp.maximum(n, _TINY)), d)
  return core.clip(x0 + d)


def raw_key(key) -> jax.Array:
  """A uint32 key array (new-style typed keys are unwrapped)."""
  key = jnp.asarray(key) if not hasattr(key, "dtype") else key
  if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
    return jax.random.key_data(key)
  return key


def sample_keys(key: jax.Array, n: int) -> np.ndarray:
  """One independent key per sample, so results do not depend on how a batch is split."""
  return np.asarray(jax.random.split(raw_key(key), n))


def rows(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
  """Reshapes a per-sample numpy mask to broadcast against ``like``."""
  return np.asarray(mask).reshape((-1,) + (1,) * (like.ndim - 1))


def stream(key: jax.Array, name: str) -> jax.Array:
  """A key for the named random stream ``name`` derived from ``key``."""
  return prng.fold_in_name(raw_key(key), name)


def model_fn(logits_fn, stochastic: bool) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """``f(x, key) -> logits``: deterministic models ignore the key."""
  if stochastic:
    return lambda x, key: logits_fn(x, key=key)
  return lambda x, key: logits_fn(x)


def check_attack_args(
  logits_fn, x, y, *, norm: str, eps, stochastic: bool = False, min_classes: int = 2
) -> Tuple[jax.Array, jax.Array, int]:
  """:func:`rvl_jax.attacks.core.check_attack_args` for one radius ``eps`` (a number), with a
  randomized model (``stochastic``) checked as ``logits_fn(x, key=k)``; returns (x, y, number of
  classes K)."""
  numeric = hasattr(eps, "dtype") and np.ndim(eps) == 0 and np.issubdtype(eps.dtype, np.number)
  if isinstance(eps, bool) or not (isinstance(eps, (int, float)) or numeric):
    raise TypeError(f"argument 'eps': expected a number (the Lp radius), got {eps!r}")
  model = (lambda z: logits_fn(z, key=jax.random.PRNGKey(0))) if stochastic else logits_fn
  x, y, _, _ = core.check_attack_args(
    model, x, y, norm=norm, eps=eps, supported_norms=NORMS, min_classes=min_classes
  )
  return x, y, int(core.logits_shape(model, x.shape)[1])


def bucket_size(m: int, batch_size: int) -> int:
  """Batch size for ``m`` remaining points: the next of 16, 64, 256, ..., at most batch_size."""
  b = 16
  while b < m:
    b *= 4
  return int(min(batch_size, b))


def run_on(
  fn, mask: np.ndarray, inputs: dict, batch_size: int, *, desc: str, show_progress: bool = False
):
  """Applies the jitted ``fn(inputs) -> (fooled, x_adv)`` to the rows where ``mask`` holds.

  Rows are compacted (an attack runs only on points still robust) and processed in batches of a
  size from a short list, so few shapes get compiled. Returns numpy (fooled, x_adv) over all rows:
  rows outside ``mask`` are not fooled and keep their clean input.
  """
  idx = np.flatnonzero(mask)
  x_all = np.asarray(inputs["x"])
  fooled = np.zeros(len(mask), bool)
  x_adv = x_all.copy()
  if idx.size == 0:
    return fooled, x_adv
  sub = {k: np.asarray(v)[idx] for k, v in inputs.items()}
  f_sub, x_sub = batched.batched_apply(
    fn, sub, bucket_size(idx.size, batch_size), show_progress=show_progress, desc=desc
  )
  fooled[idx] = f_sub
  x_adv[idx] = np.where(rows(f_sub, x_sub), x_sub, x_all[idx])
  return fooled, x_adv


def top_classes(logits: jax.Array, rank: int) -> jax.Array:
  """The class with the ``rank``-th largest logit per sample (rank 1 = the predicted class)."""
  return jnp.argsort(-logits, axis=-1)[:, rank - 1].astype(jnp.int32)


# ----------------------------------------------------------------------------- losses


def dlr_loss(logits: jax.Array, y: jax.Array) -> jax.Array:
  """Untargeted DLR (eq. 5), per sample; maximised by the attack."""
  z = logits.astype(jnp.float32)
  srt = jnp.sort(z, axis=-1)
  z_y = jnp.take_along_axis(z, y[:, None], axis=-1)[:, 0]
  other = jnp.max(jnp.where(jax.nn.one_hot(y, z.shape[-1]) > 0, -jnp.inf, z), axis=-1)
  return -(z_y - other) / (srt[:, -1] - srt[:, -3] + _TINY)


def dlr_targeted_loss(logits: jax.Array, y: jax.Array, target: jax.Array) -> jax.Array:
  """Targeted DLR (eq. 6), per sample; maximised by the attack."""
  z = logits.astype(jnp.float32)
  srt = jnp.sort(z, axis=-1)
  z_y = jnp.take_along_axis(z, y[:, None], axis=-1)[:, 0]
  z_t = jnp.take_along_axis(z, target[:, None], axis=-1)[:, 0]
  return -(z_y - z_t) / (srt[:, -1] - 0.5 * (srt[:, -3] + srt[:, -4]) + _TINY)


def _loss_and_cotangent(loss: str, logits, y, target):
  """Per-sample loss and its gradient w.r.t. the logits (saturation-safe for CE)."""
  if loss == "ce":
    return core.cross_entropy(logits, y), core.ce_logit_cotangent(logits, y)
  if loss == "dlr":
    fn = lambda z: dlr_loss(z, y)
  else:
    fn = lambda z: dlr_targeted_loss(z, y, target)
  val, vjp = jax.vjp(fn, logits.astype(jnp.float32))
  return val, vjp(jnp.ones_like(val))[0]


# ----------------------------------------------------------------------------- checkpoints


def checkpoints(n_iter: int) -> np.ndarray:
  """Interval length ending at each iteration (0 where iteration i + 1 is no checkpoint).

  Checkpoints ``w_j = ceil(p_j n_iter)`` with p_0 = 0, p_1 = 0.22 and
  p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (Croce & Hein 2020, Sec. 3.2).
  """
  p = [0.0, 0.22]
  while True:
    nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
    if nxt > 1.0:
      break
    p.append(nxt)
  w = sorted({int(math.ceil(pj * n_iter - 1e-9)) for pj in p})
  lengths = np.zeros(n_iter, np.int32)
  for a, b in zip(w[:-1], w[1:]):
    if 0 < b <= n_iter and b > a:
      lengths[b - 1] = b - a
  return lengths


# ----------------------------------------------------------------------------- one run


def _apgd_run_impl(
  logits_fn,
  inputs,
  eps,
  *,
  norm: str,
  n_iter: int,
  loss: str,
  eot_iter: int,
  rho: float,
  stochastic: bool,
):
  x0, y, target, keys = inputs["x"], inputs["y"], inputs["target"], inputs["key"]
  f = model_fn(logits_fn, stochastic)
  n = x0.shape[0]
  ck = jnp.asarray(checkpoints(n_iter))

  def loss_grad(x, i):
    def one(j, acc):
      k = jax.random.fold_in(jax.random.fold_in(keys[0], i), j)
      logits, vjp = jax.vjp(lambda xx: f(xx, k), x)
      val, cot = _loss_and_cotangent(loss, logits, y, target)
      g = vjp(cot.astype(logits.dtype))[0]
      return acc[0] + val, acc[1] + g, logits

    val, g, logits = one(0, (jnp.zeros((n,), jnp.float32), jnp.zeros_like(x)))
    if eot_iter > 1:
      val, g, logits = jax.lax.fori_loop(
        1, eot_iter, lambda j, s: one(j, (s[0], s[1])), (val, g, logits)
      )
    return val / eot_iter, g / eot_iter, logits

  # Random start in the eps-ball (per-sample keys).
  if norm == "linf":
    t = jax.vmap(lambda k: jax.random.uniform(k, x0.shape[1:], minval=-1.0, maxval=1.0))(keys)
    start = x0 + eps * t
  else:
    t = jax.vmap(lambda k: jax.random.normal(k, x0.shape[1:]))(keys)
    start = x0 + eps * t / per_sample(lp_norm(t, "l2") + _TINY, t)
  xc = core.clip(start)
  val, g, logits = loss_grad(xc, 0)
  fooled = core.is_adversarial(logits, y)
  state = dict(
    i=jnp.int32(0),
    x=xc,
    x_prev=xc,
    g=g,
    f=val,
    x_max=xc,
    g_max=g,
    f_max=val,
    eta=jnp.full((n,), 2.0 * eps, jnp.float32),
    count=jnp.zeros((n,), jnp.int32),
    f_max_last=val,
    reduced_last=jnp.zeros((n,), bool),
    fooled=fooled,
    x_adv=xc,
  )

  def cond(s):
    return (s["i"] < n_iter) & ~jnp.all(s["fooled"])

  def body(s):
    i, x, g = s["i"], s["x"], s["g"]
    step = per_sample(s["eta"], x)
    if norm == "linf":
      z = project(x0, x + step * jnp.sign(g), eps, norm)
    else:
      z = project(x0, x + step * g / per_sample(lp_norm(g, "l2") + _TINY, g), eps, norm)
    a = jnp.where(i == 0, 1.0, 0.75)
    x_new = project(x0, x + a * (z - x) + (1.0 - a) * (x - s["x_prev"]), eps, norm)
    val, g_new, logits = loss_grad(x_new, i + 1)
    run = ~s["fooled"]
    run_x = per_sample(run, x)
    adv = core.is_adversarial(logits, y) & run
    x_adv = jnp.where(per_sample(adv, x), x_new, s["x_adv"])
    count = s["count"] + (val > s["f"]).astype(jnp.int32)
    better = val > s["f_max"]
    better_x = per_sample(better, x)
    x_max = jnp.where(better_x, x_new, s["x_max"])
    g_max = jnp.where(better_x, g_new, s["g_max"])
    f_max = jnp.where(better, val, s["f_max"])
    # Step-size checkpoint (conditions 1 and 2 of Sec. 3.2).
    k = ck[i]
    at_ck = k > 0
    cond1 = count.astype(jnp.float32) < rho * k.astype(jnp.float32)
    cond2 = ~s["reduced_last"] & (f_max <= s["f_max_last"])
    reduce = at_ck & (cond1 | cond2)
    red_x = per_sample(reduce, x)
    eta = jnp.where(reduce, 0.5 * s["eta"], s["eta"])
    x_next = jnp.where(red_x, x_max, x_new)
    g_next = jnp.where(red_x, g_max, g_new)
    f_next = jnp.where(reduce, f_max, val)
    x_prev = jnp.where(red_x, x_max, x)
    new = dict(
      i=i + 1,
      x=jnp.where(run_x, x_next, x),
      x_prev=jnp.where(run_x, x_prev, s["x_prev"]),
      g=jnp.where(run_x, g_next, g),
      f=jnp.where(run, f_next, s["f"]),
      x_max=jnp.where(run_x, x_max, s["x_max"]),
      g_max=jnp.where(run_x, g_max, s["g_max"]),
      f_max=jnp.where(run, f_max, s["f_max"]),
      eta=jnp.where(run, eta, s["eta"]),
      count=jnp.where(at_ck, 0, count),
      f_max_last=jnp.where(at_ck, f_max, s["f_max_last"]),
      reduced_last=jnp.where(at_ck, reduce, s["reduced_last"]),
      fooled=s["fooled"] | adv,
      x_adv=x_adv,
    )
    return new

  s = jax.lax.while_loop(cond, body, state)
  return s["fooled"], jnp.where(per_sample(s["fooled"], x0), s["x_adv"], s["x_max"])


_apgd_run = core.static_jit(_apgd_run_impl)


# ----------------------------------------------------------------------------- public API


def resolve_targets(
  targeted: bool, targets, n_target_classes: int, k: int, clean_logits: jax.Array, n: int
):
  """Target classes per run: [fixed targets], the top-2.. classes, or [dummy] if untargeted."""
  if not targeted:
    if targets is not None:
      raise ValueError(
        "argument 'targets': expected None for an untargeted attack (targeted=False), got an array"
      )
    return [np.zeros((n,), np.int32)]
  if targets is not None:
    validation.check_array("targets", targets, shape=(n,), dtype="integer")
    tgt = np.asarray(targets)
    if np.any((tgt < 0) | (tgt >= k)):
      raise ValueError(
        f"argument 'targets': expected classes in [0, {k}), got range [{tgt.min()}, {tgt.max()}]"
      )
    return [tgt.astype(np.int32)]
  if n_target_classes is None:
    raise ValueError(
      "argument 'targets': a targeted attack needs target classes; expected "
      "targets (N,) or n_target_classes (how many of the classes with the "
      "largest clean logits after the predicted one to target), got neither"
    )
  if (
    isinstance(n_target_classes, bool)
    or not isinstance(n_target_classes, (int, np.integer))
    or not 1 <= n_target_classes <= k - 1
  ):
    raise ValueError(
      f"argument 'n_target_classes': expected an integer in [1, {k - 1}] "
      f"(K - 1 for K = {k} classes), got {n_target_classes!r}"
    )
  return [np.asarray(top_classes(clean_logits, r)) for r in range(2, int(n_target_classes) + 2)]


def sweep(
  fn,
  x,
  y,
  key,
  clean_logits,
  runs,
  *,
  robust,
  n_restarts: int,
  batch_size: int,
  name: str,
  show_progress: bool = False,
) -> Tuple[jax.Array, jax.Array]:
  """Runs ``fn`` for every restart and target class, each time only on points not yet fooled.

  ``fn(inputs) -> (fooled, x_adv)`` is a jitted single run taking a dict of per-sample arrays
  (x, y, target, key, restart). Returns (x_adv, fooled) over all points; clean misclassified
  points count as fooled and keep their clean input.
  """
  n = x.shape[0]
  pred_ok = np.asarray(~core.is_adversarial(clean_logits, y))
  todo = pred_ok.copy() if robust is None else (np.asarray(robust, bool) & pred_ok)
  attacked = todo.copy()
  x_np, y_np = np.asarray(x), np.asarray(y)
  x_adv = x_np.copy()
  for r in range(int(n_restarts)):
    for ti, tgt in enumerate(runs):
      keys = sample_keys(stream(key, f"{name}/restart{r}/target{ti}"), n)
      inputs = dict(
        x=x_np,
        y=y_np,
        target=np.asarray(tgt, np.int32),
        key=keys,
        restart=np.full((n,), r, np.int32),
      )
      fooled, xa = run_on(
        fn, todo, inputs, batch_size, desc=f"{name} run {r}.{ti}", show_progress=show_progress
      )
      x_adv = np.where(rows(fooled, x_np), xa, x_adv)
      todo &= ~fooled
  return jnp.asarray(x_adv), jnp.asarray(~pred_ok | (attacked & ~todo))


def check_budget(**kwargs) -> None:
  for name, value in kwargs.items():
    validation.check_positive_int(name, value)


def apgd(
  logits_fn,
  x,
  y,
  key,
  *,
  norm: str = "linf",
  eps: float,
  n_iter: int = 100,
  n_restarts: int = 1,
  loss: str = "ce",
  targeted: bool = False,
  targets=None,
  n_target_classes: Optional[int] = None,
  eot_iter: int = 1,
  rho: float = 0.75,
  stochastic: bool = False,
  batch_size: int = 256,
  robust=None,
  show_progress: bool = False,
) -> Tuple[jax.Array, jax.Array]:
  """APGD-CE / APGD-DLR, or APGD-T with ``targeted=True`` (Croce & Hein 2020).

  Args:
    logits_fn: classifier ``f(x) -> (N, K)`` on inputs in [0, 1] (``f(x, key=k)`` when
      ``stochastic``).
    x: float images (N, H, W, C) in [0, 1].
    y: integer labels (N,).
    key: PRNG key (random starts, EOT draws).
    norm: 'linf' or 'l2'.
    eps: the true Lp radius.
    n_iter: iterations per run.
    n_restarts: runs, each only on points not yet fooled.
    loss: 'ce' or 'dlr' (untargeted); targeted attacks use the targeted DLR loss.
    targeted: APGD-T; needs ``targets`` or ``n_target_classes``.
    targets: (N,) one target class per sample.
    n_target_classes: the runs go over the classes with the largest clean logits after the top
      one (9 in AutoAttack).
    eot_iter: gradient draws per step (Expectation over Transformation, randomized models).
    rho: the checkpoint threshold of condition 1.
    stochastic: the model is randomized (``f(x, key=k)``).
    batch_size: largest batch per compiled call.
    robust: optional (N,) bool, attack only these points (default: all correctly classified).
    show_progress: a progress line with rate and ETA.

  Returns:
    (x_adv, fooled (N,) bool): ``x_adv`` is the adversarial found for fooled points and the
    clean input otherwise; a point whose clean input is misclassified counts as fooled.
  """
  min_k = 4 if targeted else (3 if loss == "dlr" else 2)
  x, y, k = check_attack_args(
    logits_fn, x, y, norm=norm, eps=eps, stochastic=stochastic, min_classes=min_k
  )
  validation.check_in_choices("loss", loss, ("ce", "dlr"))
  check_budget(n_iter=n_iter, n_restarts=n_restarts, eot_iter=eot_iter, batch_size=batch_size)
  clean_logits = model_fn(logits_fn, stochastic)(x, stream(key, "clean"))
  runs = resolve_targets(targeted, targets, n_target_classes, k, clean_logits, x.shape[0])
  loss = "dlr-targeted" if targeted else loss
  settings = core.settings_of(_apgd_run, locals())
  fn = lambda inp: _apgd_run(logits_fn, inp, jnp.float32(eps), **settings)
  name = "apgd-t" if targeted else f"apgd-{loss}"
  return sweep(fn, x, y, key, clean_logits, runs, **core.settings_of(sweep, locals()))
