"""Generator structure, parameter counts and the near-identity init (Rusak et al. 2020,
App. A)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.noise import generators as G


@pytest.mark.parametrize(
  "spec,count",
  [
    (G.ANT1x1(3), 983),
    (G.ANT1x1(1), 901),
    (G.ANT3x3(3), 4183),
    (G.ng(1), 12),
    (G.ng(2), 143),
    (G.ng(3), 563),
    (G.ng(4), 983),
    (G.ng(5), 1403),
  ],
)
def test_parameter_counts(spec, count):
  params = G.init_generator(spec, jax.random.PRNGKey(0), (1, 8, 8))
  assert G.count_params(params) == count


@pytest.mark.parametrize("spec", [G.ANT1x1(3), G.ANT3x3(3), G.ANT1x1(1)])
def test_init_is_near_identity(spec):
  params = G.init_generator(spec, jax.random.PRNGKey(1), (1, 16, 16))
  z = jax.random.normal(jax.random.PRNGKey(2), spec.latent_shape((4, 16, 16, spec.channels)))
  out = spec.module().apply({"params": params}, z)
  chex.assert_shape(out, (4, 16, 16, spec.channels))
  b = spec.border
  centre = z[:, b : z.shape[1] - b, b : z.shape[2] - b, :]
  assert float(jnp.max(jnp.abs(out - centre))) < 1e-3
  assert abs(float(jnp.std(out)) - 1.0) < 0.05


def test_generate_noise_shape_and_1x1_is_pixelwise():
  spec = G.ANT1x1(3)
  params = G.init_generator(spec, jax.random.PRNGKey(3), (1, 8, 8))
  params = jax.tree_util.tree_map(lambda p: p * 100, params)  # make the conv path matter
  n = G.generate_noise(spec, params, jax.random.PRNGKey(4), (2, 10, 12, 3))
  chex.assert_shape(n, (2, 10, 12, 3))
  # a 1x1 generator maps each latent pixel independently
  z = jax.random.normal(jax.random.PRNGKey(5), (1, 5, 5, 3))
  full = spec.module().apply({"params": params}, z)
  single = spec.module().apply({"params": params}, z[:, 2:3, 3:4, :])
  np.testing.assert_allclose(
    np.asarray(full[:, 2:3, 3:4]), np.asarray(single), rtol=1e-5, atol=1e-5
  )


def test_3x3_latent_has_border_and_correlation_length():
  spec = G.ANT3x3(1)
  assert spec.latent_shape((2, 28, 28, 1)) == (2, 30, 30, 1)
  params = G.init_generator(spec, jax.random.PRNGKey(6), (1, 8, 8))
  params = jax.tree_util.tree_map(lambda p: p * 100, params)
  z = jax.random.normal(jax.random.PRNGKey(7), (1, 9, 9, 1))
  z2 = z.at[0, 0, 0, 0].add(5.0)  # changes only outputs within the 3x3 neighbourhood
  o1 = spec.module().apply({"params": params}, z)
  o2 = spec.module().apply({"params": params}, z2)
  diff = np.abs(np.asarray(o1 - o2))[0, ..., 0]
  assert diff[0, 0] > 0 and diff[2:, :].max() == 0 and diff[:, 2:].max() == 0


def test_bad_channels():
  with pytest.raises(ValueError, match="channels"):
    G.ANT1x1(3).latent_shape((1, 8, 8, 1))
