"""What every ``experiments/<system>/main.py`` calls: set-up, config.json, results.json.

    experiment.launch(train.train_and_evaluate, config, workdir)

``train_and_evaluate(config, workdir) -> dict`` does the work; ``launch`` initialises multi-host
JAX when configured, writes ``config.json`` (atomically), runs it, flattens the returned metrics
to flat keys and writes ``results.json`` (atomically, process 0 only).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Mapping

import jax
from absl import logging

from rvl_jax.core import io as rio
from rvl_jax.core import progress
from rvl_jax.core import sharding


def define_flag(define: Callable[..., Any], name: str, *args: Any, **kwargs: Any) -> Any:
  """Defines an absl flag once and returns its FlagHolder.

  Several experiment modules define the same flags (--config, --workdir); when more than one of
  them is imported into one process (tests, notebooks) the later definitions reuse the first.
  """
  from absl import flags
  if name in flags.FLAGS:
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])
  return define(name, *args, **kwargs)


def define_experiment_flags(workdir_help: str = "Output directory (resumes from its checkpoints)."):
  """The two flags of every ``experiments/<system>/main.py``: --config (an ml_collections config
  file, ``path.py[:variant]``, keys overridable as --config.key=value) and --workdir.

  Returns (config_holder, workdir_holder)."""
  from absl import flags
  from ml_collections import config_flags
  config = define_flag(config_flags.DEFINE_config_file, "config", None,
                       "Experiment config file (path.py or path.py:variant).", lock_config=True)
  workdir = define_flag(flags.DEFINE_string, "workdir", None, workdir_help)
  flags.mark_flags_as_required(["config", "workdir"])
  return config, workdir


def config_to_dict(config: Any) -> Dict[str, Any]:
  if hasattr(config, "to_dict"):
    return config.to_dict()
  return dict(config)


def plots_dir(workdir: str) -> str:
  path = os.path.join(workdir, "plots")
  os.makedirs(path, exist_ok=True)
  return path


def write_results(workdir: str, results: Mapping[str, Any]) -> Dict[str, Any]:
  """Flattens ``results`` to 'a/b' keys and writes results.json atomically. Returns the flat dict."""
  flat = rio.flatten_dict(dict(results))
  if sharding.is_main_process():
    rio.write_json(os.path.join(workdir, "results.json"), flat)
  return flat


def launch(train_and_evaluate: Callable[[Any, str], Mapping[str, Any]], config: Any,
           workdir: str) -> Dict[str, Any]:
  """Runs an experiment into ``workdir`` and returns its flat results."""
  if not workdir:
    raise ValueError("argument 'workdir': expected an output directory, got an empty value")
  if config.get("distributed", False):
    sharding.initialize_distributed(force=True)
  else:
    sharding.initialize_distributed()
  os.makedirs(workdir, exist_ok=True)
  progress.quiet_library_logs()
  logging.info("JAX devices: %s (process %d of %d)", jax.devices(), jax.process_index(),
               jax.process_count())
  if sharding.is_main_process():
    rio.write_json(os.path.join(workdir, "config.json"), config_to_dict(config))
  t0 = time.time()
  results = dict(train_and_evaluate(config, workdir))
  results.setdefault("wall_seconds", time.time() - t0)
  flat = write_results(workdir, results)
  logging.info("results: %s", {k: flat[k] for k in sorted(flat)[:20]})
  return flat
