"""SlowVAE objective and the baseline objectives (Klindt et al. 2021, Eq. 4 and App. A.2; baselines:
Higgins et al. 2017, Locatello et al. 2020, Hyvarinen & Morioka 2017).

All functions are pure jnp code. Conventions:

* Pair batches are *interleaved*: an array with leading axis 2B holds
  ``[a_1, b_1, a_2, b_2, ...]`` where ``a`` is the first frame (t-1) and ``b``
  the second frame (t) of a pair. ``interleave`` / ``deinterleave`` convert.
* ``mu`` and ``logvar`` are encoder outputs of shape (2B, d).
* Per-image reconstruction terms are negative log-likelihoods summed over all
  pixels and channels (shape (2B,)).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, Tuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from rvl_jax.core import validation

LOG_2PI = math.log(2.0 * math.pi)
LOG_2PIE = math.log(2.0 * math.pi * math.e)

LOSS_MODES = ("reference", "paper")
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_sigmoid")


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """The loss settings of a run, one group (``config.loss``, passed as ``LossConfig(**config.loss)``).

  The defaults are SlowVAE's, in the units of the authors' code (Klindt et al. 2021, App. E).

  Attributes:
    likelihood: one of ``LIKELIHOODS`` (the reconstruction term, ``reconstruction_nll``).
    beta: weight of the KL to N(0, I).
    gamma: weight of the transition prior term.
    rate: the Laplace rate lambda of the transition prior.
    mode: one of ``LOSS_MODES`` ('reference': the authors' code's bookkeeping, see
      ``slowvae_loss``).

  Raises:
    ValueError: naming 'likelihood' or 'mode' for an unknown value.
  """

  likelihood: str = "bernoulli"
  beta: float = 1.0
  gamma: float = 10.0
  rate: float = 6.0
  mode: str = "reference"

  def __post_init__(self):
    validation.check_in_choices("likelihood", self.likelihood, LIKELIHOODS)
    validation.check_in_choices("mode", self.mode, LOSS_MODES)


# ---------------------------------------------------------------------------
# batching helpers
# ---------------------------------------------------------------------------


def interleave(first: jnp.ndarray, second: jnp.ndarray) -> jnp.ndarray:
  """Stacks two (B, ...) arrays into (2B, ...) as [a1, b1, a2, b2, ...]."""
  stacked = jnp.stack([first, second], axis=1)
  return stacked.reshape((-1,) + first.shape[1:])


def deinterleave(x: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Inverse of ``interleave``: returns (first frames, second frames)."""
  return x[0::2], x[1::2]


# ---------------------------------------------------------------------------
# closed-form per-dimension terms (Klindt et al. 2021, App. A.2)
# ---------------------------------------------------------------------------


def gaussian_entropy(logvar: jnp.ndarray) -> jnp.ndarray:
  """Entropy of N(mu, exp(logvar)) per dimension: 0.5 (logvar + log 2 pi e)."""
  return 0.5 * (logvar + LOG_2PIE)


def normal_cross_entropy(mu: jnp.ndarray, logvar: jnp.ndarray) -> jnp.ndarray:
  """Cross-entropy of N(mu, sigma^2) under N(0, 1), per dimension."""
  return 0.5 * (jnp.square(mu) + jnp.exp(logvar)) + 0.5 * LOG_2PI


def normal_kl(mu: jnp.ndarray, logvar: jnp.ndarray) -> jnp.ndarray:
  """KL(N(mu, sigma^2) || N(0, 1)) per dimension."""
  return 0.5 * (jnp.square(mu) + jnp.exp(logvar) - 1.0 - logvar)


def folded_normal_mean(m: jnp.ndarray, sigma: jnp.ndarray) -> jnp.ndarray:
  """E|Y| for Y ~ N(m, sigma^2)."""
  return sigma * math.sqrt(2.0 / math.pi) * jnp.exp(
    -jnp.square(m) / (2.0 * jnp.square(sigma))
  ) - m * (1.0 - 2.0 * ndtr(m / sigma))


def laplace_cross_entropy(
  mu: jnp.ndarray, logvar: jnp.ndarray, z_prev: jnp.ndarray, rate
) -> jnp.ndarray:
  """Cross-entropy of q = N(mu, exp(logvar)) under Laplace(z_prev, rate), per dim.

  CE = -log(rate / 2) + rate * E_q |z - z_prev|   (closed form, Klindt et al. 2021, App. A.2).

  Args:
    mu: posterior means, any shape.
    logvar: posterior log-variances, the shape of ``mu``.
    z_prev: the Laplace location (the other frame's latent), broadcastable to ``mu``.
    rate: the Laplace rate lambda (> 0).

  Returns:
    The cross-entropy per dimension, the shape of ``mu``.
  """
  sigma = jnp.exp(0.5 * logvar)
  return -jnp.log(rate / 2.0) + rate * folded_normal_mean(mu - z_prev, sigma)


def laplace_kl(mu, logvar, z_prev, rate):
  """KL(N(mu, sigma^2) || Laplace(z_prev, rate)) per dimension."""
  return laplace_cross_entropy(mu, logvar, z_prev, rate) - gaussian_entropy(logvar)


def gaussian_kl(mu1, logvar1, mu2, logvar2):
  """KL(N(mu1, s1^2) || N(mu2, s2^2)) per dimension."""
  return 0.5 * (
    logvar2 - logvar1 + (jnp.exp(logvar1) + jnp.square(mu1 - mu2)) / jnp.exp(logvar2) - 1.0
  )


# ---------------------------------------------------------------------------
# likelihoods
# ---------------------------------------------------------------------------


def reconstruction_nll(
  outputs: jnp.ndarray, x: jnp.ndarray, likelihood: str = "bernoulli"
) -> jnp.ndarray:
  """Per-example negative log-likelihood summed over all non-batch axes.

  * 'bernoulli': sigmoid cross-entropy with logits (targets may be real in [0, 1]).
  * 'gaussian': 0.5 * ||outputs - x||^2 (unit-variance Gaussian, up to a constant).
  * 'gaussian_sigmoid': ||sigmoid(outputs) - x||^2 (the reference code's Gaussian option).
  """
  validation.check_in_choices("likelihood", likelihood, LIKELIHOODS)
  axes = tuple(range(1, x.ndim))
  if likelihood == "bernoulli":
    per = jnp.maximum(outputs, 0) - outputs * x + jnp.log1p(jnp.exp(-jnp.abs(outputs)))
  elif likelihood == "gaussian":
    per = 0.5 * jnp.square(outputs - x)
  else:  # 'gaussian_sigmoid'
    per = jnp.square(jax.nn.sigmoid(outputs) - x)
  return jnp.sum(per, axis=axes)


def mean_prediction(outputs: jnp.ndarray, likelihood: str = "bernoulli") -> jnp.ndarray:
  """Decoder output mapped to the data space (sigmoid for Bernoulli logits)."""
  if likelihood in ("bernoulli", "gaussian_sigmoid"):
    return jax.nn.sigmoid(outputs)
  return outputs


# ---------------------------------------------------------------------------
# SlowVAE (Klindt et al. 2021, Eq. 4)
# ---------------------------------------------------------------------------


def slowvae_loss(
  mu: jnp.ndarray,
  logvar: jnp.ndarray,
  rec: jnp.ndarray,
  *,
  beta: float = 1.0,
  gamma: float = 10.0,
  rate: float = 6.0,
  mode: str = "reference",
) -> Tuple[jnp.ndarray, Dict[str, jnp.ndarray]]:
  """SlowVAE objective from interleaved encoder outputs.

  Args:
    mu, logvar: (2B, d) posterior parameters, rows interleaved [a1, b1, a2, ...].
    rec: (2B,) per-image reconstruction NLL (computed from a sample of z).
    beta, gamma, rate: weights of the normal KL and the transition term, Laplace rate lambda.
    mode: 'reference' (the authors' code's six-step computation, see
      ``slowvae_loss_six_step``; default) or
      'paper' (direction-averaged Eq. 4: R_a + R_b + beta/2 (KL_a + KL_b)
      + gamma/2 (KL_L(a|mu_b) + KL_L(b|mu_a))).

  Returns:
    (scalar loss, dict of logged terms).
  """
  validation.check_in_choices("mode", mode, LOSS_MODES)
  mu_a, mu_b = deinterleave(mu)
  lv_a, lv_b = deinterleave(logvar)
  if mode == "reference":
    rec_mean = jnp.mean(rec)
    ent = jnp.mean(jnp.sum(gaussian_entropy(logvar), -1))
    ce_n = jnp.mean(jnp.sum(normal_cross_entropy(mu, logvar), -1))
    ce_l = jnp.mean(
      jnp.sum(
        laplace_cross_entropy(mu_a, lv_a, mu_b, rate)
        + laplace_cross_entropy(mu_b, lv_b, mu_a, rate),
        -1,
      )
    )
    kl_normal = ce_n - ent
    kl_trans = ce_l - ent
    loss = 2.0 * rec_mean + beta * kl_normal + gamma * kl_trans
  else:  # 'paper'
    rec_mean = jnp.mean(rec)
    kl_normal = jnp.mean(jnp.sum(normal_kl(mu, logvar), -1))
    kl_trans = 0.5 * jnp.mean(
      jnp.sum(laplace_kl(mu_a, lv_a, mu_b, rate) + laplace_kl(mu_b, lv_b, mu_a, rate), -1)
    )
    loss = 2.0 * rec_mean + beta * kl_normal + gamma * kl_trans
  return loss, {"loss": loss, "recon": rec_mean, "kl_normal": kl_normal, "kl_transition": kl_trans}


def slowvae_loss_six_step(mu, logvar, rec, *, beta=1.0, gamma=10.0, rate=6.0):
  """Literal transcription of the authors' code's six-step computation (test oracle)."""
  rbar = jnp.sum(rec) / rec.shape[0]
  hbar = jnp.mean(jnp.sum(0.5 * (logvar + LOG_2PIE), -1))
  cen = jnp.mean(jnp.sum(0.5 * (mu**2 + jnp.exp(logvar)) + 0.5 * LOG_2PI, -1))
  cel = jnp.mean(
    jnp.sum(
      laplace_cross_entropy(mu[0::2], logvar[0::2], mu[1::2], rate)
      + laplace_cross_entropy(mu[1::2], logvar[1::2], mu[0::2], rate),
      -1,
    )
  )
  return 2 * rbar + beta * (cen - hbar) + gamma * (cel - hbar)


# ---------------------------------------------------------------------------
# baselines
# ---------------------------------------------------------------------------


def pmvae_loss(mu, logvar, rec, *, beta=1.0, gamma=10.0):
  """PM-VAE (alpha = 2) ablation: Gaussian transition KL between the two posteriors.

  Same bookkeeping as the reference SlowVAE loss; the transition term is
  gamma * mean_pairs sum_d [KL(q_a || q_b) + KL(q_b || q_a)], gradients through both.
  """
  mu_a, mu_b = deinterleave(mu)
  lv_a, lv_b = deinterleave(logvar)
  rec_mean = jnp.mean(rec)
  kl_normal = jnp.mean(jnp.sum(normal_kl(mu, logvar), -1))
  kl_trans = jnp.mean(
    jnp.sum(gaussian_kl(mu_a, lv_a, mu_b, lv_b) + gaussian_kl(mu_b, lv_b, mu_a, lv_a), -1)
  )
  loss = 2.0 * rec_mean + beta * kl_normal + gamma * kl_trans
  return loss, {"loss": loss, "recon": rec_mean, "kl_normal": kl_normal, "kl_transition": kl_trans}


def ada_average(mu1, logvar1, mu2, logvar2, variant: str = "gvae"):
  """Adaptive averaging of Ada-GVAE / Ada-ML-VAE (Locatello et al. 2020, Sec. 4.1).

  Returns new (mu1, logvar1, mu2, logvar2) and the boolean mask of shared dims.
  """
  var1, var2 = jnp.exp(logvar1), jnp.exp(logvar2)
  delta = var1 / var2 + jnp.square(mu2 - mu1) / var2 - 1.0 + logvar2 - logvar1
  tau = 0.5 * (jnp.min(delta, -1, keepdims=True) + jnp.max(delta, -1, keepdims=True))
  shared = delta < tau
  if variant == "gvae":
    avg_var = 0.5 * (var1 + var2)
    avg_mu = 0.5 * (mu1 + mu2)
  elif variant == "mlvae":
    avg_var = 2.0 * var1 * var2 / (var1 + var2)
    avg_mu = 0.5 * (mu1 / var1 + mu2 / var2) * avg_var
  else:
    validation.check_in_choices("variant", variant, ("gvae", "mlvae"))
  avg_lv = jnp.log(avg_var)
  new_mu1 = jnp.where(shared, avg_mu, mu1)
  new_mu2 = jnp.where(shared, avg_mu, mu2)
  new_lv1 = jnp.where(shared, avg_lv, logvar1)
  new_lv2 = jnp.where(shared, avg_lv, logvar2)
  return new_mu1, new_lv1, new_mu2, new_lv2, shared


def ada_gvae_loss(mu1, logvar1, mu2, logvar2, rec1, rec2, *, beta=1.0):
  """Ada-GVAE loss from the (already averaged) posteriors and per-image recon NLLs."""
  rec = 0.5 * jnp.mean(rec1 + rec2)
  kl = 0.5 * jnp.mean(jnp.sum(normal_kl(mu1, logvar1), -1) + jnp.sum(normal_kl(mu2, logvar2), -1))
  loss = rec + beta * kl
  return loss, {"loss": loss, "recon": rec, "kl_normal": kl}


def pcl_logits(h_t, h_prev, w1, w2, b, a, c):
  """PCL discriminator r(y) = -sum_i |w1 h_i(x_t) + w2 h_i(x_{t-1}) + b_i| + a sum h_i(x_t)^2 + c."""
  return -jnp.sum(jnp.abs(w1 * h_t + w2 * h_prev + b), -1) + a * jnp.sum(jnp.square(h_t), -1) + c


def pcl_loss(pos_logits, neg_logits):
  """Binary cross-entropy: true pairs labelled 1, permuted pairs 0."""
  loss = 0.5 * (jnp.mean(jax.nn.softplus(-pos_logits)) + jnp.mean(jax.nn.softplus(neg_logits)))
  acc = 0.5 * (jnp.mean(pos_logits > 0) + jnp.mean(neg_logits <= 0))
  return loss, {"loss": loss, "accuracy": acc}
