"""Networks: sub-pixel transposed convolution, parameter counts, initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.slowvae import models


def _torch_conv_transpose(x, w, b, stride=2, pad=1):
  """Naive PyTorch ConvTranspose2d semantics, NHWC, kernel (k, k, C_in, C_out)."""
  n, h, wd, _ = x.shape
  k = w.shape[0]
  full = np.zeros((n, (h - 1) * stride + k, (wd - 1) * stride + k, w.shape[3]))
  for i in range(h):
    for j in range(wd):
      full[:, i * stride : i * stride + k, j * stride : j * stride + k] += np.einsum(
        "nc,klcd->nkld", x[:, i, j], w
      )
  out_h = (h - 1) * stride - 2 * pad + k
  return full[:, pad : pad + out_h, pad : pad + out_h] + b


def test_subpixel_conv_transpose_equals_pytorch_semantics():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
  w = rng.standard_normal((4, 4, 3, 2)).astype(np.float32)
  b = rng.standard_normal(2).astype(np.float32)
  got = np.asarray(jax.jit(models.conv_transpose_s2)(x, w, b))
  assert got.shape == (2, 10, 10, 2)
  np.testing.assert_allclose(got, _torch_conv_transpose(x, w, b), rtol=1e-4, atol=1e-4)


def test_reference_vae_parameter_count_and_shapes():
  for c, expected in ((1, 763_285), (3, 765_335)):  # the authors' network
    m = models.VAE("reference", 10, (64, 64, c))
    x = jnp.zeros((3, 64, 64, c))
    shapes = jax.eval_shape(m.init, jax.random.PRNGKey(0), x, jax.random.PRNGKey(1))
    assert models.count_params(shapes["params"]) == expected
    out, mu, logvar = jax.eval_shape(m.apply, shapes, x, jax.random.PRNGKey(2))
    assert out.shape == (3, 64, 64, c) and mu.shape == (3, 10) and logvar.shape == (3, 10)


def test_reference_initialisation():
  w = np.asarray(models.kaiming_normal(jax.random.PRNGKey(0), (4, 4, 32, 32)))
  np.testing.assert_allclose(w.std(), np.sqrt(2.0 / (16 * 32)), rtol=0.05)  # Kaiming, fan_in 512
  assert np.abs(w).max() > 3 * w.std()  # a plain (untruncated) normal, like PyTorch
  bound = 1 / np.sqrt(64 * 16)  # PyTorch ConvTranspose default, fan_in = C_out * k * k
  u = np.asarray(models.torch_default_uniform(64 * 16)(jax.random.PRNGKey(1), (4, 4, 64, 64)))
  assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
  shapes = jax.eval_shape(
    models.SubpixelConvTranspose(32).init, jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 64))
  )["params"]
  assert shapes["kernel"].shape == (4, 4, 64, 32) and shapes["bias"].shape == (32,)


@pytest.mark.parametrize("arch,shape", [("dislib", (64, 64, 1)), ("mlp", (50,))])
def test_other_archs(arch, shape):
  d = 10 if arch == "dislib" else 5
  m = models.VAE(arch, d, shape)
  shapes = jax.eval_shape(
    m.init, jax.random.PRNGKey(0), jnp.zeros((2,) + shape), jax.random.PRNGKey(1)
  )
  out = jax.eval_shape(m.apply, shapes, jnp.zeros((2,) + shape), jax.random.PRNGKey(1))
  assert out[0].shape == (2,) + shape and out[1].shape == (2, d)
  if arch == "dislib":
    # disentanglement_lib conv VAE (d = 10: 690.5k)
    assert abs(models.count_params(shapes["params"]) - 690_500) < 2000


def test_bad_arch():
  with pytest.raises(ValueError, match="arch"):
    models.VAE("resnet").init(
      jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1)), jax.random.PRNGKey(0)
    )
