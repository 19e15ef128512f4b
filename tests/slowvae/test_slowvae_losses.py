"""Closed forms, Monte-Carlo checks and identities of the SlowVAE objective (Klindt et al. 2021,
App. A.2)."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.slowvae import losses

# jit whole expressions: eager op-by-op dispatch is slow on a busy CPU.
_loss = jax.jit(losses.slowvae_loss, static_argnames=("mode",))
_six = jax.jit(losses.slowvae_loss_six_step)


@pytest.mark.parametrize(
  "mu,sigma,z_prev,lam",
  [
    (0.3, 0.5, -0.2, 6.0),
    (1.2, 0.1, 1.0, 6.0),
    (0.0, 1.0, 0.0, 1.0),
    (-2.0, 0.3, 0.5, 12.0),
    (0.5, 2.0, 0.4, 3.0),
    (0.0, 0.05, 0.0, 10.0),
  ],
)
def test_laplace_cross_entropy_matches_monte_carlo(mu, sigma, z_prev, lam):
  rng = np.random.default_rng(0)
  z = mu + sigma * rng.standard_normal(1_000_000)
  samples = -math.log(lam / 2) + lam * np.abs(z - z_prev)
  mc, se = samples.mean(), samples.std() / math.sqrt(samples.size)
  closed = float(
    losses.laplace_cross_entropy(
      jnp.float32(mu), jnp.float32(2 * math.log(sigma)), jnp.float32(z_prev), lam
    )
  )
  assert abs(closed - mc) < 4 * se + 1e-5, (closed, mc, se)


def test_laplace_cross_entropy_spec_values():
  ce = lambda m, s, zp: float(losses.laplace_cross_entropy(m, 2 * math.log(s), zp, 6.0))
  np.testing.assert_allclose(ce(0.3, 0.5, -0.2), 2.4013, atol=2e-4)
  np.testing.assert_allclose(ce(1.2, 0.1, 1.0), 0.1116, atol=2e-4)


def _batch(b=6, d=10, seed=0):
  rng = np.random.default_rng(seed)
  mu = rng.standard_normal((2 * b, d)).astype(np.float32)
  logvar = (0.5 * rng.standard_normal((2 * b, d)) - 1.0).astype(np.float32)
  rec = (rng.random(2 * b) * 100).astype(np.float32)
  return jnp.asarray(mu), jnp.asarray(logvar), jnp.asarray(rec)


@pytest.mark.parametrize("beta,gamma,lam", [(1.0, 10.0, 6.0), (8.0, 0.0, 6.0), (0.5, 3.0, 2.0)])
def test_reference_loss_equals_six_step_formula(beta, gamma, lam):
  mu, logvar, rec = _batch()
  loss, aux = _loss(mu, logvar, rec, beta=beta, gamma=gamma, rate=lam)
  oracle = _six(mu, logvar, rec, beta=beta, gamma=gamma, rate=lam)
  np.testing.assert_allclose(float(loss), float(oracle), rtol=1e-5)
  # independent numpy transcription of the authors' code's computation (float64)
  m, lv, r = (np.asarray(a, np.float64) for a in (mu, logvar, rec))
  from scipy.stats import norm

  def ce(mt, lvt, zp):
    s = np.exp(0.5 * lvt)
    mm = mt - zp
    return -np.log(lam / 2) + lam * (
      s * np.sqrt(2 / np.pi) * np.exp(-(mm**2) / (2 * s**2)) - mm * (1 - 2 * norm.cdf(mm / s))
    )

  rbar = r.sum() / r.shape[0]
  hbar = np.mean(np.sum(0.5 * (lv + np.log(2 * np.pi * np.e)), -1))
  cen = np.mean(np.sum(0.5 * (m**2 + np.exp(lv)) + 0.5 * np.log(2 * np.pi), -1))
  cel = np.mean(np.sum(ce(m[0::2], lv[0::2], m[1::2]) + ce(m[1::2], lv[1::2], m[0::2]), -1))
  expected = 2 * rbar + beta * (cen - hbar) + gamma * (cel - hbar)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  np.testing.assert_allclose(float(aux["recon"]), rbar, rtol=1e-6)


def test_reference_equals_doubled_rate_paper_form_plus_constant():
  mu, logvar, rec = _batch(b=5, d=7, seed=3)
  beta, gamma, lam = 1.0, 10.0, 6.0
  ref, _ = _loss(mu, logvar, rec, beta=beta, gamma=gamma, rate=lam)
  paper2, _ = _loss(mu, logvar, rec, beta=beta, gamma=gamma, rate=2 * lam, mode="paper")
  const = gamma * 7 * (2 * math.log(2) - math.log(lam))
  np.testing.assert_allclose(float(ref), float(paper2) + const, rtol=1e-5)
  # gamma = 0 (beta-VAE): the loss does not depend on which frames are paired
  shuffled = jnp.concatenate([mu[2:], mu[:2]])
  b0 = lambda m: float(_loss(m, logvar, rec, beta=beta, gamma=0.0, rate=lam)[0])
  lv_shuffled = jnp.concatenate([logvar[2:], logvar[:2]])
  rec_shuffled = jnp.concatenate([rec[2:], rec[:2]])
  np.testing.assert_allclose(
    b0(mu),
    float(_loss(shuffled, lv_shuffled, rec_shuffled, beta=beta, gamma=0.0, rate=lam)[0]),
    rtol=1e-5,
  )
  # the paper form with the same rate differs (the doubled rate matters)
  paper1, _ = _loss(mu, logvar, rec, beta=beta, gamma=gamma, rate=lam, mode="paper")
  assert abs(float(ref) - float(paper1) - const) > 1e-2


def test_paper_form_matches_per_pair_definition():
  mu, logvar, rec = _batch(b=4, d=3, seed=5)
  beta, gamma, lam = 2.0, 4.0, 6.0
  loss, _ = _loss(mu, logvar, rec, beta=beta, gamma=gamma, rate=lam, mode="paper")
  a, b = slice(0, None, 2), slice(1, None, 2)
  klL = lambda m, lv, zp: losses.laplace_kl(m, lv, zp, lam).sum(-1)
  kln = lambda m, lv: losses.normal_kl(m, lv).sum(-1)

  @jax.jit
  def per_pair_fn(mu, logvar, rec):
    return (
      rec[a]
      + rec[b]
      + beta / 2 * (kln(mu[a], logvar[a]) + kln(mu[b], logvar[b]))
      + gamma / 2 * (klL(mu[a], logvar[a], mu[b]) + klL(mu[b], logvar[b], mu[a]))
    )

  per_pair = per_pair_fn(mu, logvar, rec)
  np.testing.assert_allclose(float(loss), float(per_pair.mean()), rtol=1e-5)


def test_gradient_reaches_both_frames_through_laplace_term():
  mu, logvar, _ = _batch(b=4, d=5, seed=1)
  rec = jnp.zeros(mu.shape[0])  # reconstruction masked out
  f = lambda m, g: losses.slowvae_loss(m, logvar, rec, beta=0.0, gamma=g, rate=6.0)[0]
  grad = jax.jit(jax.grad(f))
  g = grad(mu, 10.0)
  assert np.all(np.abs(np.asarray(g[0::2])) > 0) and np.all(np.abs(np.asarray(g[1::2])) > 0)
  # the conditioning mean carries gradient too: d CE(q_b | mu_a) / d mu_a != 0 (no stop-gradient)
  ce_b = lambda mu_a: losses.laplace_cross_entropy(mu[1::2], logvar[1::2], mu_a, 6.0).sum()
  assert np.all(np.abs(np.asarray(jax.jit(jax.grad(ce_b))(mu[0::2]))) > 0)
  # with gamma = 0 and beta = 0 nothing reaches mu
  chex.assert_trees_all_close(grad(mu, 0.0), jnp.zeros_like(mu))


def test_closed_form_identities():
  mu, logvar, _ = _batch(seed=2)
  np.testing.assert_allclose(
    losses.normal_kl(mu, logvar),
    losses.normal_cross_entropy(mu, logvar) - losses.gaussian_entropy(logvar),
    atol=1e-5,
  )
  chex.assert_trees_all_close(
    losses.gaussian_kl(mu, logvar, mu, logvar), jnp.zeros_like(mu), atol=1e-6
  )
  np.testing.assert_allclose(
    losses.gaussian_kl(mu, logvar, 0.0, 0.0), losses.normal_kl(mu, logvar), atol=1e-5
  )


def test_bernoulli_and_gaussian_likelihoods():
  x = jnp.array([[0.0, 1.0, 0.3]])
  logits = jnp.array([[-1.0, 2.0, 0.5]])
  p = jax.nn.sigmoid(logits)
  expected = -(x * jnp.log(p) + (1 - x) * jnp.log(1 - p)).sum(-1)
  np.testing.assert_allclose(losses.reconstruction_nll(logits, x, "bernoulli"), expected, rtol=1e-5)
  np.testing.assert_allclose(
    losses.reconstruction_nll(logits, x, "gaussian"), 0.5 * ((logits - x) ** 2).sum(-1), rtol=1e-6
  )
  np.testing.assert_allclose(
    losses.reconstruction_nll(logits, x, "gaussian_sigmoid"), ((p - x) ** 2).sum(-1), rtol=1e-6
  )
  with pytest.raises(ValueError, match="likelihood"):
    losses.reconstruction_nll(logits, x, "poisson")
  with pytest.raises(ValueError, match="mode"):
    losses.slowvae_loss(jnp.zeros((2, 1)), jnp.zeros((2, 1)), jnp.zeros(2), mode="other")


def test_interleave_roundtrip():
  a, b = jnp.arange(6).reshape(3, 2), 10 + jnp.arange(6).reshape(3, 2)
  x = losses.interleave(a, b)
  np.testing.assert_array_equal(x[:, 0], [0, 10, 2, 12, 4, 14])
  a2, b2 = losses.deinterleave(x)
  np.testing.assert_array_equal(a2, a)
  np.testing.assert_array_equal(b2, b)


def test_ada_average_shares_low_divergence_dims():
  mu1 = jnp.array([[0.0, 0.0, 3.0, 0.1]])
  mu2 = jnp.array([[0.05, 0.0, -3.0, 0.0]])
  lv = jnp.zeros((1, 4))
  m1, l1, m2, l2, shared = losses.ada_average(mu1, lv, mu2, lv, "gvae")
  np.testing.assert_array_equal(shared, [[True, True, False, True]])
  np.testing.assert_allclose(m1[0, [0, 1, 3]], m2[0, [0, 1, 3]])
  np.testing.assert_allclose(m1[0, 2], 3.0)
  np.testing.assert_allclose(m2[0, 2], -3.0)
  _, l1m, _, _, _ = losses.ada_average(mu1, lv, mu2, jnp.log(3.0) * jnp.ones((1, 4)), "mlvae")
  np.testing.assert_allclose(jnp.exp(l1m[0, 0]), 2 * 1 * 3 / 4, rtol=1e-5)


def test_pcl_logits_and_loss():
  h_t, h_p = jnp.array([[1.0, -2.0]]), jnp.array([[0.5, 1.0]])
  r = losses.pcl_logits(h_t, h_p, jnp.ones(2), -jnp.ones(2), jnp.zeros(2), 1.0, 0.5)
  np.testing.assert_allclose(r, [-(0.5 + 3.0) + (1 + 4) + 0.5])
  loss, aux = losses.pcl_loss(jnp.array([10.0]), jnp.array([-10.0]))
  assert float(loss) < 1e-4 and float(aux["accuracy"]) == 1.0
