"""The two study families as experiments: config -> library settings -> missing cells -> report.

    results = mnist_family(config, workdir)    # or factor_family

The config's ``settings`` overrides fields of the library's settings dataclass
(``rvl_jax.study.mnist_zoo.MnistSettings`` / ``factor_zoo.FactorSettings``); ``models``,
``scenarios`` and ``seeds`` choose the cells. Cells already in ``workdir/cells`` are reused, so
an interrupted study resumes and a new model or scenario computes only its own cells.
"""

from __future__ import annotations

import dataclasses
import os

from rvl_jax.study import affine, factor_zoo, families, mnist_zoo


def _settings(cls, overrides):
  overrides = dict(overrides or {})
  unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
  if unknown:
    raise ValueError(
      f"argument 'config.settings': expected fields of {cls.__name__}, got unknown {unknown}"
    )
  if "ranges" in overrides:
    overrides["ranges"] = affine.AffineRanges(**dict(overrides["ranges"]))
  for name, value in overrides.items():
    if isinstance(value, list):
      overrides[name] = tuple(value)
  return cls(**overrides)


def _run(family: str, cls, config, workdir: str) -> dict:
  settings = _settings(
    cls, config.settings.to_dict() if hasattr(config.settings, "to_dict") else config.settings
  )
  out = families.run_study(
    family,
    settings,
    models=tuple(config.models),
    scenarios=tuple(config.scenarios),
    seeds=tuple(config.seeds),
    workdir=workdir,
    compute=config.get("compute", True),
  )
  return {
    "computed_cells": out["computed"],
    "reused_cells": out["reused"],
    "missing_cells": out["missing"],
    "summary": out["summary"],
    "rank_correlations": out["rank_correlations"],
    "model_seconds": out["seconds"],
    "report": os.path.join(workdir, f"{family}_summary.md"),
  }


def mnist_family(config, workdir: str) -> dict:
  return _run("mnist", mnist_zoo.MnistSettings, config, workdir)


def factor_family(config, workdir: str) -> dict:
  return _run("factor", factor_zoo.FactorSettings, config, workdir)
