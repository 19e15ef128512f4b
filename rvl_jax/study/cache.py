"""The study's per-cell cache: one JSON file per (family, model, scenario, seed).

A cell's file name carries a hash of every setting that affects it (the model's training
settings, the scenario's settings, the data settings, the seed), so a changed setting makes a new
cell while an interrupted study, or one that gains a model or a scenario, recomputes nothing it
already has. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Mapping, Optional

from rvl_jax.core import io as rio


def settings_hash(settings: Mapping[str, Any], length: int = 12) -> str:
  """A stable hex digest of JSON-serialisable settings (key order does not matter)."""
  text = json.dumps(rio.to_jsonable(dict(settings)), sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(text.encode()).hexdigest()[:length]


def _safe(name: str) -> str:
  if not name or any(c in name for c in "/\\") or name.startswith("."):
    raise ValueError(f"argument 'name': expected a plain file-name part, got {name!r}")
  return name


class CellCache:
  """``root/<family>/<model>/<scenario>_s<seed>_<hash>.json``; counts the cells it computes."""

  def __init__(self, root: str):
    self.root = root
    self.computed = 0
    self.reused = 0

  def path(
    self, family: str, model: str, scenario: str, seed: int, settings: Mapping[str, Any]
  ) -> str:
    name = f"{_safe(scenario)}_s{int(seed)}_{settings_hash(settings)}.json"
    return os.path.join(self.root, _safe(family), _safe(model), name)

  def get(
    self, family: str, model: str, scenario: str, seed: int, settings: Mapping[str, Any]
  ) -> Optional[Dict[str, float]]:
    path = self.path(family, model, scenario, seed, settings)
    if not os.path.exists(path):
      return None
    return rio.read_json(path)["metrics"]

  def put(
    self,
    family: str,
    model: str,
    scenario: str,
    seed: int,
    settings: Mapping[str, Any],
    metrics: Mapping[str, float],
    seconds: float,
  ) -> None:
    rio.write_json(
      self.path(family, model, scenario, seed, settings),
      {
        "family": family,
        "model": model,
        "scenario": scenario,
        "seed": int(seed),
        "settings": dict(settings),
        "seconds": float(seconds),
        "metrics": dict(metrics),
      },
    )
