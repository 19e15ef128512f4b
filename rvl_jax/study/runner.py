"""Runs a study family: every (model, scenario, seed) cell, each cached on its own.

A family names its models, scenarios, data loader and trainer, and which settings fields affect
each model and each scenario. ``run_family`` computes only the cells missing from the cache
(training or restoring a model only when one of its cells is missing) and returns the matrix.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from absl import logging

from rvl_jax.core import progress, validation
from rvl_jax.study import cache as cache_lib
from rvl_jax.study import results as results_lib


@dataclasses.dataclass(frozen=True)
class Family:
  """A study family.

  Attributes:
    name: 'mnist' or 'factor'.
    load_data: (settings, seed, variant) -> data.
    train_model: (name, data, seed, workdir, settings) -> StudyModel.
    scenarios: scenario name -> fn(model, data, seed, settings) -> {metric: value}.
    model_fields / scenario_fields / data_fields: the settings fields each depends on.
    variant_of: scenario -> the training variant its model needs (e.g. the benchmark split the
      model trains on); scenarios not listed use 'default'.
    same_model: variant -> another variant whose trained model it shares (e.g. the factor
      family's 'default' scenarios use the random-split model): such cells keep their own cache
      key, but the model is trained (and checkpointed) once.
    reference: the model the heat map normalises against.
  """

  name: str
  load_data: Callable[[Any, int, str], Any]
  train_model: Callable[..., Any]
  scenarios: Mapping[str, Callable]
  model_fields: Mapping[str, Tuple[str, ...]]
  scenario_fields: Mapping[str, Tuple[str, ...]]
  data_fields: Tuple[str, ...]
  variant_of: Mapping[str, str] = dataclasses.field(default_factory=dict)
  same_model: Mapping[str, str] = dataclasses.field(default_factory=dict)
  reference: str = "vanilla"


def _value(settings, field: str):
  v = getattr(settings, field)
  return dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v


def model_settings(family: Family, settings, model: str) -> Dict[str, Any]:
  validation.check_in_choices("models", model, sorted(family.model_fields))
  fields = family.data_fields + tuple(family.model_fields[model])
  return {"model": model, **{f: _value(settings, f) for f in fields}}


def cell_settings(family: Family, settings, model: str, scenario: str) -> Dict[str, Any]:
  """Every setting a cell depends on (its cache key hashes these)."""
  validation.check_in_choices("scenarios", scenario, sorted(family.scenarios))
  return {
    **model_settings(family, settings, model),
    "scenario": scenario,
    "variant": family.variant_of.get(scenario, "default"),
    **{f: _value(settings, f) for f in family.scenario_fields.get(scenario, ())},
  }


def model_dir(root: str, family: Family, settings, model: str, seed: int, variant: str) -> str:
  h = cache_lib.settings_hash(model_settings(family, settings, model))
  return os.path.join(root, "models", family.name, f"{model}_{h}", f"s{seed}_{variant}")


def run_family(
  family: Family,
  settings,
  *,
  models: Sequence[str],
  scenarios: Sequence[str],
  seeds: Sequence[int],
  workdir: str,
  cache: Optional[cache_lib.CellCache] = None,
  compute: bool = True,
) -> Dict[str, Any]:
  """Computes the missing cells of models x scenarios x seeds.

  ``compute=False`` computes nothing and builds the matrix from the cells already cached (a
  report of an unfinished study); 'missing' counts the cells left out.

  Returns {'matrix': model -> 'scenario/metric' -> [value per seed], 'computed': cells computed
  now, 'reused': cells read from the cache, 'missing': cells neither cached nor computed,
  'seconds': {model: training + evaluation seconds}}.
  """
  cache = cache or cache_lib.CellCache(os.path.join(workdir, "cells"))
  computed0, reused0 = cache.computed, cache.reused
  todo = []  # (seed, model, variant, [scenarios missing])
  cells: Dict[Tuple[str, str, int], Dict[str, float]] = {}
  for seed in seeds:
    for model in models:
      by_variant: Dict[str, list] = {}
      for sc in scenarios:
        key = cell_settings(family, settings, model, sc)
        got = cache.get(family.name, model, sc, seed, key)
        if got is None:
          variant = family.same_model.get(key["variant"], key["variant"])
          by_variant.setdefault(variant, []).append(sc)
        else:
          cells[(model, sc, seed)] = got
          cache.reused += 1
      todo += [(seed, model, v, scs) for v, scs in by_variant.items()]
  missing = sum(len(t[3]) for t in todo) if not compute else 0
  if not compute:
    todo = []
  total = sum(len(t[3]) for t in todo)
  bar = progress.progress(total=total, desc=f"study {family.name}", unit="cell") if total else None
  data_memo: Dict[Tuple[int, str], Any] = {}
  seconds: Dict[str, float] = {}
  for seed, model, variant, scs in todo:
    if (seed, variant) not in data_memo:
      data_memo.clear()  # one data set in memory at a time
      data_memo[(seed, variant)] = family.load_data(settings, seed, variant)
    data = data_memo[(seed, variant)]
    t0 = time.time()
    trained = family.train_model(
      model, data, seed, model_dir(workdir, family, settings, model, seed, variant), settings
    )
    for sc in scs:
      t1 = time.time()
      metrics = {
        k: float(v) for k, v in family.scenarios[sc](trained, data, seed, settings).items()
      }
      cache.put(
        family.name,
        model,
        sc,
        seed,
        cell_settings(family, settings, model, sc),
        metrics,
        time.time() - t1,
      )
      cache.computed += 1
      cells[(model, sc, seed)] = metrics
      if bar is not None:
        bar.set_postfix(f"{model}/{sc} s{seed}")
        bar.update(1)
    seconds[model] = seconds.get(model, 0.0) + time.time() - t0
    logging.info(
      "study %s: %s seed %d (%s) done in %.1fs", family.name, model, seed, variant, time.time() - t0
    )
  if bar is not None:
    bar.close()
  matrix: results_lib.Matrix = {}
  for model in models:
    row = matrix.setdefault(model, {})
    for sc in scenarios:
      for seed in seeds:
        for metric, value in cells.get((model, sc, seed), {}).items():
          row.setdefault(f"{sc}/{metric}", []).append(float(value))
  return {
    "matrix": matrix,
    "computed": cache.computed - computed0,
    "reused": cache.reused - reused0,
    "missing": missing,
    "seconds": seconds,
  }
