"""What every ``experiments/<system>/main.py`` calls: set-up, config.json, results.json.

Every system lists its experiments in one registry, ``EXPERIMENTS = {name: train_and_evaluate}``
in ``experiments/<system>/__init__.py`` (a value may also be a ``'module:function'`` string,
imported only when that experiment runs), and its ``main.py`` is the same two lines::

    if __name__ == "__main__":
      experiment.run(EXPERIMENTS)

``run`` defines the flags and starts absl; ``dispatch`` picks the entry named by
``config.experiment`` (the only entry when the registry has one) and hands it to ``launch``.

``train_and_evaluate(config, workdir) -> dict`` does the work; ``launch`` joins a multi-process
run when one is asked for (flags ``--coordinator_address --num_processes --process_id``, the
environment variables ``JAX_COORDINATOR_ADDRESS JAX_NUM_PROCESSES JAX_PROCESS_ID``, a cluster
launcher such as ``srun``, or ``config.distributed=True``), writes ``config.json``, runs it,
flattens the returned metrics to flat keys and writes ``results.json``. Files are written
atomically and by process 0 only.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any, Callable, Dict, Mapping, Union

import jax
from absl import logging

from rvl_jax.core import io as rio
from rvl_jax.core import progress, sharding, validation


def define_flag(define: Callable[..., Any], name: str, *args: Any, **kwargs: Any) -> Any:
  """Defines an absl flag once and returns its FlagHolder.

  Several experiment modules define the same flags (--config, --workdir); when more than one of
  them is imported into one process (tests, notebooks) the later definitions reuse the first.

  Args:
    define: the absl definer, e.g. ``flags.DEFINE_string`` or
      ``config_flags.DEFINE_config_file``.
    name: the flag's name.
    *args: passed on to ``define`` after the name (default value, help text, ...).
    **kwargs: passed on to ``define``.

  Returns:
    The flag's ``FlagHolder``: a new one, or one reading the flag defined earlier under ``name``
    (then ``define``, ``args`` and ``kwargs`` are ignored).
  """
  from absl import flags

  if name in flags.FLAGS:
    return flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])
  return define(name, *args, **kwargs)


def define_experiment_flags(workdir_help: str = "Output directory (resumes from its checkpoints)."):
  """The two flags of every ``experiments/<system>/main.py``: --config (an ml_collections config
  file, ``path.py[:variant]``, keys overridable as --config.key=value) and --workdir.

  Both are marked required. Also defines the multi-process flags --coordinator_address,
  --num_processes and --process_id (read back by :func:`distributed_flags`). Flags already defined
  in this process are reused (see :func:`define_flag`).

  Args:
    workdir_help: the help text of --workdir.

  Returns:
    ``(config_holder, workdir_holder)``: the absl FlagHolders of --config and --workdir; their
    ``.value`` is available once absl has parsed the command line.
  """
  from absl import flags
  from ml_collections import config_flags

  config = define_flag(
    config_flags.DEFINE_config_file,
    "config",
    None,
    "Experiment config file (path.py or path.py:variant).",
    lock_config=True,
  )
  workdir = define_flag(flags.DEFINE_string, "workdir", None, workdir_help)
  flags.mark_flags_as_required(["config", "workdir"])
  define_flag(
    flags.DEFINE_string,
    "coordinator_address",
    None,
    "Multi-process runs: host:port of process 0 (default: $JAX_COORDINATOR_ADDRESS or "
    "the cluster launcher's).",
  )
  define_flag(
    flags.DEFINE_integer,
    "num_processes",
    None,
    "Multi-process runs: number of processes (default: $JAX_NUM_PROCESSES or the "
    "cluster launcher's).",
  )
  define_flag(
    flags.DEFINE_integer,
    "process_id",
    None,
    "Multi-process runs: this process's id in [0, num_processes) (default: "
    "$JAX_PROCESS_ID or the cluster launcher's).",
  )
  return config, workdir


def distributed_flags() -> Dict[str, Any]:
  """The values of --coordinator_address/--num_processes/--process_id when they are defined and
  parsed (None = not given).

  Returns:
    ``{flag name: value}`` for those of the three flags that are defined, the value None when the
    flag was not given; an empty dict before absl has parsed the command line.
  """
  from absl import flags

  names = ("coordinator_address", "num_processes", "process_id")
  if not flags.FLAGS.is_parsed():
    return {}
  return {name: flags.FLAGS[name].value for name in names if name in flags.FLAGS}


def config_to_dict(config: Any) -> Dict[str, Any]:
  """A config as a plain dict (what ``launch`` writes to config.json).

  Args:
    config: an ml_collections ``ConfigDict`` (or anything with ``to_dict()``), or a mapping.

  Returns:
    ``config.to_dict()`` when the config has that method (nested ConfigDicts become dicts),
    otherwise ``dict(config)`` (a shallow copy).
  """
  if hasattr(config, "to_dict"):
    return config.to_dict()
  return dict(config)


def plots_dir(workdir: str) -> str:
  """``workdir/plots`` (created by process 0; the figure writers of other processes write
  nothing).

  Args:
    workdir: the experiment's output directory.

  Returns:
    The path ``workdir/plots``; the directory exists on process 0 after the call (other processes
    do not create it).
  """
  path = os.path.join(workdir, "plots")
  if sharding.is_main_process():
    os.makedirs(path, exist_ok=True)
  return path


def write_results(workdir: str, results: Mapping[str, Any]) -> Dict[str, Any]:
  """Flattens ``results`` to 'a/b' keys and writes results.json atomically.

  Args:
    workdir: the experiment's output directory; the file is ``workdir/results.json``, written by
      process 0 only.
    results: the metrics, nested mappings allowed (flattened with
      :func:`rvl_jax.core.io.flatten_dict`).

  Returns:
    The flat dict that was written.
  """
  flat = rio.flatten_dict(dict(results))
  rio.write_json(os.path.join(workdir, "results.json"), flat)
  return flat


def launch(
  train_and_evaluate: Callable[[Any, str], Mapping[str, Any]], config: Any, workdir: str
) -> Dict[str, Any]:
  """Runs an experiment into ``workdir`` and returns its flat results.

  Joins a multi-process run when one is asked for (flags, environment, cluster launcher or
  ``config.distributed``), creates ``workdir``, writes ``workdir/config.json``, calls
  ``train_and_evaluate(config, workdir)``, adds ``wall_seconds`` unless the experiment reported
  it, writes ``workdir/results.json`` and waits for every process.

  Args:
    train_and_evaluate: the experiment, ``(config, workdir) -> metrics mapping``.
    config: the experiment's ml_collections config (``config.distributed=True`` forces
      joining a multi-process run).
    workdir: output directory (resumes from its checkpoints).

  Returns:
    The flat results written to ``workdir/results.json`` (see :func:`write_results`).

  Raises:
    ValueError: ``workdir`` is empty.
  """
  if not workdir:
    raise ValueError("argument 'workdir': expected an output directory, got an empty value")
  sharding.initialize_distributed(
    **distributed_flags(), force=bool(config.get("distributed", False))
  )
  os.makedirs(workdir, exist_ok=True)  # every process: orbax checkpoints live here
  progress.quiet_library_logs()
  logging.info(
    "JAX devices: %s (process %d of %d)", jax.devices(), jax.process_index(), jax.process_count()
  )
  rio.write_json(os.path.join(workdir, "config.json"), config_to_dict(config))
  t0 = time.time()
  results = dict(train_and_evaluate(config, workdir))
  results.setdefault("wall_seconds", time.time() - t0)
  flat = write_results(workdir, results)
  # What process 0 wrote is on disk before any process goes on (a sweep reads back each run's
  # results.json and predictions).
  sharding.sync_processes("rvl_jax.experiment.launch")
  logging.info("results: %s", {k: flat[k] for k in sorted(flat)[:20]})
  return flat


TrainAndEvaluate = Callable[[Any, str], Mapping[str, Any]]


def resolve(
  registry: Mapping[str, Union[TrainAndEvaluate, str]], name: Union[str, None]
) -> TrainAndEvaluate:
  """Looks an experiment up in a system's registry.

  Args:
    registry: ``{name: train_and_evaluate}``; a value may be a ``'package.module:function'``
      string, imported here.
    name: the experiment's name (``config.experiment``); None picks the only entry of a
      one-entry registry.

  Returns:
    The ``train_and_evaluate(config, workdir)`` function.

  Raises:
    ValueError: naming ``config.experiment`` when ``name`` is not in the registry.
  """
  if not registry:
    raise ValueError("argument 'registry': expected at least one experiment, got an empty one")
  if name is None and len(registry) == 1:
    name = next(iter(registry))
  validation.check_in_choices("config.experiment", name, sorted(registry))
  entry = registry[name]
  if isinstance(entry, str):
    module, _, attr = entry.partition(":")
    entry = getattr(importlib.import_module(module), attr or "train_and_evaluate")
  return entry


def dispatch(
  registry: Mapping[str, Union[TrainAndEvaluate, str]], config: Any, workdir: str
) -> Dict[str, Any]:
  """Runs the experiment ``config.experiment`` of ``registry`` through ``launch``.

  Args:
    registry: a system's ``EXPERIMENTS`` mapping (see ``resolve``).
    config: the ml_collections config; its ``experiment`` key names the entry (optional for a
      one-entry registry).
    workdir: output directory (resumes from its checkpoints).

  Returns:
    The flat results written to ``workdir/results.json``.
  """
  name = config.get("experiment", None) if hasattr(config, "get") else None
  return launch(resolve(registry, name), config, workdir)


def run(registry: Mapping[str, Union[TrainAndEvaluate, str]]) -> None:
  """The command line of every ``experiments/<system>/main.py``: defines --config/--workdir (and
  the multi-process flags), parses them with absl and dispatches.

  Args:
    registry: the system's ``EXPERIMENTS`` mapping.

  Raises:
    absl.app.UsageError: (reported by absl as a usage message) when positional arguments are
      given on the command line; a missing --config or --workdir is reported the same way.
  """
  from absl import app

  config, workdir = define_experiment_flags()

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected positional arguments: {argv[1:]}")
    dispatch(registry, config.value, workdir.value)

  app.run(main)
