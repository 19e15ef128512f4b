"""Released-weights loader and layer equivalence against NumPy PyTorch semantics."""

import collections
import os
import pathlib
import pickle
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.abs import inference as inf
from rvl_jax.abs import nets, weights

ABS_SHAPES = {
  "Encoder.conv_0.weight": (32, 1, 5, 5),
  "Encoder.conv_0.bias": (32,),
  "Encoder.conv_1.weight": (32, 32, 4, 4),
  "Encoder.conv_1.bias": (32,),
  "Encoder.conv_2.weight": (64, 32, 3, 3),
  "Encoder.conv_2.bias": (64,),
  "Encoder.conv_3.weight": (16, 64, 5, 5),
  "Encoder.conv_3.bias": (16,),
  "Decoder.conv_0.weight": (8, 32, 4, 4),
  "Decoder.conv_0.bias": (32,),
  "Decoder.conv_1.weight": (32, 16, 5, 5),
  "Decoder.conv_1.bias": (16,),
  "Decoder.conv_2.weight": (16, 16, 5, 5),
  "Decoder.conv_2.bias": (16,),
  "Decoder.conv_3.weight": (16, 1, 4, 4),
  "Decoder.conv_3.bias": (1,),
}
for _p, _sizes in (("Encoder", (32, 32, 64)), ("Decoder", (32, 16, 16))):
  for _i, _n in enumerate(_sizes):
    for _s in ("weight", "bias", "running_mean", "running_var"):
      ABS_SHAPES[f"{_p}.bn_{_i}.{_s}"] = (_n,)


@pytest.fixture(scope="module")
def wdir(shared_dir):
  d = shared_dir / "reference_weights" / "abs"
  if not d.is_dir():
    pytest.skip("released ABS weights not found")
  return str(d)


def test_abs_state_dicts_have_the_40_spec_tensors(wdir):
  for c in range(10):
    sd = weights.read_state_dict(weights.abs_weight_path(wdir, c))
    assert len(sd) == 40
    assert {k: v.shape for k, v in sd.items()} == ABS_SHAPES
    assert all(v.dtype == np.float32 for v in sd.values())


@pytest.mark.parametrize(
  "name,feats",
  [
    ("vanilla_cnn", (20, 70, 256, 10)),
    ("binary_cnn", (20, 70, 256, 10)),
    ("transfer_cnn", (32, 32, 64, 10)),
  ],
)
def test_cnn_state_dicts(wdir, name, feats):
  sd = weights.read_state_dict(weights.cnn_weight_path(wdir, name))
  assert len(sd) == 20
  ins = (1,) + feats[:-1]
  ks = (5, 4, 3, 5)
  for i in range(4):
    assert sd[f"conv_{i}.weight"].shape == (feats[i], ins[i], ks[i], ks[i])
    assert sd[f"conv_{i}.bias"].shape == (feats[i],)
  for i in range(3):
    for s in ("weight", "bias", "running_mean", "running_var"):
      assert sd[f"bn_{i}.{s}"].shape == (feats[i],)


# ------------------------------------------------------------ legacy .net reader
def _write_fake_legacy(path, state):
  """Writes `state` in PyTorch's legacy format using stand-in torch modules (no torch needed)."""
  saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
  torch_m = types.ModuleType("torch")
  utils_m = types.ModuleType("torch._utils")

  class FloatStorage:
    pass

  FloatStorage.__module__ = "torch"
  FloatStorage.__qualname__ = "FloatStorage"
  torch_m.FloatStorage = FloatStorage

  def _rebuild_tensor_v2(*args):
    return args

  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  utils_m._rebuild_tensor_v2 = _rebuild_tensor_v2

  class Storage:
    def __init__(self, key, arr):
      self.key, self.arr = key, arr

  class Tensor:
    def __init__(self, storage, arr):
      self.storage, self.arr = storage, arr

    def __reduce__(self):
      strides = tuple(s // 4 for s in self.arr.strides)
      return (
        _rebuild_tensor_v2,
        (self.storage, 0, self.arr.shape, strides, False, collections.OrderedDict()),
      )

  class P(pickle.Pickler):
    def persistent_id(self, obj):
      if isinstance(obj, Storage):
        return ("storage", FloatStorage, obj.key, "cpu", obj.arr.size, None)
      return None

  sys.modules["torch"], sys.modules["torch._utils"] = torch_m, utils_m
  try:
    storages = [Storage(str(i), np.ascontiguousarray(v)) for i, v in enumerate(state.values())]
    sd = collections.OrderedDict((k, Tensor(s, s.arr)) for k, s in zip(state, storages))
    with open(path, "wb") as f:
      pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
      pickle.dump(1001, f, protocol=2)
      pickle.dump({"little_endian": True}, f, protocol=2)
      P(f, protocol=2).dump(sd)
      pickle.dump([s.key for s in storages], f, protocol=2)
      for s in storages:
        f.write(np.int64(s.arr.size).tobytes())
        f.write(s.arr.astype("<f4").tobytes())
  finally:
    for k, v in saved.items():
      if v is None:
        sys.modules.pop(k, None)
      else:
        sys.modules[k] = v


def test_torch_free_legacy_reader_roundtrip(tmp_path):
  rng = np.random.RandomState(0)
  state = collections.OrderedDict(
    [
      ("a.weight", rng.randn(3, 2, 4, 4).astype(np.float32)),
      ("a.bias", rng.randn(3).astype(np.float32)),
    ]
  )
  path = str(tmp_path / "fake.net")
  _write_fake_legacy(path, state)
  got = weights.read_legacy_torch(path)
  assert list(got) == list(state)
  for k in state:
    np.testing.assert_array_equal(got[k], state[k])


def test_legacy_reader_refuses_arbitrary_globals(tmp_path):
  path = str(tmp_path / "evil.net")
  with open(path, "wb") as f:
    pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({}, f, protocol=2)
    pickle.dump(os.system, f, protocol=2)
  with pytest.raises(pickle.UnpicklingError):
    weights.read_legacy_torch(path)


def test_released_net_files_match_npz_and_hash(shared_dir, wdir):
  """Runs when the original .net files are available next to the mirrors (else skipped)."""
  cands = [shared_dir / "reference_weights" / "abs" / "ABS_0.net"]
  if os.environ.get("ABS_REFERENCE_DIR"):  # a checkout of the authors' repository
    cands.append(
      pathlib.Path(os.environ["ABS_REFERENCE_DIR"]) / "exp" / "VAE_swarm_MSE" / "nets" / "ABS_0.net"
    )
  nets_ = [p for p in cands if p.exists()]
  if not nets_:
    pytest.skip("original .net files not present")
  assert weights.sha256(str(nets_[0])) == weights.RELEASED_SHA256["ABS_0.net"]
  a = weights.read_legacy_torch(str(nets_[0]))
  b = weights.read_state_dict(os.path.join(wdir, "abs_vae_class0.npz"))
  for k in b:
    np.testing.assert_array_equal(a[k], b[k])


# ------------------------------------------------------------ NumPy PyTorch semantics
def np_conv2d(x, w, b, stride):
  """PyTorch Conv2d, NCHW, VALID: out[n,o,i,j] = b[o] + sum x[n,c,i*s+p,j*s+q] w[o,c,p,q]."""
  n, c, h, wd = x.shape
  o, _, k, _ = w.shape
  ho, wo = (h - k) // stride + 1, (wd - k) // stride + 1
  out = np.zeros((n, o, ho, wo))
  for p in range(k):
    for q in range(k):
      patch = x[:, :, p : p + stride * ho : stride, q : q + stride * wo : stride]
      out += np.einsum("nchw,oc->nohw", patch, w[:, :, p, q])
  return out + b[None, :, None, None]


def np_conv_transpose2d(x, w, b, stride):
  """PyTorch ConvTranspose2d, weight (in, out, k, k): out[n,o,i*s+p,j*s+q] += x[n,c,i,j] w[c,o,p,q]."""
  n, c, h, wd = x.shape
  _, o, k, _ = w.shape
  out = np.zeros((n, o, (h - 1) * stride + k, (wd - 1) * stride + k))
  for i in range(h):
    for j in range(wd):
      out[:, :, i * stride : i * stride + k, j * stride : j * stride + k] += np.einsum(
        "nc,copq->nopq", x[:, :, i, j], w
      )
  return out + b[None, :, None, None]


def np_bn_eval(x, sd, prefix, eps=1e-5):
  g = lambda s: sd[f"{prefix}.{s}"][None, :, None, None]
  return (x - g("running_mean")) / np.sqrt(g("running_var") + eps) * g("weight") + g("bias")


def np_elu(x):
  return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def np_decoder(sd, z):
  h = z.reshape(len(z), 8, 1, 1).astype(np.float64)
  for i, s in enumerate((1, 2, 2, 1)):
    h = np_conv_transpose2d(h, sd[f"Decoder.conv_{i}.weight"], sd[f"Decoder.conv_{i}.bias"], s)
    if i < 3:
      h = np_elu(np_bn_eval(h, sd, f"Decoder.bn_{i}"))
  return h  # (n, 1, 28, 28) logits


def test_each_converted_layer_matches_numpy(wdir):
  sd = weights.read_state_dict(weights.abs_weight_path(wdir, 3))
  var = weights.vae_variables_from_state_dict(sd)
  rng = np.random.RandomState(0)
  import flax.linen as nn

  # Encoder Conv2d layers.
  for i, (cin, s, hw) in enumerate([(1, 1, 28), (32, 2, 24), (32, 2, 11), (64, 1, 5)]):
    x = rng.rand(2, cin, hw, hw).astype(np.float32)
    w = sd[f"Encoder.conv_{i}.weight"]
    ref = np_conv2d(x.astype(np.float64), w, sd[f"Encoder.conv_{i}.bias"], s)
    layer = nn.Conv(w.shape[0], w.shape[2:], (s, s), padding="VALID")
    got = layer.apply({"params": var["params"]["Encoder"][f"conv_{i}"]}, x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(np.asarray(got).transpose(0, 3, 1, 2), ref, atol=1e-4)
  # Decoder ConvTranspose2d layers and eval-mode BatchNorm.
  for i, (cin, s, hw) in enumerate([(8, 1, 1), (32, 2, 4), (16, 2, 11), (16, 1, 25)]):
    x = rng.randn(2, cin, hw, hw).astype(np.float32)
    w = sd[f"Decoder.conv_{i}.weight"]
    ref = np_conv_transpose2d(x.astype(np.float64), w, sd[f"Decoder.conv_{i}.bias"], s)
    layer = nn.ConvTranspose(
      w.shape[1], w.shape[2:], (s, s), padding="VALID", transpose_kernel=True
    )
    got = layer.apply({"params": var["params"]["Decoder"][f"conv_{i}"]}, x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(np.asarray(got).transpose(0, 3, 1, 2), ref, atol=1e-4)
    # the fused (GEMM-phase) transposed convolution used by ABS inference
    kern = np.transpose(w, (2, 3, 1, 0))
    fused = inf.conv_transpose(jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(kern), s)
    np.testing.assert_allclose(
      np.asarray(fused).transpose(0, 3, 1, 2) + sd[f"Decoder.conv_{i}.bias"][None, :, None, None],
      ref,
      atol=1e-4,
    )
    if i < 3:
      bn = nn.BatchNorm(use_running_average=True, epsilon=1e-5)
      y = rng.randn(2, w.shape[1], 3, 3).astype(np.float32)
      got = bn.apply(
        {
          "params": var["params"]["Decoder"][f"bn_{i}"],
          "batch_stats": var["batch_stats"]["Decoder"][f"bn_{i}"],
        },
        y.transpose(0, 2, 3, 1),
      )
      np.testing.assert_allclose(
        np.asarray(got).transpose(0, 3, 1, 2),
        np_bn_eval(y.astype(np.float64), sd, f"Decoder.bn_{i}"),
        atol=1e-4,
      )


def test_decoder_full_forward_and_designed_mean(wdir):
  sd = weights.read_state_dict(weights.abs_weight_path(wdir, 0))
  var = weights.vae_variables_from_state_dict(sd)
  model = nets.VAE()
  z = np.random.RandomState(1).randn(3, 8).astype(np.float32)
  out = model.apply(var, z, method=model.decode)
  assert out.shape == (3, 28, 28, 1)
  np.testing.assert_allclose(np.asarray(out)[..., 0], np_decoder(sd, z)[:, 0], atol=1e-4)
  fused = jax.vmap(inf.decode_logits, in_axes=(None, 0))(inf.fuse_decoder(var), z)
  np.testing.assert_allclose(np.asarray(fused), np_decoder(sd, z)[:, 0], atol=1e-4)
  mean0 = float(jnp.mean(jax.nn.sigmoid(model.apply(var, jnp.zeros((1, 8)), method=model.decode))))
  assert abs(mean0 - 0.1974) < 5e-4


def test_cnn_forward_matches_numpy(wdir):
  from rvl_jax.abs import baselines

  sd = weights.read_state_dict(weights.cnn_weight_path(wdir, "transfer_cnn"))
  fn = baselines.load_reference_cnn(wdir, "transfer_cnn")
  x = np.random.RandomState(2).rand(2, 28, 28, 1).astype(np.float32)
  h = x.transpose(0, 3, 1, 2).astype(np.float64)
  for i, s in enumerate((1, 2, 2, 1)):
    h = np_conv2d(h, sd[f"conv_{i}.weight"], sd[f"conv_{i}.bias"], s)
    if i < 3:
      h = np_elu(np_bn_eval(h, sd, f"bn_{i}"))
  np.testing.assert_allclose(np.asarray(fn(x)), h[:, :, 0, 0], atol=1e-3, rtol=1e-4)
