"""Per-seed result keys and their mean/std over seeds: one convention for every system.

A multi-seed experiment stores each run's metrics under ``'<stem>_s<seed>/<metric>'`` (built by
``seed_key``); ``aggregate_over_seeds`` adds ``'<stem>/<metric>_mean'`` and ``'<stem>/<metric>_std'``
(population standard deviation, ``np.std``) for every stem and metric.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Tuple

import numpy as np

_SEED_STEM = re.compile(r"^(?P<stem>.+)_s(?P<seed>-?\d+)$")


def seed_key(stem: str, seed: int) -> str:
  """The key prefix of one seed's run.

  Args:
    stem: what the run is (method, arm, model...); must not be empty.
    seed: the run's seed.

  Returns:
    ``'<stem>_s<seed>'``.
  """
  if not stem:
    raise ValueError("argument 'stem': expected a non-empty name, got ''")
  return f"{stem}_s{int(seed)}"


def split_seed_key(prefix: str) -> Tuple[str, int] | None:
  """Inverse of ``seed_key``: ``'std_A_s3'`` -> ``('std_A', 3)``; None when no seed suffix.

  Args:
    prefix: a key prefix (the part before the first ``'/'`` of a flat result key).

  Returns:
    ``(stem, seed)`` split at the last ``'_s<integer>'`` ending the prefix (negative seeds
    included), or None when the prefix does not end that way or the stem would be empty.
  """
  m = _SEED_STEM.match(prefix)
  return (m.group("stem"), int(m.group("seed"))) if m else None


def group_by_seed(results: Mapping[str, float]) -> Dict[str, List[float]]:
  """Collects per-seed values of flat ``'<stem>_s<seed>/<metric>'`` keys.

  Args:
    results: flat metrics; keys without a ``'_s<seed>/'`` prefix are ignored.

  Returns:
    ``{'<stem>/<metric>': [value per seed, in key order]}``.
  """
  groups: Dict[str, List[float]] = {}
  for key, value in results.items():
    prefix, sep, metric = key.partition("/")
    parsed = split_seed_key(prefix) if sep else None
    if parsed is not None:
      groups.setdefault(f"{parsed[0]}/{metric}", []).append(float(value))
  return groups


def aggregate_over_seeds(results: Mapping[str, float]) -> Dict[str, float]:
  """Mean and standard deviation over seeds of every per-seed metric.

  Args:
    results: flat metrics with ``'<stem>_s<seed>/<metric>'`` keys.

  Returns:
    ``{'<stem>/<metric>_mean': ..., '<stem>/<metric>_std': ...}`` (``np.std``, ddof 0).
  """
  out: Dict[str, float] = {}
  for key, values in group_by_seed(results).items():
    out[f"{key}_mean"] = float(np.mean(values))
    out[f"{key}_std"] = float(np.std(values))
  return out
