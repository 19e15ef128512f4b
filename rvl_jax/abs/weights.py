"""Loading the released ABS / CNN weights (the authors' PyTorch files, read without PyTorch).

The authors released PyTorch state dicts (``ABS_{c}.net``, ``vanilla_cnn.net``,
``binary_cnn.net``, ``transfer_cnn.net``) in PyTorch's legacy (pre-1.6) format.
This module reads them without PyTorch (a restricted unpickler), reads the
NumPy mirrors (``abs_vae_class{c}.npz`` etc., same keys and layouts) and maps
them onto the Flax parameter trees of :mod:`rvl_jax.abs.nets`.

Layout conversion (PyTorch -> Flax):
  Conv2d (out, in, kh, kw)            -> (kh, kw, in, out)   = W.transpose(2, 3, 1, 0)
  ConvTranspose2d (in, out, kh, kw)   -> (kh, kw, out, in)   = W.transpose(2, 3, 1, 0)
      (Flax ``ConvTranspose(transpose_kernel=True)``; no spatial flip needed)
  BatchNorm2d weight/bias             -> params scale/bias
  BatchNorm2d running_mean/var        -> batch_stats mean/var
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
from typing import Dict, Mapping

import numpy as np

# SHA-256 of the released PyTorch files (as published).
RELEASED_SHA256 = {
  "ABS_0.net": "7e824714475516ff59ceec4b864fd8cd49a3346e12eba3b5bd51ef4dbc3777fc",
  "ABS_1.net": "84d13bf9f97194c26b68eefbd7cd4db14b8e7532e164c01a15cce7c4f5e015cb",
  "ABS_2.net": "206904c278bb4255bff6a249586627a29371232d086636abb6f897ae81ef733c",
  "ABS_3.net": "144cafe539b528de4c8108ba69506839bb29af1603f19e8a62ec64596df4202c",
  "ABS_4.net": "7e2c626b8b52f5459c384d2d1f266c03ccc5ea8b4450d8078bc819b6b488682f",
  "ABS_5.net": "41ed13bfc331965e057b4833cd644f9734a8177077e5dd419e490f7c4b5fb583",
  "ABS_6.net": "f8b8a6e440ee99e0f132b1ffc02794a02b49f19d27eca849e1bfca5206695b13",
  "ABS_7.net": "02135d7215afa1a1f4bce5f0407249da402674ba0a5559e132b47a28b7937737",
  "ABS_8.net": "cccd26a1d64ed713dc8812417db57a0e1eb32637a1fd653c59ab606b4aa622a6",
  "ABS_9.net": "bb45e988ba1e33cdcdf75a25763d15d1fe849f38a5098f5fca5b3741a599f784",
  "vanilla_cnn.net": "e6fb230a8bcc03caa62cf3ae8bc0f4d976a32c467cc1862fd31cf576e1520b35",
  "binary_cnn.net": "b898bccba190435d5ef3a133454d29f096d77a77da35c5130e1a8aca704b5cc4",
  "transfer_cnn.net": "756852426398f9e3845ea9b608a2efbcf9ca84f36488a786bbb0d175a6c8e26b",
}

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# The NumPy dtype of each ``torch.<Type>Storage`` a pickled state dict names (also used by the
# zip-format reader, rvl_jax.pretrained.torch_zip).
STORAGE_DTYPES = {
  "FloatStorage": np.float32,
  "DoubleStorage": np.float64,
  "HalfStorage": np.float16,
  "LongStorage": np.int64,
  "IntStorage": np.int32,
  "ShortStorage": np.int16,
  "CharStorage": np.int8,
  "ByteStorage": np.uint8,
  "BoolStorage": np.bool_,
}


def sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


class _StorageType:
  def __init__(self, name):
    self.name = name


class _TensorRecord:
  def __init__(self, key, offset, size, stride):
    self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage_key, offset, size, stride, requires_grad=False, hooks=None, *unused):
  del requires_grad, hooks, unused
  return _TensorRecord(storage_key, offset, size, stride)


class _LegacyUnpickler(pickle.Unpickler):
  """Restricted unpickler for legacy PyTorch state dicts (refuses anything else)."""

  def __init__(self, f, storages):
    super().__init__(f)
    self._storages = storages

  def find_class(self, module, name):
    if module == "collections" and name == "OrderedDict":
      return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
      return _rebuild_tensor_v2  # (storage, offset, size, stride[, requires_grad, hooks])
    if module == "torch" and name in STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file")

  def persistent_load(self, pid):
    typename, storage_type, key, _location, numel = pid[:5]
    if typename != "storage":
      raise pickle.UnpicklingError(f"unknown persistent id {typename!r}")
    self._storages[key] = (STORAGE_DTYPES[storage_type.name], int(numel))
    return key


def read_legacy_torch(path: str) -> Dict[str, np.ndarray]:
  """Reads a legacy (non-zip) PyTorch state dict file into NumPy arrays, without torch."""
  storages = {}
  with open(path, "rb") as f:
    magic = pickle.load(f)
    if magic != _LEGACY_MAGIC:
      raise ValueError(
        f"argument 'path': expected a legacy PyTorch file, got magic {magic!r} in {path}"
      )
    pickle.load(f)  # protocol version
    pickle.load(f)  # system info
    state = _LegacyUnpickler(f, storages).load()
    keys = pickle.load(f)
    data = {}
    for key in keys:
      dtype, _ = storages[key]
      count = int(np.frombuffer(f.read(8), "<i8")[0])
      data[key] = np.frombuffer(
        f.read(count * np.dtype(dtype).itemsize), dtype=np.dtype(dtype).newbyteorder("<")
      ).copy()
  out = collections.OrderedDict()
  for name, rec in state.items():
    buf = data[rec.key]
    itemsize = buf.dtype.itemsize
    arr = np.lib.stride_tricks.as_strided(
      buf[rec.offset :], shape=rec.size, strides=[s * itemsize for s in rec.stride]
    )
    out[name] = np.array(arr, dtype=buf.dtype.newbyteorder("="))
  return out


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
  """Reads a state dict from ``.npz`` or a released ``.net`` file (torch used if present)."""
  if path.endswith(".npz"):
    with np.load(path) as z:
      return collections.OrderedDict((k, np.asarray(z[k])) for k in z.files)
  try:
    return read_legacy_torch(path)
  except (pickle.UnpicklingError, ValueError):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ValueError(f"argument 'path': could not read {path} without torch") from e
    sd = torch.load(path, map_location="cpu")
    return collections.OrderedDict((k, v.numpy()) for k, v in sd.items())


# ---------------------------------------------------------------- conversion


def conv_weight(w: np.ndarray) -> np.ndarray:
  """Conv2d (out, in, kh, kw) -> Flax Conv kernel (kh, kw, in, out)."""
  return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def conv_transpose_weight(w: np.ndarray) -> np.ndarray:
  """ConvTranspose2d (in, out, kh, kw) -> Flax ConvTranspose(transpose_kernel=True) kernel."""
  return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def _convert_stack(sd, prefix, n_conv, transpose):
  params, stats = {}, {}
  for i in range(n_conv):
    w = sd[f"{prefix}conv_{i}.weight"]
    params[f"conv_{i}"] = {
      "kernel": conv_transpose_weight(w) if transpose else conv_weight(w),
      "bias": np.asarray(sd[f"{prefix}conv_{i}.bias"]),
    }
    if f"{prefix}bn_{i}.weight" in sd:
      params[f"bn_{i}"] = {
        "scale": np.asarray(sd[f"{prefix}bn_{i}.weight"]),
        "bias": np.asarray(sd[f"{prefix}bn_{i}.bias"]),
      }
      stats[f"bn_{i}"] = {
        "mean": np.asarray(sd[f"{prefix}bn_{i}.running_mean"]),
        "var": np.asarray(sd[f"{prefix}bn_{i}.running_var"]),
      }
  return params, stats


def vae_variables_from_state_dict(sd: Mapping[str, np.ndarray]) -> dict:
  """Maps an ``ABS_{c}`` state dict onto ``nets.VAE`` variables {'params', 'batch_stats'}."""
  ep, es = _convert_stack(sd, "Encoder.", 4, transpose=False)
  dp, ds = _convert_stack(sd, "Decoder.", 4, transpose=True)
  return {"params": {"Encoder": ep, "Decoder": dp}, "batch_stats": {"Encoder": es, "Decoder": ds}}


def cnn_variables_from_state_dict(sd: Mapping[str, np.ndarray]) -> dict:
  """Maps a ``nets.NN`` state dict (vanilla/binary/transfer CNN) onto ``nets.CNN`` variables."""
  n = sum(1 for k in sd if k.endswith(".weight") and k.startswith("conv_"))
  p, s = _convert_stack(sd, "", n, transpose=False)
  return {"params": p, "batch_stats": s}


def _find(weights_dir, names):
  for name in names:
    path = os.path.join(weights_dir, name)
    if os.path.exists(path):
      return path
  raise FileNotFoundError(
    f"argument 'weights_dir': expected one of {names} in {weights_dir!r}, found none"
  )


def abs_weight_path(weights_dir: str, c: int) -> str:
  """Path of class c's VAE weights (npz mirror or released .net, incl. the repo layout)."""
  return _find(
    weights_dir,
    [
      f"abs_vae_class{c}.npz",
      f"ABS_{c}.net",
      os.path.join("exp", "VAE_swarm_MSE", "nets", f"ABS_{c}.net"),
    ],
  )


def cnn_weight_path(weights_dir: str, name: str) -> str:
  """name in {'vanilla_cnn', 'binary_cnn', 'transfer_cnn'}."""
  return _find(
    weights_dir,
    [f"{name}.npz", f"{name}.net", os.path.join("exp", "mnist_cnn", "nets", f"{name}.net")],
  )


def load_abs_vaes(weights_dir: str, verify_hash: bool = True) -> list:
  """Loads the ten released VAEs as a list of Flax variable dicts (class order 0..9).

  ``weights_dir`` may hold the npz mirrors, the ``ABS_{c}.net`` files, or be a
  checkout of the authors' repository. ``.net`` files are SHA-256 checked.
  """
  out = []
  for c in range(10):
    path = abs_weight_path(weights_dir, c)
    if verify_hash and path.endswith(".net"):
      got = sha256(path)
      if got != RELEASED_SHA256[f"ABS_{c}.net"]:
        raise ValueError(
          f"{path}: SHA-256 mismatch, expected {RELEASED_SHA256[f'ABS_{c}.net']}, got {got}"
        )
    out.append(vae_variables_from_state_dict(read_state_dict(path)))
  return out


def load_cnn(weights_dir: str, name: str = "vanilla_cnn", verify_hash: bool = True) -> dict:
  path = cnn_weight_path(weights_dir, name)
  if verify_hash and path.endswith(".net"):
    got = sha256(path)
    if got != RELEASED_SHA256[f"{name}.net"]:
      raise ValueError(f"{path}: SHA-256 mismatch for {name}.net, got {got}")
  return cnn_variables_from_state_dict(read_state_dict(path))


def convert_directory(src_dir: str, dst_dir: str) -> list:
  """Converts released ``.net`` files found in src_dir into npz mirrors in dst_dir."""
  os.makedirs(dst_dir, exist_ok=True)
  written = []
  for c in range(10):
    sd = read_state_dict(abs_weight_path(src_dir, c))
    dst = os.path.join(dst_dir, f"abs_vae_class{c}.npz")
    np.savez(dst, **sd)
    written.append(dst)
  for name in ("vanilla_cnn", "binary_cnn", "transfer_cnn"):
    try:
      sd = read_state_dict(cnn_weight_path(src_dir, name))
    except FileNotFoundError:
      continue
    dst = os.path.join(dst_dir, f"{name}.npz")
    np.savez(dst, **sd)
    written.append(dst)
  return written


def stack_trees(trees):
  """Stacks a list of identical pytrees along a new leading axis."""
  import jax  # pylint: disable=g-import-not-at-top

  return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *trees)
