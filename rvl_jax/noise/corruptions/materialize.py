"""Fixed, seeded corrupted test sets (paired model comparisons).

The key of every (corruption, severity) is derived from (seed, crc32(name), severity), so the
same seed always yields the same corrupted images, independently of which other corruptions
are materialised.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence

import jax
import numpy as np

from rvl_jax.core import io as rio
from rvl_jax.core import prng
from rvl_jax.core import progress as progress_lib


def corruption_key(seed: int, name: str, severity: int):
  key = prng.fold_in_name(jax.random.PRNGKey(int(seed)), name)
  return jax.random.fold_in(key, int(severity))


def corrupt_dataset(
  images,
  corruptions: Mapping,
  *,
  seed: int,
  names: Optional[Sequence[str]] = None,
  severities: Optional[Sequence[int]] = None,
  batch_size: int = 256,
  show_progress: bool = True,
) -> Dict[str, Dict[int, np.ndarray]]:
  """Returns {name: {severity: corrupted images (N, H, W, C) float32}}.

  ``severities=None`` uses every severity a corruption defines (1 for MNIST-C).
  """
  images = np.asarray(images, np.float32)
  names = list(corruptions) if names is None else list(names)
  unknown = [n for n in names if n not in corruptions]
  if unknown:
    raise ValueError(
      f"argument 'names': unknown corruptions {unknown}; known: {sorted(corruptions)}"
    )
  jobs = []
  for n in names:
    sev = range(1, corruptions[n].num_severities + 1) if severities is None else severities
    jobs += [(n, int(s)) for s in sev]
  out: Dict[str, Dict[int, np.ndarray]] = {}
  it = progress_lib.progress(jobs, desc="corrupt") if show_progress else jobs
  for name, s in it:
    fn = corruptions[name]
    key = corruption_key(seed, name, s)
    parts = []
    for i, start in enumerate(range(0, len(images), batch_size)):
      chunk = images[start : start + batch_size]
      parts.append(np.asarray(fn(jax.random.fold_in(key, i), chunk, s), np.float32))
    out.setdefault(name, {})[s] = np.concatenate(parts) if parts else images[:0]
  return out


def save_corrupted(
  path: str, corrupted: Mapping[str, Mapping[int, np.ndarray]], labels, quantize: bool = True
) -> str:
  """One .npz with arrays '<name>/<severity>' (uint8 if ``quantize``) and 'labels'."""
  arrays = {"labels": np.asarray(labels)}
  for name, by_sev in corrupted.items():
    for s, arr in by_sev.items():
      arrays[f"{name}/{s}"] = (
        np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8) if quantize else arr.astype(np.float32)
      )
  rio.save_npz(path, **arrays)
  return path


def load_corrupted(path: str):
  """Inverse of ``save_corrupted``: ({name: {severity: float32 images}}, labels)."""
  data = np.load(path)
  out: Dict[str, Dict[int, np.ndarray]] = {}
  for k in data.files:
    if k == "labels":
      continue
    name, s = k.rsplit("/", 1)
    arr = data[k]
    out.setdefault(name, {})[int(s)] = (
      arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    )
  return out, data["labels"]


def materialize_mnist_c(
  images, labels, seed: int, path: Optional[str] = None, names=None, show_progress: bool = True
):
  """MNIST-C (15 corruptions, fixed severity) of ``images``; cached in ``path`` if given."""
  from rvl_jax.noise.corruptions import mnist_c

  if path and os.path.exists(path):
    return load_corrupted(path)[0]
  out = corrupt_dataset(
    images, mnist_c.CORRUPTIONS, seed=seed, names=names, show_progress=show_progress
  )
  if path:
    save_corrupted(path, out, labels)
    out = load_corrupted(path)[0]  # identical quantised values whether cached or fresh
  return out
