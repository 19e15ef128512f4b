"""Adversarial L2 / L-inf accuracy of noise-trained models (Rusak et al. 2020, App. F) through
``rvl_jax.attacks`` (the attacks are never re-implemented here): L-inf PGD (Madry et al. 2018)
and L2 DDN (Rony et al. 2019) at the paper's budgets, plain L2 / L-inf norms in [0, 1] pixel
units."""

from __future__ import annotations

from typing import Callable, Dict

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax import attacks
from rvl_jax.core import batched, validation

# The paper's budgets (App. F): PGD step/eps/iterations, DDN gamma/max eps/iterations.
BUDGETS = {
  "mnist": {
    "linf": dict(eps=0.1, step=0.01, n_iter=100),
    "l2": dict(eps=1.5, gamma=0.05, n_iter=100),
  },
  "imagenet": {
    "linf": dict(eps=0.001, step=1e-4, n_iter=200),
    "l2": dict(eps=0.125, gamma=0.02, n_iter=200),
  },
}


def adversarial_accuracy(
  logits_fn: Callable,
  images,
  labels,
  *,
  key,
  budget: str = "mnist",
  n_iter_scale: float = 1.0,
  batch_size: int = 200,
) -> Dict[str, float]:
  """Accuracy (%) on clean images and under L-inf PGD and L2 DDN at one of ``BUDGETS``.

  Args:
    logits_fn: ``x -> logits`` of the classifier (inputs in [0, 1]).
    images, labels: the evaluation set (N, H, W, C), (N,).
    key: PRNG key of PGD's random starts (each batch uses the key of its first example).
    budget: 'mnist' or 'imagenet'.
    n_iter_scale: multiplies the paper's iteration counts (at least one iteration).
    batch_size: images attacked at once.

  Returns:
    ``{'clean', 'linf', 'l2'}`` accuracies in percent (an image counts as robust only when it
    is also classified correctly without attack).

  Raises:
    ValueError: naming 'budget' when it is not a key of ``BUDGETS``.
  """
  validation.check_in_choices("budget", budget, list(BUDGETS))
  li, l2 = BUDGETS[budget]["linf"], BUDGETS[budget]["l2"]
  n_inf = max(1, int(round(li["n_iter"] * n_iter_scale)))
  n_l2 = max(1, int(round(l2["n_iter"] * n_iter_scale)))
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)

  def correct(chunk):
    x, y = jnp.asarray(chunk["x"]), jnp.asarray(chunk["y"])
    x_inf, _ = attacks.pgd(
      logits_fn, x, y, chunk["key"][0], eps=li["eps"], step=li["step"], n_iter=n_inf
    )
    x_l2, _, _ = attacks.ddn(logits_fn, x, y, eps=l2["eps"], gamma=l2["gamma"], n_iter=n_l2)
    ok = [jnp.argmax(logits_fn(z), -1) == y for z in (x, x_inf, x_l2)]
    return {"clean": ok[0], "linf": ok[0] & ok[1], "l2": ok[0] & ok[2]}

  keys = np.asarray(jax.random.split(key, len(images)))
  ok = batched.batched_apply(
    correct, {"x": images, "y": labels, "key": keys}, min(batch_size, len(images))
  )
  return {k: float(np.mean(v) * 100) for k, v in ok.items()}
