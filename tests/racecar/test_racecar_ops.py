"""Explicit transposes vs the oracle (jax.vjp / jax.linear_transpose) and the adjoint identity."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.racecar import ops

jax.config.update("jax_default_matmul_precision", "highest")


def _inner(a, b):
  return float(jnp.vdot(a.astype(jnp.float64) if False else a, b))


_PADS = ["SAME", "VALID", ((2, 1), (0, 3)), ((3, 3), (4, 0))]
_STRIDES = [(1, 1), (2, 2), (3, 2)]
_KERNELS = [(1, 1), (3, 3), (4, 2), (5, 5)]
_SIZES = [(15, 15), (8, 9), (16, 11)]
# every padding x stride combination, rotating kernel size, dilation and (odd) input size
CONV_CASES = [
  (*_SIZES[i % 3], _KERNELS[i % 4], s, p, (1 + (i % 2), 1))
  for i, (p, s) in enumerate(itertools.product(_PADS, _STRIDES))
]


@pytest.mark.parametrize("h,w,k,s,p,d", CONV_CASES + [(15, 15, (3, 3), (2, 2), "SAME", (1, 1))])
def test_conv_transpose_matches_oracle_and_adjoint(h, w, k, s, p, d):
  kx, kk, ky = jax.random.split(jax.random.PRNGKey(h * 100 + k[0] * 10 + s[0]), 3)
  x = jax.random.normal(kx, (2, h, w, 3))
  kernel = jax.random.normal(kk, k + (3, 4))
  f = lambda v: ops.conv(v, kernel, strides=s, padding=p, dilation=d)
  y = jax.random.normal(ky, jax.eval_shape(f, x).shape)

  @jax.jit
  def everything(x, y):
    xt = ops.conv_transpose(y, kernel, input_shape=x.shape, strides=s, padding=p, dilation=d)
    oracle = jax.linear_transpose(f, x)(y)[0]
    vjp_oracle = jax.vjp(f, x)[1](y)[0]
    return xt, oracle, vjp_oracle, jnp.vdot(f(x), y), jnp.vdot(x, xt)

  xt, oracle, vjp_oracle, lhs, rhs = everything(x, y)
  assert xt.shape == x.shape
  np.testing.assert_allclose(xt, oracle, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(xt, vjp_oracle, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_stride2_same_odd_input_recovers_exact_shape():
  x = jnp.ones((1, 15, 15, 2))
  kernel = jnp.ones((3, 3, 2, 5))
  y = ops.conv(x, kernel, strides=2, padding="SAME")
  assert y.shape == (1, 8, 8, 5)
  assert ops.conv_transpose(y, kernel, input_shape=x.shape, strides=2).shape == (1, 15, 15, 2)
  # the same 8x8 output also comes from a 16x16 input: the stored shape decides
  assert ops.conv_transpose(y, kernel, input_shape=(1, 16, 16, 2), strides=2).shape == (
    1,
    16,
    16,
    2,
  )


def test_conv_transpose_rejects_wrong_shape():
  with pytest.raises(ValueError, match="argument 'z'"):
    ops.conv_transpose(
      jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 2, 4)), input_shape=(1, 15, 15, 2), strides=2
    )


def test_dense_transpose_matches_oracle():
  kx, kk, kb, kz = jax.random.split(jax.random.PRNGKey(0), 4)
  x, kernel = jax.random.normal(kx, (5, 7)), jax.random.normal(kk, (7, 3))
  b, z = jax.random.normal(kb, (3,)), jax.random.normal(kz, (5, 3))
  oracle = jax.linear_transpose(lambda v: ops.dense(v, kernel), x)(z - b)[0]
  np.testing.assert_allclose(ops.dense_transpose(z, kernel, b), oracle, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
    jnp.vdot(ops.dense(x, kernel), z), jnp.vdot(x, ops.dense_transpose(z, kernel)), rtol=1e-5
  )


@pytest.mark.parametrize(
  "s,p,k,hw",
  [
    ((2, 2), "SAME", (4, 4), (7, 7)),
    ((2, 2), "VALID", (3, 3), (5, 6)),
    ((1, 1), "SAME", (3, 3), (6, 6)),
    ((3, 3), ((1, 0), (2, 1)), (4, 4), (4, 5)),
  ],
)
def test_deconv_reverse_is_its_transpose(s, p, k, hw):
  kx, kk, ky = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(kx, (2,) + hw + (5,))
  kernel = jax.random.normal(kk, k + (3, 5))  # deconv 5 -> 3 channels
  f = lambda v: ops.deconv(v, kernel, strides=s, padding=p)
  yshape = jax.eval_shape(f, x).shape
  assert yshape[-1] == 3
  y = jax.random.normal(ky, yshape)

  @jax.jit
  def everything(x, y):
    rev = ops.deconv_transpose(y, kernel, strides=s, padding=p)
    return rev, jax.linear_transpose(f, x)(y)[0], jnp.vdot(f(x), y), jnp.vdot(x, rev)

  rev, oracle, lhs, rhs = everything(x, y)
  assert rev.shape == x.shape
  np.testing.assert_allclose(rev, oracle, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_pool_upsample_pairs():
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 6, 8, 3))
  # average pooling is the left-inverse of nearest up-sampling, sum pooling its exact adjoint
  np.testing.assert_allclose(ops.avg_pool2(ops.upsample_nearest2(x)), x, rtol=1e-6)
  y = jax.random.normal(jax.random.PRNGKey(3), (2, 12, 16, 3))
  np.testing.assert_allclose(
    jax.linear_transpose(ops.upsample_nearest2, x)(y)[0], ops.sum_pool2(y), rtol=1e-5, atol=1e-5
  )
  # odd pre-pool sizes: UP recovers the stored shape
  z = ops.max_pool2(jnp.ones((1, 7, 9, 2)))
  assert ops.upsample_nearest2(z, (7, 9)).shape == (1, 7, 9, 2)
  # global average pool <-> broadcast (adjoint up to 1/HW)
  g = jax.random.normal(jax.random.PRNGKey(4), (2, 3))
  np.testing.assert_allclose(
    jnp.vdot(ops.global_avg_pool(x[:, :, :, :3]), g) * 48,
    jnp.vdot(x, ops.global_avg_pool_reverse(g, (6, 8))),
    rtol=1e-5,
  )
  np.testing.assert_array_equal(ops.unflatten(ops.flatten(x), x.shape), x)


def test_no_autodiff_transposes_in_library():
  import pathlib

  root = pathlib.Path(ops.__file__).parent
  for f in root.glob("*.py"):
    text = f.read_text()
    for banned in ("jax.vjp", "linear_transpose", "jax.linearize"):
      code = "\n".join(l for l in text.splitlines() if not l.strip().startswith(("#", '"', "'")))
      assert banned + "(" not in code, f"{f.name} uses {banned}"


def test_gradients_flow_through_transpose_under_jit():
  x = jax.random.normal(jax.random.PRNGKey(5), (2, 9, 9, 1))

  def loss(kernel):
    y = ops.conv(x, kernel, strides=2)
    return jnp.sum((ops.conv_transpose(y, kernel, input_shape=x.shape, strides=2) - x) ** 2)

  k0 = jax.random.normal(jax.random.PRNGKey(6), (3, 3, 1, 2)) * 0.3
  g = jax.jit(jax.grad(loss))(k0)

  def oracle(kernel):  # the same loss with JAX's own transpose of the conv
    lin = lambda h: ops.conv(h, kernel, strides=2)
    return jnp.sum((jax.linear_transpose(lin, x)(lin(x))[0] - x) ** 2)

  np.testing.assert_allclose(g, jax.grad(oracle)(k0), rtol=1e-4, atol=1e-5)
  assert float(jnp.abs(g).sum()) > 1e-3
