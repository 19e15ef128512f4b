"""AutoAttack (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks"), JAX-native, L-inf and L2.

The ensemble runs its attacks in sequence, each only on the points that every earlier attack
left robust, and reports the worst case per point (Sec. 4):

* ``standard``: APGD-CE, APGD-T (targeted DLR, 9 target classes), FAB-T (9 target classes),
  Square (5000 queries); 100 iterations and one restart each.
* ``plus``: APGD-CE and APGD-DLR with 5 restarts, FAB (5 restarts), Square, APGD-T, FAB-T.
* ``rand`` (randomized models): APGD-CE and APGD-DLR with Expectation over Transformation
  (20 gradient draws per step); the model is called as ``logits_fn(x, key=k)`` when
  ``stochastic=True``.
* ``custom``: the attacks named in ``attacks``.

``eps`` is the true radius of the Lp ball (L2: the Euclidean norm of the whole image), as in
AutoAttack, torchattacks and foolbox 3. Every returned adversarial is re-checked with one
forward pass and its distance measured, so ``robust`` is verified, not taken from the attacks.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.attacks import apgd_attack as _ap
from rvl_jax.attacks import core
from rvl_jax.attacks import fab_attack as _fab
from rvl_jax.attacks import square_attack as _square
from rvl_jax.core import progress as _progress
from rvl_jax.core import validation

apgd, fab, square = _ap.apgd, _fab.fab, _square.square

# name -> (function, default arguments of the paper's AutoAttack)
ATTACKS = {
  "apgd-ce": (_ap.apgd, dict(loss="ce", n_iter=100, n_restarts=1)),
  "apgd-dlr": (_ap.apgd, dict(loss="dlr", n_iter=100, n_restarts=1)),
  "apgd-t": (_ap.apgd, dict(targeted=True, n_target_classes=9, n_iter=100, n_restarts=1)),
  "fab": (_fab.fab, dict(targeted=False, n_iter=100, n_restarts=1)),
  "fab-t": (_fab.fab, dict(targeted=True, n_target_classes=9, n_iter=100, n_restarts=1)),
  "square": (_square.square, dict(n_queries=5000, n_restarts=1)),
}

VERSIONS = {
  "standard": [("apgd-ce", {}), ("apgd-t", {}), ("fab-t", {}), ("square", {})],
  "plus": [
    ("apgd-ce", dict(n_restarts=5)),
    ("apgd-dlr", dict(n_restarts=5)),
    ("fab", dict(n_restarts=5)),
    ("square", {}),
    ("apgd-t", {}),
    ("fab-t", {}),
  ],
  "rand": [("apgd-ce", dict(eot_iter=20)), ("apgd-dlr", dict(eot_iter=20))],
}
_GRADIENT_ONLY = ("apgd-ce", "apgd-dlr", "apgd-t")  # attacks that support randomized models

AttackSpec = Union[str, Tuple[str, dict]]


@dataclasses.dataclass
class AutoAttackReport:
  """Result of :func:`autoattack_report`.

  Attributes:
    x_adv: (N, H, W, C) the adversarial per point (the clean input where none was found).
    robust: (N,) bool, correctly classified and no adversarial within eps found.
    clean_correct: (N,) bool.
    attacks: the attacks run, in order.
    robust_accuracy: attack -> robust accuracy after it and all earlier ones (worst case).
    fooled_by: (N,) int, index in ``attacks`` of the attack that first fooled the point;
      -1 while robust, -2 for a misclassified clean input.
    seconds: attack -> wall time.
    tracker: a :class:`~rvl_jax.attacks.core.Tracker` holding the adversarials and distances.
  """

  x_adv: np.ndarray
  robust: np.ndarray
  clean_correct: np.ndarray
  attacks: List[str]
  robust_accuracy: Dict[str, float]
  fooled_by: np.ndarray
  seconds: Dict[str, float]
  tracker: core.Tracker

  @property
  def clean_accuracy(self) -> float:
    return float(np.mean(self.clean_correct))

  @property
  def final_robust_accuracy(self) -> float:
    return float(np.mean(self.robust))


def _plan(
  version: str, attacks: Optional[Sequence[AttackSpec]], options: Optional[dict], stochastic: bool
) -> List[Tuple[str, dict]]:
  validation.check_in_choices("version", version, list(VERSIONS) + ["custom"])
  if version == "custom":
    if not attacks:
      raise ValueError(
        "argument 'attacks': expected a non-empty list of attack names for "
        f"version='custom' (from {list(ATTACKS)}), got {attacks!r}"
      )
    plan = []
    for spec in attacks:
      name, kw = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))
      validation.check_in_choices("attacks", name, list(ATTACKS))
      plan.append((name, kw))
  else:
    if attacks is not None:
      raise ValueError(
        f"argument 'attacks': expected None for version={version!r} (use "
        f"version='custom' to choose attacks), got {attacks!r}"
      )
    plan = [(name, dict(kw)) for name, kw in VERSIONS[version]]
  options = dict(options or {})
  for name in options:
    validation.check_in_choices("options", name, list(ATTACKS))
  out = []
  for name, kw in plan:
    if stochastic and name not in _GRADIENT_ONLY:
      raise ValueError(
        f"argument 'attacks': {name!r} does not support randomized models "
        f"(stochastic=True); expected attacks from {list(_GRADIENT_ONLY)}"
      )
    args = dict(ATTACKS[name][1])
    args.update(kw)
    args.update(options.get(name, {}))
    out.append((name, args))
  return out


def autoattack_report(
  logits_fn,
  x,
  y,
  key,
  *,
  norm: str = "linf",
  eps: float,
  version: str = "standard",
  attacks: Optional[Sequence[AttackSpec]] = None,
  options: Optional[Dict[str, dict]] = None,
  stochastic: bool = False,
  batch_size: int = 256,
  show_progress: bool = True,
) -> AutoAttackReport:
  """Runs AutoAttack (Croce & Hein 2020); per-point results and per-attack robust accuracy.

  Args:
    logits_fn: classifier ``f(x) -> (N, K)`` on float inputs (N, H, W, C) in [0, 1]
      (``f(x, key=k)`` with ``stochastic=True``).
    x: (N, H, W, C) images in [0, 1].
    y: (N,) integer labels.
    key: PRNG key; each attack draws from its own named stream.
    norm: 'linf' or 'l2'.
    eps: the true Lp radius.
    version: 'standard', 'plus', 'rand' or 'custom'.
    attacks: for 'custom', names from ``ATTACKS`` or (name, arguments) pairs.
    options: attack name -> arguments overriding the version's (e.g. reduced budgets:
      ``{'square': {'n_queries': 1000}}``).
    stochastic: the model is randomized (only the APGD attacks apply).
    batch_size: largest batch per compiled call.
    show_progress: a progress line per attack (rate and ETA; ``RVL_QUIET=1`` silences it).

  Returns:
    An ``AutoAttackReport``: adversarials, per-point robustness and per-attack robust accuracy.
  """
  x, y, k = _ap.check_attack_args(logits_fn, x, y, norm=norm, eps=eps, stochastic=stochastic)
  validation.check_positive_int("batch_size", batch_size)
  plan = _plan(version, attacks, options, stochastic)
  for name, args in plan:
    if args.get("targeted") and "targets" not in args:
      args["n_target_classes"] = min(int(args["n_target_classes"]), k - 1)
  f = _ap.model_fn(logits_fn, stochastic)
  clean_correct = np.asarray(~core.is_adversarial(f(x, _ap.stream(key, "clean")), y))
  robust = clean_correct.copy()
  x_adv = np.asarray(x).copy()
  fooled_by = np.where(clean_correct, -1, -2).astype(np.int32)
  acc, seconds = {}, {}
  bar = (
    _progress.progress(
      total=len(plan), desc=f"autoattack {version} {norm} eps={eps:g}", unit="attack"
    )
    if show_progress
    else None
  )
  for i, (name, args) in enumerate(plan):
    fn = ATTACKS[name][0]
    extra = dict(stochastic=stochastic) if fn is _ap.apgd else {}
    t0 = time.time()
    if robust.any():
      xa, fooled = fn(
        logits_fn,
        x,
        y,
        _ap.stream(key, f"{i}:{name}"),
        norm=norm,
        eps=eps,
        batch_size=batch_size,
        robust=robust,
        **extra,
        **args,
      )
      newly = np.asarray(fooled) & robust
      x_adv = np.where(_ap.rows(newly, x_adv), np.asarray(xa), x_adv)
      fooled_by[newly] = i
      robust &= ~newly
    seconds[name] = time.time() - t0
    acc[name] = float(np.mean(robust))
    if bar is not None:
      bar.set_postfix(f"{name}: robust {acc[name]:.1%}")
      bar.update(1)
  if bar is not None:
    bar.close()
  # Verification: every adversarial is re-classified and its distance measured.
  x_adv_j = jnp.asarray(x_adv)
  claimed = fooled_by >= 0
  adv = np.asarray(core.is_adversarial(f(x_adv_j, _ap.stream(key, "verify")), y))
  dist = np.asarray(_ap.lp_norm(x_adv_j - x, norm))
  ok = claimed & adv & (dist <= eps * (1.0 + 1e-5) + 1e-6)
  lost = claimed & ~ok
  if lost.any():
    fooled_by[lost] = -1
    x_adv[lost] = np.asarray(x)[lost]
    x_adv_j = jnp.asarray(x_adv)
  robust = clean_correct & ~ok
  tr = core.init_tracker(lambda xx: f(xx, _ap.stream(key, "clean")), x, y)
  tr = core.update(tr, x_adv_j, jnp.asarray(ok))
  return AutoAttackReport(
    x_adv=x_adv,
    robust=robust,
    clean_correct=clean_correct,
    attacks=[name for name, _ in plan],
    robust_accuracy=acc,
    fooled_by=fooled_by,
    seconds=seconds,
    tracker=tr,
  )


def autoattack(logits_fn, x, y, key, **kwargs) -> Tuple[jax.Array, jax.Array]:
  """AutoAttack (Croce & Hein 2020): the parameter-free ensemble at a fixed radius.

  Args:
    logits_fn: x (N, H, W, C) in [0, 1] -> (N, K) logits.
    x: clean images (N, H, W, C) in [0, 1].
    y: (N,) integer labels.
    key: PRNG key of the randomised attacks.
    **kwargs: the options of :func:`autoattack_report` (``norm``, ``eps``, ``version``,
      ``attacks``, per-attack ``options``, ``batch_size``, ...), with its defaults.

  Returns:
    (x_adv (N, H, W, C), robust (N,) bool): ``robust`` is True where the clean input is
    classified correctly and no attack of the ensemble found an adversarial within ``eps``.
  """
  rep = autoattack_report(logits_fn, x, y, key, **kwargs)
  return jnp.asarray(rep.x_adv), jnp.asarray(rep.robust)
