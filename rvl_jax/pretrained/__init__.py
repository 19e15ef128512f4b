"""Pretrained weights the papers start from: a registry (URL, SHA-256, license, converter), a local
cache and ``load(name)`` (see :mod:`rvl_jax.pretrained.hub`); torch-free PyTorch file reading in
:mod:`rvl_jax.pretrained.torch_zip`."""

from rvl_jax.pretrained.hub import (
  REGISTRY,
  Weights,
  cache_dir,
  cache_path,
  describe,
  fetch,
  get,
  load,
  names,
  register,
  resolve,
  sha256,
  verify,
)
from rvl_jax.pretrained.torch_zip import read_state_dict, read_torch_zip

__all__ = [
  "REGISTRY",
  "Weights",
  "cache_dir",
  "cache_path",
  "describe",
  "fetch",
  "get",
  "load",
  "names",
  "register",
  "resolve",
  "sha256",
  "verify",
  "read_state_dict",
  "read_torch_zip",
]
