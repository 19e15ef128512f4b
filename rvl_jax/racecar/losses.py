"""Racecar loss (Xie & Thuerey, Sec. 3, eq. 3): L = sum_m lambda_m * reduce(d_m - d'_m), plus helpers.

Why it works: standard orthogonality sum_m ||M_m^T M_m - I||_F^2 ignores the data; racecar minimises
sum_m sum_i ||(M_m^T M_m - I) d_m^i||^2 over the layer inputs actually seen, i.e. it only asks the *data*
to be eigenvectors of M^T M with eigenvalue 1. As rank(M) is limited, the active right singular vectors
are pushed towards the dominant directions of the layer-input distribution. M^T M is never formed: the
loss is realised by a reverse pass that re-uses every weight transposed (no new parameters). For one
linear layer with bias the term equals ||M^T M d - d||^2 exactly (the bias cancels).
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import validation

REDUCTIONS = ("half_sum", "sum", "mean")


def reduce_sq(diff, reduction: str = "half_sum", weights=None):
  """The reduction of one racecar term.

  Args:
    diff: d'_m - d_m.
    reduction: 'half_sum' (1/2 sum, the reference's tf.nn.l2_loss), 'sum' or 'mean' over all
      elements (batch included).
    weights: optional, broadcastable to diff; multiplies the squared error elementwise.

  Returns:
    The reduced scalar.

  Raises:
    ValueError: naming ``reduction`` when it is unknown.
  """
  validation.check_in_choices("reduction", reduction, REDUCTIONS)
  sq = jnp.square(diff)
  if weights is not None:
    sq = sq * weights
  if reduction == "half_sum":
    return 0.5 * jnp.sum(sq)
  if reduction == "sum":
    return jnp.sum(sq)
  return jnp.mean(sq)


def layer_lambdas(
  lam: Union[float, Sequence[float]], n: int, variant: str = "full"
) -> Tuple[float, ...]:
  """Per-layer weights lambda_1..lambda_n.

  Args:
    lam: a scalar (every layer) or n per-layer values.
    n: number of layers.
    variant: 'full', 'layerwise' or 'rr1' (RR1 keeps only lambda_1).

  Returns:
    A tuple of n floats.

  Raises:
    ValueError: naming ``lam`` when the number of values is not n.
  """
  if np.ndim(lam) == 0:
    lams = [float(lam)] * n
  else:
    lams = [float(v) for v in lam]
    if len(lams) != n:
      raise ValueError(
        f"argument 'lam': expected a scalar or {n} per-layer values, got {len(lams)}"
      )
  if variant == "rr1":
    lams = [lams[0]] + [0.0] * (n - 1)
  return tuple(lams)


def group_weights(
  dim: int, groups: Mapping[Tuple[int, int], float], default: float = 0.0
) -> np.ndarray:
  """Per-input-dimension weights of the d_1 term (RR1 on groups of input dimensions).

  E.g. the InfoGAN codes: group_weights(74, {(0, 10): 1.33, (10, 11): 1., (11, 12): 1.}).

  Args:
    dim: input dimension.
    groups: {(start, stop): weight}.
    default: the weight of every other dimension.

  Returns:
    float32 [dim].

  Raises:
    ValueError: naming ``groups`` for a range outside [0, dim].
  """
  w = np.full((dim,), default, np.float32)
  for (a, b), v in groups.items():
    if not (0 <= a < b <= dim):
      raise ValueError(f"argument 'groups': expected ranges inside [0, {dim}], got {(a, b)}")
    w[a:b] = v
  return w


def racecar_terms(
  ds: Sequence,
  recons: Sequence,
  reduction: str = "half_sum",
  input_weights=None,
  stop_grad_targets: bool = False,
  num_terms: Optional[int] = None,
):
  """The unweighted terms reduce(d'_m - d_m), m = 1..n.

  No stop-gradient by default: the gradient reaches both passes, as in the reference code.

  Args:
    ds: the layer inputs d_1..d_{n+1} (ChainOutput.ds).
    recons: the reconstructions d'_1..d'_n.
    reduction: see `reduce_sq`.
    input_weights: optional per-dimension weights of the d_1 term.
    stop_grad_targets: no gradient through the targets d_m.
    num_terms: only the first num_terms terms (None = all).

  Returns:
    A list of scalars.

  Raises:
    ValueError: when a reconstruction's shape differs from its target's.
  """
  n = len(recons) if num_terms is None else num_terms
  terms = []
  for m in range(n):
    target = jax.lax.stop_gradient(ds[m]) if stop_grad_targets else ds[m]
    if recons[m].shape != target.shape:
      raise ValueError(
        f"racecar term {m + 1}: reconstruction shape {recons[m].shape} != {target.shape}"
      )
    w = input_weights if m == 0 else None
    terms.append(reduce_sq(recons[m] - target, reduction, w))
  return terms


def racecar_loss(
  ds,
  recons,
  lam: Union[float, Sequence[float]] = 1.0,
  variant: str = "full",
  reduction: str = "half_sum",
  input_weights=None,
  stop_grad_targets: bool = False,
):
  """The racecar loss sum_m lambda_m reduce(d'_m - d_m) (Xie & Thuerey, eq. 3).

  Args:
    ds: the layer inputs d_1..d_{n+1}.
    recons: the reconstructions d'_1..d'_n.
    lam: a scalar or per-layer lambdas.
    variant: 'full', 'layerwise' or 'rr1' (only the input term, exactly one term).
    reduction: see `reduce_sq`.
    input_weights: optional per-dimension weights of the d_1 term.
    stop_grad_targets: no gradient through the targets.

  Returns:
    (loss, list of the unweighted terms used).
  """
  n = len(recons)
  lams = layer_lambdas(lam, n, variant)
  k = 1 if variant == "rr1" else n
  terms = racecar_terms(ds, recons, reduction, input_weights, stop_grad_targets, num_terms=k)
  loss = sum(l * t for l, t in zip(lams, terms))
  return loss, terms
