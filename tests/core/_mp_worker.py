"""One process of the multi-process tests (started by ``test_multiprocess.py``; not a test module).

    python _mp_worker.py OUT WATCH TAG loop RUNS_JSON     the shared training loop, see _run_loop
    python _mp_worker.py OUT WATCH TAG module NAME ARGS   ``python -m NAME ARGS`` (an experiment)
    python _mp_worker.py OUT WATCH TAG jobs JOBS_JSON     several of these in one process, in order:
        [{"module": NAME, "argv": [...]}, {"loop": RUNS}, ...] (one JAX start-up for all of them)

The multi-process settings come from the environment (``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``) or from an experiment's own flags; nothing here calls
``jax.distributed`` directly, so the tests exercise the library's own start-up path.

Every file or directory this process creates, opens for writing, renames or removes below WATCH is
recorded by a Python audit hook (PEP 578) and the list is written to ``OUT/writes_TAG.json`` when
the process exits, with the files WATCH then holds (and, in ``jobs`` mode, the files it held when
each experiment returned): the tests read it to tell which process wrote what into a shared
directory.
"""

import atexit
import json
import os
import runpy
import sys
import time

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {
  "os.mkdir": (0,),
  "os.rename": (0, 1),
  "os.remove": (0,),
  "os.rmdir": (0,),
  "shutil.rmtree": (0,),
  "os.symlink": (1,),
  "os.link": (1,),
  "os.truncate": (0,),
}


def _install_write_recorder(out: str, watch: str, tag: str):
  """Starts recording; returns the function that writes the record (also run at exit)."""
  watch = os.path.realpath(watch)
  seen = []
  after = {}

  def relative(path):
    if isinstance(path, int):
      return None
    try:
      full = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
      return None
    if full == watch or full.startswith(watch + os.sep):
      return os.path.relpath(full, watch)
    return None

  def hook(event, args):
    if event == "open":
      path, mode, flags = args
      writing = (
        any(c in mode for c in "wax+")
        if isinstance(mode, str)
        else bool((flags or 0) & _WRITE_FLAGS)
      )
      paths = (path,) if writing else ()
    elif event in _PATH_EVENTS:
      paths = tuple(args[i] for i in _PATH_EVENTS[event] if i < len(args))
    else:
      return
    for p in paths:
      rel = relative(p)
      if rel is not None:
        seen.append([event, rel])

  def present():
    return sorted(
      os.path.relpath(os.path.join(d, n), watch) for d, _, names in os.walk(watch) for n in names
    )

  def dump(snapshot=None):
    """Writes the record; with ``snapshot`` (a job's name) also notes the files present now."""
    if snapshot is not None:
      after[snapshot] = present()
      return
    with open(os.path.join(out, f"writes_{tag}.json"), "w") as f:
      json.dump({"writes": seen, "files_at_exit": present(), "files_after": after}, f)

  sys.addaudithook(hook)
  atexit.register(dump)
  return dump


def _run_loop(out: str, tag: str, runs, dump_writes):
  """Trains a small MLP with ``rvl_jax.core.loop.train`` once per entry of ``runs``.

  Each entry: {"name", "workdir", "steps", "pause_at"}. With ``pause_at`` the run writes
  ``OUT/paused_<name>_<TAG>`` after step ``pause_at`` (whose checkpoint is then on disk), having
  written its record of writes (a killed process runs no exit handlers), and waits to be killed. Final parameters go to ``OUT/params_<name>_<TAG>.npz``, facts to ``.json``.
  """
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax

  from rvl_jax.core import loop, metrics, sharding, train_state
  from rvl_jax.data import batching

  sharding.initialize_distributed()

  class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Dense(4)(nn.relu(nn.Dense(16)(x)))

  data_rng = np.random.default_rng(0)
  xs = data_rng.normal(size=(64, 8)).astype(np.float32)
  ys = data_rng.integers(0, 4, size=64).astype(np.int32)

  def get_batch(step):
    idx = batching.sample_batch_indices(0, step, len(ys), 8)
    return {"x": xs[idx], "y": ys[idx]}

  def train_step(state, batch):
    def loss_fn(p):
      return metrics.cross_entropy(state.apply_fn({"params": p}, batch["x"]), batch["y"])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads), {"loss": loss}

  model = MLP()
  for run in runs:
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8)))["params"]
    init = jax.device_get(params)
    state = train_state.TrainState.create(
      apply_fn=model.apply, params=params, tx=optax.adam(0.05), rng=jax.random.PRNGKey(1)
    )

    def pause(done, _, run=run):
      if done == run.get("pause_at"):
        dump_writes()
        with open(os.path.join(out, f"paused_{run['name']}_{tag}"), "w") as f:
          f.write(str(done))
        time.sleep(3600)

    result = loop.train(
      state=state,
      train_step=train_step,
      get_batch=get_batch,
      num_steps=run["steps"],
      workdir=run["workdir"],
      log_every=2,
      checkpoint_every=2,
      hooks=(pause,),
      desc=run["name"],
    )
    final = jax.device_get(result.state.params)
    moved = max(
      float(np.max(np.abs(a - b)))
      for a, b in zip(jax.tree_util.tree_leaves(final), jax.tree_util.tree_leaves(init))
    )
    leaves = jax.tree_util.tree_leaves_with_path(final)
    np.savez(
      os.path.join(out, f"params_{run['name']}_{tag}.npz"),
      **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves},
    )
    with open(os.path.join(out, f"params_{run['name']}_{tag}.json"), "w") as f:
      json.dump(
        {
          "resumed_from": result.resumed_from,
          "loss": result.metrics["loss"],
          "moved": moved,
          "process_index": jax.process_index(),
          "process_count": jax.process_count(),
          "devices": jax.device_count(),
          "local_devices": jax.local_device_count(),
        },
        f,
      )


def _run_module(name, args):
  """``python -m name args`` in this process; returns when its ``app.run`` exits with status 0."""
  sys.argv = [name] + list(args)
  try:
    runpy.run_module(name, run_name="__main__", alter_sys=True)
  except SystemExit as e:
    if e.code not in (None, 0):
      raise


def main(argv):
  out, watch, tag, mode = argv[1:5]
  dump_writes = _install_write_recorder(out, watch, tag)
  if mode == "loop":
    jobs = [{"loop": json.loads(argv[5])}]
  elif mode == "module":
    jobs = [{"module": argv[5], "argv": argv[6:]}]
  elif mode == "jobs":
    jobs = json.loads(argv[5])
  else:
    raise ValueError(f"argument 'mode': expected 'loop', 'module' or 'jobs', got {mode!r}")
  for job in jobs:
    if "loop" in job:
      _run_loop(out, tag, job["loop"], dump_writes)
    else:
      _run_module(job["module"], job["argv"])
      dump_writes(snapshot=job["module"])


if __name__ == "__main__":
  main(sys.argv)
