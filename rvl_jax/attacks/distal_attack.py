"""Distal ("trash") adversarials (Schott et al. 2019, Sec. 7, Fig. 4).

Start from uniform noise and descend the cross-entropy of the raw logits towards a fixed target
class with SGD (lr 1, heavy-ball momentum 0.95, PyTorch semantics), clamping to [0, 1], until the
model's calibrated probability (eta-softmax with the model's alpha, eta) of the target reaches
``threshold`` (0.9) or ``max_iter`` iterations pass. As in the reference script the gradient is
the coordinate-wise finite-difference estimate with h = 1 for every model (``gradient='ge'``);
``gradient='true'`` uses autodiff instead.
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp

from rvl_jax.attacks import core

# (alpha, eta) of the paper's calibration (section 9.3; CNN: the reference code's eta).
CALIBRATION = {
  "abs": (440.0, 3.9e-5),
  "binary_abs": (440.0, 3.9e-5),
  "cnn": (1.0, 1_439_000.0),
  "binary_cnn": (1.0, 1_439_000.0),
  "madry": (1.0, 60.0),
  "nn": (5.0, 4e-12),
}


def _distal_impl(
  logits_fn,
  x_init,
  *,
  target: int,
  alpha: float,
  eta: float,
  max_iter: int,
  lr: float,
  momentum: float,
  threshold: float,
  source: core.GradientSource,
):
  n = x_init.shape[0]
  y_t = jnp.full((n,), target, jnp.int32)
  grad_fn = source.grad_fn(logits_fn)

  def prob(x):
    return core.calibrated_probs(logits_fn(x), alpha, eta)[:, target]

  p0 = prob(x_init)

  def cond(s):
    i, _, _, p, it = s
    return (i < max_iter) & jnp.any(p < threshold)

  def body(s):
    i, x, buf, p, it = s
    run = p < threshold
    g = grad_fn(x, y_t)
    buf = jnp.where(i == 0, g, momentum * buf + g)
    x_new = jnp.clip(x - lr * buf, 0.0, 1.0)
    m = run.reshape((-1,) + (1,) * (x.ndim - 1))
    x = jnp.where(m, x_new, x)
    p_new = prob(x)
    p = jnp.where(run, p_new, p)
    it = jnp.where(run, i + 1, it)
    return i + 1, x, buf, p, it

  _, x, _, p, it = jax.lax.while_loop(
    cond, body, (0, x_init, jnp.zeros_like(x_init), p0, jnp.zeros((n,), jnp.int32))
  )
  return x, p, it


_distal = core.static_jit(_distal_impl)


def distal(
  logits_fn,
  key,
  *,
  n: int = 1,
  target: int = 1,
  alpha: float = 1.0,
  eta: float = 0.0,
  shape=(28, 28, 1),
  max_iter: int = 10_000,
  lr: float = 1.0,
  momentum: float = 0.95,
  threshold: float = 0.9,
  gradient: str = "ge",
  ge_step: float = 1.0,
  ge_probe_batch: int = 2048,
) -> Dict[str, jax.Array]:
  """Distal adversarials: uniform noise descended towards ``target`` (see the module docstring).

  Args:
    logits_fn: the classifier.
    key: JAX PRNG key of the starting noise.
    n: number of images.
    target: the target class.
    alpha: the calibration scale (:data:`CALIBRATION`).
    eta: the calibration offset.
    shape: one image's shape.
    max_iter: the most iterations.
    lr: SGD learning rate.
    momentum: heavy-ball momentum.
    threshold: stop when the calibrated target probability reaches it.
    gradient: 'ge' (finite differences, the reference) or 'true'.
    ge_step: finite-difference step.
    ge_probe_batch: probe images per model call.

  Returns:
    ``{'x': images, 'prob': calibrated target probability, 'iterations', 'reached'}``.

  Raises:
    ValueError: naming ``target`` when it is negative.
  """
  if not 0 <= int(target):
    raise ValueError(f"argument 'target': expected a class index >= 0, got {target}")
  x_init = jax.random.uniform(key, (int(n),) + tuple(shape), jnp.float32)
  source = core.GradientSource(gradient, ge_step, ge_probe_batch)
  x, p, it = _distal(logits_fn, x_init, **core.settings_of(_distal, locals()))
  return {"x": x, "prob": p, "iterations": it, "reached": p >= threshold}
