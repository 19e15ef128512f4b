"""Output shapes, parameter counts, exact C4 equivariance, STN identity init, weight loaders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.benchmark import models


def _n_params(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("b,n,c", [(1, 2, 1), (16, 10, 3), (16, 2, 3)])
def test_cnn_shapes_and_params(b, n, c):
  m = models.CNN(n)
  v = jax.eval_shape(m.init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, c)))
  out = jax.eval_shape(m.apply, v, jnp.zeros((b, 64, 64, c)))
  assert out.shape == (b, n)
  expect = 378_816 + 257 * n - (1024 if c == 1 else 0)
  assert _n_params(v) == expect


def test_cnn_param_count_dsprites():
  v = jax.eval_shape(models.CNN(5).init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1)))
  assert _n_params(v) == 379_077


@pytest.mark.parametrize(
  "name",
  [
    "mlp",
    "coordconv",
    "set_encoder",
    "stn",
    "rot_eq",
    "rot_eq_big",
    "rot_eq_c8",
    "resnet50",
    "resnet101",
    "densenet121",
  ],
)
def test_model_output_shapes(name):
  """Shapes only (abstract evaluation, no compilation): every zoo model maps (B,64,64,C) -> (B, n)."""
  m = models.make_model(name, 5)
  x = jnp.zeros((2, 64, 64, 3))
  v = jax.eval_shape(m.init, jax.random.PRNGKey(0), x)
  assert jax.eval_shape(m.apply, v, x).shape == (2, 5)


def test_small_models_run_finite():
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 64, 64, 1))
  for name in ("mlp", "set_encoder", "coordconv"):
    m = models.make_model(name, 5)
    v = m.init(jax.random.PRNGKey(0), x)
    assert bool(jnp.isfinite(m.apply(v, x)).all())


def test_mlp_widths():
  v = jax.eval_shape(models.MLP(5).init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1)))
  kernels = [x.shape for x in jax.tree_util.tree_leaves(v) if x.ndim == 2]
  assert kernels == [(4096, 90), (90, 90), (90, 90), (90, 90), (90, 45), (45, 5)]


def test_torch_init_bounds():
  v = jax.jit(models.CNN(5, torch_init=True).init)(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1)))
  k = v["params"]["conv0"]["kernel"]
  b = v["params"]["conv0"]["bias"]
  bound = 1 / np.sqrt(4 * 4 * 1)
  assert float(jnp.abs(k).max()) <= bound and float(jnp.abs(b).max()) <= bound
  assert float(jnp.abs(b).max()) > 0.5 * bound  # biases are not zero


def test_rot_eq_c4_exactly_equivariant(big=False):
  m = models.RotEqCNN(5, group=4, big=big)
  x = jax.random.uniform(jax.random.PRNGKey(2), (2, 64, 64, 1))
  v = m.init(jax.random.PRNGKey(0), x)
  feats = lambda z: m.apply(v, z, return_features=True)
  f0 = feats(x).reshape(2, -1, 4)
  f1 = feats(jnp.rot90(x, 1, axes=(1, 2))).reshape(2, -1, 4)
  # rotating the input by 90 degrees cyclically shifts the group axis of the (1x1) features
  np.testing.assert_allclose(np.asarray(f1), np.asarray(jnp.roll(f0, 1, axis=-1)), atol=1e-4)
  assert not np.allclose(np.asarray(f0), np.asarray(jnp.roll(f0, 1, axis=-1)), atol=1e-3)
  # group pooling makes the features rotation invariant
  mp = models.RotEqCNN(5, group=4, big=big, group_pool=True)
  g = lambda z: mp.apply(v, z, return_features=True)
  np.testing.assert_allclose(
    np.asarray(g(x)), np.asarray(g(jnp.rot90(x, 2, axes=(1, 2)))), atol=1e-4
  )


def test_rot_eq_channel_counts():
  v = jax.eval_shape(
    models.RotEqCNN(5, group=8).init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1))
  )
  assert v["params"]["gconv0"]["kernel"].shape == (4, 4, 1, 4)
  assert v["params"]["gconv4"]["kernel"].shape == (4, 4, 8, 8, 32)


def test_c8_filter_rotation_by_90_is_exact():
  w = jax.random.normal(jax.random.PRNGKey(0), (4, 4, 3))
  np.testing.assert_allclose(
    np.asarray(models.rotate_filters(w, 2, 8)), np.asarray(jnp.rot90(w, 1, axes=(0, 1))), atol=1e-6
  )


def test_stn_identity_init():
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 64, 64, 1))
  theta = jnp.tile(jnp.array([[1.0, 0, 0], [0, 1.0, 0]]), (2, 1, 1))
  np.testing.assert_allclose(
    np.asarray(models.affine_grid_sample(x, theta)), np.asarray(x), atol=1e-5
  )
  # a shift by 2 pixels (2 * 2/64 in normalised units) moves the content
  theta_s = theta.at[:, 0, 2].set(4.0 / 64)
  out = models.affine_grid_sample(x, theta_s)
  np.testing.assert_allclose(np.asarray(out[:, :, :-2]), np.asarray(x[:, :, 2:]), atol=1e-5)
  m = models.STN(5)
  v = jax.jit(m.init)(jax.random.PRNGKey(0), x)
  np.testing.assert_allclose(np.asarray(v["params"]["loc_out"]["bias"]), [1, 0, 0, 0, 1, 0])


def test_bit_resnet_and_weight_loader(tmp_path):
  m = models.BiTResNet(4, block_units=(1, 1, 1, 1), width=1)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 1))
  v = m.init(jax.random.PRNGKey(0), x)
  assert m.apply(v, x).shape == (2, 4)
  # write a checkpoint in the BiT npz layout from a second init, load it, compare outputs
  v2 = m.init(jax.random.PRNGKey(7), x)
  p = v2["params"]
  ck = {
    "resnet/root_block/standardized_conv2d/kernel": p["root_conv"]["kernel"],
    "resnet/group_norm/gamma": p["pre_head_group_norm"]["scale"],
    "resnet/group_norm/beta": p["pre_head_group_norm"]["bias"],
  }
  for name, sub in p.items():
    if name.startswith("block"):
      blk, unit = name.split("_")
      for part in "abc":
        ck[f"resnet/{blk}/{unit}/{part}/standardized_conv2d/kernel"] = sub[f"{part}_conv"]["kernel"]
        ck[f"resnet/{blk}/{unit}/{part}/group_norm/gamma"] = sub[f"{part}_group_norm"]["scale"]
        ck[f"resnet/{blk}/{unit}/{part}/group_norm/beta"] = sub[f"{part}_group_norm"]["bias"]
      if "a_proj" in sub:
        ck[f"resnet/{blk}/{unit}/a/proj/standardized_conv2d/kernel"] = sub["a_proj"]["kernel"]
  np.savez(tmp_path / "bit.npz", **{k: np.asarray(a) for k, a in ck.items()})
  loaded = models.load_bit_npz(str(tmp_path / "bit.npz"), v["params"])
  loaded["head"] = p["head"]
  np.testing.assert_allclose(
    np.asarray(m.apply({"params": loaded}, x)), np.asarray(m.apply(v2, x)), atol=1e-5
  )


def test_densenet_and_torchvision_loader():
  m = models.DenseNet(3, growth=8, block_config=(2, 2), init_features=16, bn_size=2)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3))
  v = m.init(jax.random.PRNGKey(0), x)
  y, upd = m.apply(v, x, train=True, mutable=["batch_stats"])
  assert y.shape == (2, 3) and "batch_stats" in upd
  # build a torchvision-style state dict from other variables and load it back
  v2 = m.init(jax.random.PRNGKey(3), x)
  sd = {}

  def put(prefix, mod, stats):
    if "kernel" in mod:
      sd[f"features.{prefix}.weight"] = np.transpose(np.asarray(mod["kernel"]), (3, 2, 0, 1))
    else:
      sd[f"features.{prefix}.weight"] = np.asarray(mod["scale"]) + 1.0
      sd[f"features.{prefix}.bias"] = np.asarray(mod["bias"]) + 0.5
      sd[f"features.{prefix}.running_mean"] = np.asarray(stats["mean"]) + 0.1
      sd[f"features.{prefix}.running_var"] = np.asarray(stats["var"]) * 2

  for name, mod in v2["params"].items():
    if name == "classifier":
      continue
    tname = (
      name.replace("_denselayer", ".denselayer").replace("_norm", ".norm").replace("_conv", ".conv")
    )
    if "denselayer" in name:
      for inner, leaf in mod.items():
        put(f"{tname}.{inner}", leaf, v2["batch_stats"].get(name, {}).get(inner))
    else:
      put(tname, mod, v2["batch_stats"].get(name))
  loaded = models.load_torchvision_densenet(sd, v)
  assert np.allclose(loaded["params"]["norm0"]["scale"], sd["features.norm0.weight"])
  assert np.allclose(loaded["batch_stats"]["norm5"]["var"], sd["features.norm5.running_var"])
  assert np.allclose(
    loaded["params"]["transition1_conv"]["kernel"],
    np.transpose(sd["features.transition1.conv.weight"], (2, 3, 1, 0)),
  )
  layer = loaded["params"]["denseblock2_denselayer1"]["conv2"]["kernel"]
  assert np.allclose(layer, v2["params"]["denseblock2_denselayer1"]["conv2"]["kernel"])


def test_load_torch_cnn():
  m = models.CNN(7)
  v = m.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))
  sd = {}
  for i in range(5):
    k = np.asarray(v["params"][f"conv{i}"]["kernel"])
    sd[f"net.{2 * i}.weight"] = np.transpose(k, (3, 2, 0, 1))
    sd[f"net.{2 * i}.bias"] = np.asarray(v["params"][f"conv{i}"]["bias"])
  sd["fc.weight"] = np.asarray(v["params"]["head"]["kernel"]).T
  sd["fc.bias"] = np.asarray(v["params"]["head"]["bias"])
  p = models.load_torch_cnn(sd, v["params"])
  x = jax.random.uniform(jax.random.PRNGKey(1), (3, 64, 64, 3))
  np.testing.assert_allclose(
    np.asarray(m.apply({"params": p}, x)), np.asarray(m.apply(v, x)), atol=1e-5
  )
