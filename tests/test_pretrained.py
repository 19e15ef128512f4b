"""The pretrained-weight hub: torch-free reading, hash checks, cache and download, converters."""

import os
import struct
import zipfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rvl_jax import pretrained
from rvl_jax.noise import models as noise_models
from rvl_jax.pretrained import converters, hub

_STORAGE = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


def write_torch_zip(path, arrays, transposed=()):
  """A zip-format state dict written by hand (the layout ``torch.save`` uses), no torch needed.

  Entries named in ``transposed`` are stored as the transpose of a contiguous storage (stride
  swapped), as PyTorch does for a transposed view."""
  out = bytearray(b"\x80\x02")
  glob = lambda mod, name: out.extend(b"c" + f"{mod}\n{name}\n".encode())
  uni = lambda s: out.extend(b"X" + struct.pack("<I", len(s.encode())) + s.encode())
  int_ = lambda i: out.extend(b"J" + struct.pack("<i", int(i)))
  glob("collections", "OrderedDict")
  out.extend(b")R(")
  storages = {}
  for key, (name, arr) in enumerate(arrays.items()):
    arr = np.asarray(arr)
    if name in transposed:
      storage, shape, stride = np.ascontiguousarray(arr.T), arr.shape, (1, arr.shape[0])
    else:
      storage, shape = arr.copy(order="C"), arr.shape
      stride = tuple(int(s // arr.itemsize) for s in storage.strides)
    storages[str(key)] = storage.astype(storage.dtype.newbyteorder("<")).tobytes()
    uni(name)
    glob("torch._utils", "_rebuild_tensor_v2")
    out.extend(b"((")
    uni("storage")
    glob("torch", _STORAGE[arr.dtype])
    uni(str(key))
    uni("cpu")
    int_(storage.size)
    out.extend(b"tQ")
    int_(0)
    for dims in (shape, stride):
      out.extend(b"(")
      for d in dims:
        int_(d)
      out.extend(b"t")
    out.extend(b"\x89")
    glob("collections", "OrderedDict")
    out.extend(b")Rt")
    out.extend(b"R")
  out.extend(b"u.")
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", bytes(out))
    for key, data in storages.items():
      z.writestr(f"archive/data/{key}", data)
    z.writestr("archive/version", "3\n")
  return path


def tiny_resnet_state_dict(seed=0, classes=4):
  """torchvision names and layouts for noise_models' 'resnet_tiny' (stem 3x3 conv 8, two basic
  blocks of widths 8 and 16, the second with a projection shortcut)."""
  rng = np.random.default_rng(seed)
  sd = {}

  def conv(name, o, i, k):
    sd[f"{name}.weight"] = rng.normal(size=(o, i, k, k)).astype(np.float32)

  def bn(name, c):
    sd[f"{name}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[f"{name}.bias"] = rng.normal(size=c).astype(np.float32)
    sd[f"{name}.running_mean"] = rng.normal(size=c).astype(np.float32)
    sd[f"{name}.running_var"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
    sd[f"{name}.num_batches_tracked"] = np.array(7, np.int64)

  conv("conv1", 8, 3, 3)
  bn("bn1", 8)
  for stage, (cin, cout) in enumerate(((8, 8), (8, 16))):
    p = f"layer{stage + 1}.0"
    conv(f"{p}.conv1", cout, cin, 3)
    bn(f"{p}.bn1", cout)
    conv(f"{p}.conv2", cout, cout, 3)
    bn(f"{p}.bn2", cout)
    if cin != cout:
      conv(f"{p}.downsample.0", cout, cin, 1)
      bn(f"{p}.downsample.1", cout)
  sd["fc.weight"] = rng.normal(size=(classes, 16)).astype(np.float32)
  sd["fc.bias"] = rng.normal(size=classes).astype(np.float32)
  return sd


def _init(model, size, concrete=False):
  """The model's variables as ShapeDtypeStructs, or (concrete) filled with a marker value."""
  v = jax.eval_shape(
    lambda k: model.init(k, jnp.zeros((1, size, size, 3)), train=False), jax.random.PRNGKey(0)
  )
  return jax.tree_util.tree_map(lambda l: np.full(l.shape, 0.25, l.dtype), v) if concrete else v


def _tiny_template(classes=4, concrete=False):
  """The 'resnet_tiny' variables (no compilation); concrete where the model's head is kept."""
  model = noise_models.build_model("resnet_tiny", num_classes=classes)
  return model, _init(model, 16, concrete)


@pytest.fixture
def weights_cache(tmp_path, monkeypatch):
  monkeypatch.setenv("RVL_WEIGHTS_DIR", str(tmp_path / "cache"))
  return tmp_path


def _register_file(monkeypatch, name, path, **kw):
  entry = hub.Weights(
    name=name,
    url="file://" + str(path),
    license="test",
    converter=kw.pop("converter", converters.torchvision_resnet),
    description="test weights",
    **kw,
  )
  monkeypatch.setitem(hub.REGISTRY, name, entry)
  return entry


def test_torch_free_reader_reads_a_hand_written_zip(tmp_path):
  a = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
  t = np.arange(12, dtype=np.float32).reshape(3, 4)
  n = np.array([3, -1, 7], np.int64)
  path = write_torch_zip(str(tmp_path / "w.pth"), {"a": a, "t": t, "n": n}, transposed=("t",))
  got = pretrained.read_torch_zip(path)
  assert list(got) == ["a", "t", "n"]
  np.testing.assert_array_equal(got["a"], a)
  np.testing.assert_array_equal(got["t"], t)
  np.testing.assert_array_equal(got["n"], n)
  assert got["n"].dtype == np.int64


def test_reader_refuses_foreign_globals(tmp_path):
  path = str(tmp_path / "evil.pth")
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR.")
  with pytest.raises(Exception, match="refusing to load os.system"):
    pretrained.read_torch_zip(path)


def test_reader_matches_torch_save(tmp_path):
  torch = pytest.importorskip("torch")
  sd = {
    "w": torch.randn(5, 3).t(),
    "b": torch.arange(4, dtype=torch.int64),
    "h": torch.randn(2, 2).to(torch.bfloat16),
  }
  path = str(tmp_path / "sd.pth")
  torch.save(sd, path)
  got = pretrained.read_torch_zip(path)
  np.testing.assert_array_equal(got["w"], sd["w"].numpy())
  np.testing.assert_array_equal(got["b"], sd["b"].numpy())
  np.testing.assert_array_equal(got["h"].astype(np.float32), sd["h"].float().numpy())


def test_hub_download_cache_and_conversion(tmp_path, weights_cache, monkeypatch):
  sd = tiny_resnet_state_dict()
  src = write_torch_zip(str(tmp_path / "tiny.pth"), sd)
  _register_file(monkeypatch, "test/tiny", src, sha256=pretrained.sha256(src))
  _, template = _tiny_template()
  with pytest.raises(FileNotFoundError, match="argument 'name'.*download=True"):
    pretrained.load("test/tiny", template=template)  # nothing downloads by default
  v = pretrained.load("test/tiny", download=True, template=template)
  cached = pretrained.cache_path("test/tiny")
  assert cached.startswith(str(weights_cache / "cache")) and os.path.exists(cached)
  np.testing.assert_array_equal(
    v["params"]["Conv_0"]["kernel"], sd["conv1.weight"].transpose(2, 3, 1, 0)
  )
  np.testing.assert_array_equal(
    v["params"]["_Basic_1"]["Conv_2"]["kernel"],
    sd["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0),
  )
  np.testing.assert_array_equal(
    v["batch_stats"]["_Basic_1"]["BatchNorm_1"]["var"], sd["layer2.0.bn2.running_var"]
  )
  np.testing.assert_array_equal(v["params"]["Dense_0"]["kernel"], sd["fc.weight"].T)
  # a second load reads the cache (the source may be gone)
  os.remove(src)
  v2 = pretrained.load("test/tiny", template=template)
  np.testing.assert_array_equal(v2["params"]["Dense_0"]["bias"], sd["fc.bias"])


def test_hub_bad_input(tmp_path, weights_cache, monkeypatch):
  src = write_torch_zip(str(tmp_path / "tiny.pth"), tiny_resnet_state_dict())
  _, template = _tiny_template()
  with pytest.raises(ValueError, match="argument 'name': unknown weights 'nope/x'"):
    pretrained.load("nope/x")
  _register_file(monkeypatch, "test/wrong_hash", src, sha256="0" * 64)
  with pytest.raises(ValueError, match="SHA-256 mismatch for 'test/wrong_hash'"):
    pretrained.load("test/wrong_hash", path=src, template=template)
  with pytest.raises(ValueError, match="SHA-256 mismatch"):  # a bad download is not cached
    pretrained.load("test/wrong_hash", download=True, template=template)
  assert not os.path.exists(pretrained.cache_path("test/wrong_hash"))
  with pytest.raises(FileNotFoundError, match="argument 'path': no file"):
    pretrained.load("test/wrong_hash", path=str(tmp_path / "missing.pth"))
  entry = hub.Weights(
    name="test/offline",
    url="http://127.0.0.1:9/w.pth",
    license="test",
    converter=converters.torchvision_resnet,
    description="",
    sha256="0" * 64,
  )
  monkeypatch.setitem(hub.REGISTRY, "test/offline", entry)
  with pytest.raises(ConnectionError, match="argument 'download': could not fetch 'test/offline'"):
    pretrained.load("test/offline", download=True)
  entry = hub.Weights(
    name="test/unpublished",
    url="file://" + src,
    license="test",
    converter=converters.torchvision_resnet,
    description="",
  )
  monkeypatch.setitem(hub.REGISTRY, "test/unpublished", entry)
  with pytest.raises(ValueError, match="argument 'sha256': no SHA-256 is published"):
    pretrained.load("test/unpublished", path=src, template=template)
  v = pretrained.load(
    "test/unpublished", path=src, template=template, sha256=pretrained.sha256(src)
  )
  assert v["params"]["Conv_0"]["kernel"].shape == (3, 3, 3, 8)
  bad = tiny_resnet_state_dict()
  bad["layer1.0.conv2.weight"] = bad["layer1.0.conv2.weight"][:, :4]
  with pytest.raises(ValueError, match=r"layer1.0.conv2.weight has shape \(3, 3, 4, 8\)"):
    converters.torchvision_resnet(bad, template)


def test_registry_entries_are_complete():
  for row in pretrained.describe():
    assert row["url"].startswith("https://") and row["license"] and row["description"]
  assert pretrained.get("torchvision/resnet50").sha256_prefix == "0676ba61"
  assert len(pretrained.get("abs/vae_class0").sha256) == 64


def test_released_abs_weights_through_the_hub(shared_dir):
  from rvl_jax.abs import weights

  wdir = os.path.join(shared_dir, "reference_weights", "abs")
  for name, fname in (
    ("abs/vae_class3", "abs_vae_class3.npz"),
    ("abs/vanilla_cnn", "vanilla_cnn.npz"),
  ):
    path = os.path.join(wdir, fname)
    got = pretrained.load(name, path=path)
    want = (
      weights.load_abs_vaes(wdir)[3] if "vae" in name else weights.load_cnn(wdir, "vanilla_cnn")
    )
    jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def test_resnet50_converter_at_full_shape():
  """torchvision ResNet-50 names/shapes onto the abstract (eval_shape) ResNet-50 tree."""
  model = noise_models.resnet50(1000)
  template = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 224, 224, 3))))
  sd = {}
  rng = np.random.default_rng(0)

  def conv(name, o, i, k):
    sd[f"{name}.weight"] = rng.standard_normal((o, i, k, k), np.float32)

  def bn(name, c):
    for s in ("weight", "bias", "running_mean", "running_var"):
      sd[f"{name}.{s}"] = rng.standard_normal(c, np.float32)

  conv("conv1", 64, 3, 7)
  bn("bn1", 64)
  cin = 64
  for stage, n in enumerate((3, 4, 6, 3)):
    w = 64 * 2**stage
    for j in range(n):
      p = f"layer{stage + 1}.{j}"
      conv(f"{p}.conv1", w, cin, 1)
      bn(f"{p}.bn1", w)
      conv(f"{p}.conv2", w, w, 3)
      bn(f"{p}.bn2", w)
      conv(f"{p}.conv3", 4 * w, w, 1)
      bn(f"{p}.bn3", 4 * w)
      if j == 0:
        conv(f"{p}.downsample.0", 4 * w, cin, 1)
        bn(f"{p}.downsample.1", 4 * w)
      cin = 4 * w
  sd["fc.weight"] = rng.standard_normal((1000, 2048), np.float32)
  sd["fc.bias"] = rng.standard_normal(1000, np.float32)
  v = converters.torchvision_resnet(sd, template)
  shapes = jax.tree_util.tree_map(lambda a: a.shape, v)
  assert shapes == jax.tree_util.tree_map(lambda a: a.shape, template)
  assert sum(a.size for a in jax.tree_util.tree_leaves(v["params"])) == 25_557_032  # torchvision's
  np.testing.assert_array_equal(
    v["params"]["_Bottleneck_15"]["Conv_2"]["kernel"],
    sd["layer4.2.conv3.weight"].transpose(2, 3, 1, 0),
  )
  np.testing.assert_array_equal(
    v["batch_stats"]["_Bottleneck_3"]["BatchNorm_3"]["mean"],
    sd["layer2.0.downsample.1.running_mean"],
  )


def _torch_resnet(torch, stages=(1, 1), width=8, classes=5):
  """A small ResNet with torchvision's module names and stem (7x7/2 conv, max-pool, basic blocks)."""
  nn = torch.nn

  class Block(nn.Module):
    def __init__(self, cin, cout, stride):
      super().__init__()
      self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = nn.BatchNorm2d(cout)
      self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = nn.BatchNorm2d(cout)
      self.downsample = (
        nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        if stride != 1 or cin != cout
        else None
      )

    def forward(self, x):
      y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
      return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
      self.bn1 = nn.BatchNorm2d(width)
      cin = width
      for i, n in enumerate(stages):
        cout = width * 2**i
        blocks = [
          Block(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1) for j in range(n)
        ]
        setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        cin = cout
      self.fc = nn.Linear(cin, classes)

    def forward(self, x):
      x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
      for i in range(len(stages)):
        x = getattr(self, f"layer{i + 1}")(x)
      return self.fc(x.mean((2, 3)))

  return Net()


def test_torchvision_resnet_forward_matches_torch(tmp_path):
  torch = pytest.importorskip("torch")
  torch.manual_seed(0)
  net = _torch_resnet(torch).eval()
  with torch.no_grad():  # non-trivial BatchNorm statistics
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.2, 0.2)
        m.running_var.uniform_(0.5, 1.5)
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
  path = str(tmp_path / "r.pth")
  torch.save(net.state_dict(), path)  # a real torch.save file, read without torch
  model = noise_models.ResNet(stage_sizes=(1, 1), block="basic", width=8, num_classes=5)
  v = converters.torchvision_resnet(pretrained.read_state_dict(path), _init(model, 32))
  x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
  ours = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(v, x))
  xn = (x - np.array(noise_models.IMAGENET_MEAN, np.float32)) / np.array(
    noise_models.IMAGENET_STD, np.float32
  )
  with torch.no_grad():
    ref = net(torch.from_numpy(xn.transpose(0, 3, 1, 2).copy())).numpy()
  assert np.abs(ref).max() > 0.1
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)


def test_imagenet_init_checkpoint_from_path_and_name(tmp_path, weights_cache, monkeypatch):
  from experiments.noise import imagenet

  sd = tiny_resnet_state_dict(classes=1000)  # a 1000-way checkpoint, a 4-class folder
  src = write_torch_zip(str(tmp_path / "ckpt.pth"), sd)
  _, template = _tiny_template(classes=4, concrete=True)
  cfg = ml_collections.ConfigDict({"init_checkpoint": src, "init_download": False})
  params, bs = imagenet.load_init_checkpoint(cfg, template["params"], template["batch_stats"])
  np.testing.assert_array_equal(
    params["_Basic_0"]["Conv_1"]["kernel"], sd["layer1.0.conv2.weight"].transpose(2, 3, 1, 0)
  )
  np.testing.assert_array_equal(bs["BatchNorm_0"]["mean"], sd["bn1.running_mean"])
  # the classifier of another size keeps the model's own initialisation
  np.testing.assert_array_equal(
    params["Dense_0"]["kernel"], template["params"]["Dense_0"]["kernel"]
  )
  _register_file(monkeypatch, "test/ckpt", src, sha256=pretrained.sha256(src))
  cfg = ml_collections.ConfigDict({"init_checkpoint": "test/ckpt", "init_download": True})
  params2, _ = imagenet.load_init_checkpoint(cfg, template["params"], template["batch_stats"])
  np.testing.assert_array_equal(params2["Conv_0"]["kernel"], params["Conv_0"]["kernel"])
  cfg = ml_collections.ConfigDict({"init_checkpoint": str(tmp_path / "nope.pth")})
  with pytest.raises(FileNotFoundError, match="argument 'init_checkpoint'"):
    imagenet.load_init_checkpoint(cfg, template["params"], template["batch_stats"])
