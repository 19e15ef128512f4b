"""ResNet v1/v2 layer-wise racecar units against an independent forward pass and the transpose oracle.

For every conv unit the expected reconstruction is producer(A^T(y - b)), where A^T comes from
`jax.linear_transpose` of a plain `lax` convolution and `producer` is the normalization/activation
that made the conv's input (the paper's shift-by-one rule, appendix A.2 eq. 23-24).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.racecar import residual

jax.config.update("jax_default_matmul_precision", "highest")
EPS = 1e-3
relu = jax.nn.relu
identity = lambda t: t


def _bn(p, s, h, train):
  if train:  # the reverse tensor's own batch statistics
    mean, var = h.mean((0, 1, 2)), h.var((0, 1, 2))
  else:
    mean, var = s["mean"], s["var"]
  return (h - mean) / jnp.sqrt(var + EPS) * p["scale"] + p["bias"]


def _conv(p, h, stride):
  return (
    jax.lax.conv_general_dilated(
      h, p["kernel"], (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    + p["bias"]
  )


def _v1_units(P, S, x, n, train):
  """[(conv name, stride, input, producer)] of ResNet v1 with n blocks per stage, in forward order."""
  bnr = lambda name: lambda t: relu(_bn(P[name], S[name], t, train))
  units = [("stem", 1, x, identity)]
  h = relu(_bn(P["stem_bn"], S["stem_bn"], _conv(P["stem"], x, 1), train))
  block_in = bnr("stem_bn")
  for stage in range(3):
    for b in range(n):
      pre, stride = f"s{stage}b{b}_", 2 if stage and not b else 1
      y1 = _conv(P[pre + "conv1"], h, stride)
      h1 = relu(_bn(P[pre + "bn1"], S[pre + "bn1"], y1, train))
      units += [(pre + "conv1", stride, h, block_in), (pre + "conv2", 1, h1, bnr(pre + "bn1"))]
      r = _bn(P[pre + "bn2"], S[pre + "bn2"], _conv(P[pre + "conv2"], h1, 1), train)
      sc = h
      if pre + "proj" in P:
        units.append((pre + "proj", stride, h, block_in))
        sc = _conv(P[pre + "proj"], h, stride)
      h, block_in = relu(r + sc), relu
  return units


def _v2_units(P, S, x, n, train):
  bnr = lambda name: lambda t: relu(_bn(P[name], S[name], t, train))
  units = [("stem", 1, x, identity)]
  h = _conv(P["stem"], x, 1)
  for stage in range(3):
    for b in range(n):
      pre, stride = f"s{stage}b{b}_", 2 if stage and not b else 1
      p = bnr(pre + "bna")(h)
      p2 = bnr(pre + "bnb")(_conv(P[pre + "conv1"], p, stride))
      p3 = bnr(pre + "bnc")(_conv(P[pre + "conv2"], p2, 1))
      units += [
        (pre + "conv1", stride, p, bnr(pre + "bna")),
        (pre + "conv2", 1, p2, bnr(pre + "bnb")),
        (pre + "conv3", 1, p3, bnr(pre + "bnc")),
      ]
      sc = h
      if b == 0:
        sc_in, prod = (p, bnr(pre + "bna")) if stage == 0 else (h, identity)
        units.append((pre + "proj", stride, sc_in, prod))
        sc = _conv(P[pre + "proj"], sc_in, stride)
      h = _conv(P[pre + "conv3"], p3, 1) + sc
  return units


def _random_variables(model, x, seed):
  """Variables of the model's shapes, drawn with NumPy (no per-shape compilation): He-scaled kernels,
  and BN scales/biases/statistics and conv biases far from their defaults, so that a wrong
  normalization or activation in a reconstruction shows."""
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = path[-1].key
    if name == "kernel":
      return rng.normal(0, np.sqrt(2 / np.prod(leaf.shape[:-1])), leaf.shape).astype(np.float32)
    if name in ("scale", "var"):
      return rng.uniform(0.5, 2.0, leaf.shape).astype(np.float32)
    return rng.normal(0, 1, leaf.shape).astype(np.float32)

  return jax.tree_util.tree_map_with_path(
    draw, jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
  )


@pytest.mark.parametrize("version,depth,train", [(1, 8, True), (1, 8, False), (2, 11, True)])
def test_every_unit_matches_the_transpose_oracle(version, depth, train):
  """Training mode (the reverse BN uses the reconstruction's own batch statistics) for v1 and v2, and
  evaluation mode (running statistics) for v1."""
  x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (3, 8, 8, 3)), jnp.float32)
  model = residual.RacecarResNet(version=version, depth=depth, width=4, num_classes=5)
  v = _random_variables(model, x, 1)
  units_fn = _v1_units if version == 1 else _v2_units

  @jax.jit
  def model_and_oracle(v, x):
    (_, pairs), _ = model.apply(v, x, train=train, racecar=True, mutable=["batch_stats"])
    P, S = v["params"], v["batch_stats"]
    expected = []
    for name, stride, inp, producer in units_fn(P, S, x, 1, train):
      fwd = lambda h, k=P[name]["kernel"], s=stride: jax.lax.conv_general_dilated(
        h, k, (s, s), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
      )
      y = _conv(P[name], inp, stride)
      expected.append((inp, producer(jax.linear_transpose(fwd, inp)(y - P[name]["bias"])[0])))
    return pairs, expected

  pairs, expected = model_and_oracle(v, x)
  names = [u[0] for u in units_fn(v["params"], v["batch_stats"], x, 1, train)]
  assert len(pairs) == len(expected) == (9 if version == 1 else 13)
  for name, (target, recon), (inp, want) in zip(names, pairs, expected):
    np.testing.assert_allclose(target, inp, rtol=1e-4, atol=1e-4, err_msg=f"{name} target")
    np.testing.assert_allclose(recon, want, rtol=1e-4, atol=1e-4, err_msg=f"{name} reconstruction")


def test_depth_errors_and_v2_widths():
  x = jnp.ones((1, 8, 8, 3))
  with pytest.raises(ValueError, match="argument 'depth'"):
    residual.RacecarResNet(version=1, depth=9).init(jax.random.PRNGKey(0), x)
  with pytest.raises(ValueError, match="argument 'depth'"):
    residual.RacecarResNet(version=2, depth=8).init(jax.random.PRNGKey(0), x)
  # bottleneck stage widths (fin, fout) = (w, 4w), (4w, 8w), (8w, 16w), as the Keras CIFAR script
  model = residual.RacecarResNet(version=2, depth=11, width=4)
  p = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)["params"]
  got = [
    (p[f"s{s}b0_conv1"]["kernel"].shape[-1], p[f"s{s}b0_conv3"]["kernel"].shape[-1])
    for s in range(3)
  ]
  assert got == [(4, 16), (16, 32), (32, 64)]
