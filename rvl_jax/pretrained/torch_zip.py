"""Reading PyTorch ``torch.save`` files into NumPy without PyTorch.

Since PyTorch 1.6, ``torch.save`` writes a zip archive: ``<name>/data.pkl`` is a pickle of the
state dict whose tensors are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
calls, each storage a persistent id ``('storage', torch.<Type>Storage, key, location, numel)`` whose
bytes are the archive member ``<name>/data/<key>`` (little-endian). :func:`read_torch_zip` replays
that pickle with a restricted unpickler that only knows those names (and ``OrderedDict``), so a
weight file cannot run code. The legacy (pre-1.6) format is read by
:func:`rvl_jax.abs.weights.read_legacy_torch`; :func:`read_state_dict` picks the reader, and uses
``torch.load`` only for anything else, when torch is installed.
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile
from typing import Dict

import numpy as np

from rvl_jax.abs import weights as abs_weights

try:  # bfloat16 for NumPy (a dependency of jax)
  import ml_dtypes

  _BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
  _BF16 = None

_STORAGE_DTYPES = dict(abs_weights.STORAGE_DTYPES)  # the legacy reader's table, plus bfloat16
if _BF16 is not None:
  _STORAGE_DTYPES["BFloat16Storage"] = _BF16


class _Storage:
  def __init__(self, name: str):
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Tensor:
  """A tensor to be materialised once the storages are read: (storage key, offset, size, stride)."""

  def __init__(self, storage, offset, size, stride, *unused):
    del unused  # requires_grad, backward hooks, metadata
    self.storage, self.offset, self.size, self.stride = (
      storage,
      int(offset),
      tuple(size),
      tuple(stride),
    )


def _rebuild_parameter(data, requires_grad=False, hooks=None, *unused):
  del requires_grad, hooks, unused
  return data


class _ZipUnpickler(pickle.Unpickler):
  """Restricted unpickler: state dicts of tensors only (refuses any other global)."""

  def find_class(self, module, name):
    if module == "collections" and name == "OrderedDict":
      return collections.OrderedDict
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
      return _Tensor
    if module == "torch._utils" and name == "_rebuild_parameter":
      return _rebuild_parameter
    if module == "torch" and name in _STORAGE_DTYPES:
      return _Storage(name)
    raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file")

  def persistent_load(self, pid):
    if not (
      isinstance(pid, tuple)
      and len(pid) >= 5
      and pid[0] == "storage"
      and isinstance(pid[1], _Storage)
    ):
      raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
    return (pid[1].dtype, str(pid[2]), int(pid[4]))


def is_torch_zip(path: str) -> bool:
  if not zipfile.is_zipfile(path):
    return False
  with zipfile.ZipFile(path) as z:
    return any(n.endswith("data.pkl") for n in z.namelist())


def read_torch_zip(path: str) -> Dict[str, np.ndarray]:
  """The state dict of a zip-format ``torch.save`` file as ``{name: np.ndarray}`` (torch-free).

  Args:
    path: a file written by ``torch.save`` (PyTorch 1.6 or later) of a flat state dict.

  Returns:
    An ordered dict, in the file's order, of name -> NumPy array with the tensor's shape and
    dtype (bfloat16 as ``ml_dtypes.bfloat16``), copied out of the archive.

  Raises:
    FileNotFoundError: there is no file at ``path``.
    ValueError: the file is not a zip archive, holds no or several ``data.pkl``, or its pickle is
      not a dict of tensors.
    pickle.UnpicklingError: the pickle names anything but tensors, storages and ``OrderedDict``
      (a weight file is never allowed to run code).
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"argument 'path': no file at {path!r}")
  if not zipfile.is_zipfile(path):
    raise ValueError(f"argument 'path': expected a zip-format PyTorch file, got {path!r}")
  with zipfile.ZipFile(path) as z:
    pkls = [n for n in z.namelist() if n.endswith("data.pkl")]
    if len(pkls) != 1:
      raise ValueError(f"argument 'path': expected one data.pkl in {path!r}, found {len(pkls)}")
    root = pkls[0][: -len("data.pkl")]
    with z.open(pkls[0]) as f:
      state = _ZipUnpickler(f).load()
    if not isinstance(state, dict):
      raise ValueError(
        f"argument 'path': expected a state dict in {path!r}, got {type(state).__name__}"
      )
    buffers = {}
    out = collections.OrderedDict()
    for name, t in state.items():
      if not isinstance(t, _Tensor):
        raise ValueError(f"argument 'path': entry {name!r} of {path!r} is not a tensor")
      dtype, key, numel = t.storage
      if key not in buffers:
        raw = z.read(f"{root}data/{key}")
        buffers[key] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=numel)
      buf = buffers[key]
      arr = np.lib.stride_tricks.as_strided(
        buf[t.offset :], shape=t.size, strides=[s * buf.itemsize for s in t.stride]
      )
      out[name] = np.array(arr, dtype=dtype)
  return out


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
  """A weight file as ``{name: np.ndarray}``: ``.npz``, zip-format or legacy PyTorch (both
  without torch), anything else with ``torch.load`` when torch is installed.

  Args:
    path: the file; a name ending in ``.npz`` is read with ``np.load``, a zip archive holding a
      ``data.pkl`` with :func:`read_torch_zip`, anything else with
      :func:`rvl_jax.abs.weights.read_state_dict`.

  Returns:
    An ordered dict of name -> NumPy array.

  Raises:
    FileNotFoundError: there is no file at ``path``.
    ValueError: the file cannot be read (e.g. a format that needs torch when torch is not
      installed).
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"argument 'path': no file at {path!r}")
  if path.endswith(".npz"):
    with np.load(path) as z:
      return collections.OrderedDict((k, np.asarray(z[k])) for k in z.files)
  if is_torch_zip(path):
    return read_torch_zip(path)
  return abs_weights.read_state_dict(path)
