"""Exact clipping-aware projection onto the eps sphere (Rusak et al. 2020, Sec. 3.2)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.noise import projection


def _norms(x, y):
  return np.asarray(projection.perturbation_norm(x, y))


@pytest.mark.parametrize("eps", [0.5, 3.0, 10.0])
def test_random_inputs_hit_eps(eps):
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.uniform(k1, (6, 28, 28, 1))
  d = jax.random.normal(k2, x.shape)
  y = projection.project_to_eps_sphere(x, d, eps)
  chex.assert_shape(y, x.shape)
  assert float(y.min()) >= 0 and float(y.max()) <= 1
  np.testing.assert_allclose(_norms(x, y), eps, rtol=1e-4)


def test_large_rgb_image_float32():
  k1, k2 = jax.random.split(jax.random.PRNGKey(1))
  x = jax.random.uniform(k1, (2, 224, 224, 3))
  d = jax.random.normal(k2, x.shape)
  y = projection.project_to_eps_sphere(x, d, 135.0)
  np.testing.assert_allclose(_norms(x, y), 135.0, rtol=1e-4)


def test_binary_mnist_like_image():
  x = (jax.random.uniform(jax.random.PRNGKey(2), (3, 28, 28, 1)) > 0.8).astype(jnp.float32)
  d = jax.random.normal(jax.random.PRNGKey(3), x.shape)
  y = projection.project_to_eps_sphere(x, d, 10.0)
  np.testing.assert_allclose(_norms(x, y), 10.0, rtol=1e-4)


def test_unreachable_eps_saturates_everything():
  x = jax.random.uniform(jax.random.PRNGKey(4), (2, 8, 8, 1))
  d = jax.random.normal(jax.random.PRNGKey(5), x.shape)
  y = projection.project_to_eps_sphere(x, d, 1e6)
  expected = jnp.where(d >= 0, 1.0, 0.0)
  np.testing.assert_allclose(np.asarray(y), np.asarray(expected), atol=1e-6)


def test_per_image_eps_and_small_eps_is_unclipped_rescaling():
  x = jnp.full((2, 4, 4, 1), 0.5)
  d = jax.random.normal(jax.random.PRNGKey(6), x.shape) * 0.01
  eps = jnp.array([0.1, 0.2])
  y = projection.project_to_eps_sphere(x, d, eps)
  np.testing.assert_allclose(_norms(x, y), [0.1, 0.2], rtol=1e-5)
  # no clipping active: the perturbation is a positive multiple of d
  ratio = np.asarray((y - x) / d).reshape(2, -1)
  np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-3)


def test_gradients_finite_and_jit_vmap():
  x = jax.random.uniform(jax.random.PRNGKey(7), (3, 6, 6, 1))
  d = jax.random.normal(jax.random.PRNGKey(8), x.shape)

  def loss(d):
    return jnp.sum(jnp.sin(3 * projection.project_to_eps_sphere(x, d, 2.0)))

  g = jax.jit(jax.grad(loss))(d)
  assert np.all(np.isfinite(np.asarray(g)))
  g_sat = jax.grad(lambda d: jnp.sum(projection.project_to_eps_sphere(x, d, 1e5)))(d)
  assert np.all(np.isfinite(np.asarray(g_sat)))
  batched = jax.vmap(lambda xi, di: projection.project_to_eps_sphere(xi[None], di[None], 2.0)[0])(
    x, d
  )
  np.testing.assert_allclose(
    np.asarray(batched), np.asarray(projection.project_to_eps_sphere(x, d, 2.0)), atol=1e-6
  )


def test_gradients_finite_with_zero_and_tiny_directions():
  # Regression: an exact zero (or |d| < 1e-10) in the generator output made the knot
  # derivative -2 s^2 / d^3 overflow and the whole backward pass NaN.
  x = jax.random.uniform(jax.random.PRNGKey(3), (2, 8, 8, 1))
  d = jax.random.normal(jax.random.PRNGKey(4), x.shape)
  d = d.at[0, 0, 0, 0].set(0.0).at[1, 2, 3, 0].set(1e-12).at[1, 4, 4, 0].set(-3e-11)
  w = jax.random.normal(jax.random.PRNGKey(5), x.shape)
  for eps in (1.0, 1e5):  # reachable and saturated
    g = jax.grad(lambda d: jnp.sum(w * projection.project_to_eps_sphere(x, d, eps)))(d)
    assert np.all(np.isfinite(np.asarray(g))), eps
  # The gradient through eta is still the true derivative (directional finite difference).
  f = lambda d: jnp.sum(w * projection.project_to_eps_sphere(x, d, 1.0))  # noqa: E731
  v = jax.random.normal(jax.random.PRNGKey(6), x.shape)
  h = 1e-3
  fd = (f(d + h * v) - f(d - h * v)) / (2 * h)
  an = jnp.sum(jax.grad(f)(d) * v)
  assert abs(float(fd) - float(an)) < 2e-2 * max(1.0, abs(float(an)))


def test_shape_mismatch_error():
  with pytest.raises(ValueError, match="argument 'delta'"):
    projection.project_to_eps_sphere(jnp.zeros((1, 4, 4, 1)), jnp.zeros((1, 4, 4, 3)), 1.0)
