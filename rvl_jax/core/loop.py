"""The generic training loop every rvl_jax trainer uses.

``train`` jit-compiles a pure ``train_step(state, batch) -> (state, metrics)`` with the batch sharded
over the mesh's 'data' axis and the state replicated, and feeds it either ``get_batch(step)`` (a
deterministic function of the step: offline procedural and in-memory data) or ``batches``, an
input pipeline (``rvl_jax.data.pipeline``) yielding this process's slice of each global batch, whose
iterator state is saved in the same checkpoint as the model. Either way a resumed run sees exactly
the batches an uninterrupted one would. It logs
metrics (JSON lines + TensorBoard), reports progress with rate and ETA, runs evaluation hooks,
stops on NaN/inf with an error naming the step and metric, and checkpoints with orbax so that a
killed run restarted with the same arguments resumes and ends with the same parameters.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import jax
import numpy as np
from absl import logging

from rvl_jax.core import checkpoint as ckpt_lib
from rvl_jax.core import progress as progress_lib
from rvl_jax.core import sharding
from rvl_jax.core import writer as writer_lib

Metrics = Dict[str, Any]
StepFn = Callable[[Any, Any], Tuple[Any, Metrics]]


@dataclasses.dataclass
class TrainResult:
  """What :func:`train` returns.

  Attributes:
    state: the final train state.
    metrics: the last logged (interval-averaged) train metrics.
    eval_metrics: the last evaluation's metrics.
    history: every logged row, including evaluation rows.
    steps_per_second: training rate after the first (compiling) step.
    compile_seconds: wall time of the first step (compilation included).
    resumed_from: the checkpoint step the run resumed from, or None.
  """

  state: Any
  metrics: Dict[str, float]  # last logged (interval-averaged) train metrics
  eval_metrics: Dict[str, float]  # last evaluation
  history: List[Dict[str, float]]  # every logged row, including eval rows
  steps_per_second: float
  compile_seconds: float
  resumed_from: Optional[int]


def _mean_metrics(rows: Sequence[Mapping[str, Any]]) -> Dict[str, float]:
  rows = jax.device_get(list(rows))
  return {k: float(np.mean([np.asarray(r[k], np.float64) for r in rows])) for k in rows[0]}


def _check_finite(metrics: Mapping[str, float], step: int) -> None:
  for name, value in metrics.items():
    if not np.isfinite(value):
      raise FloatingPointError(
        f"training diverged: metric '{name}' is {value} at step {step} (averaged over the last "
        "logging interval); lower the learning rate or check the inputs. The last good "
        "checkpoint was kept."
      )


def _next_batch(batches: Any, step: int) -> Any:
  try:
    return next(batches)
  except StopIteration:
    raise ValueError(
      f"argument 'batches': the input pipeline ended before step {step}; give it "
      "more epochs (num_epochs=None repeats forever) or fewer num_steps"
    ) from None


def train(
  *,
  state: Any,
  train_step: StepFn,
  get_batch: Optional[Callable[[int], Any]] = None,
  num_steps: int,
  batches: Any = None,
  workdir: Optional[str] = None,
  eval_fn: Optional[Callable[[Any, int], Metrics]] = None,
  eval_every: int = 0,
  log_every: int = 50,
  checkpoint_every: int = 500,
  mesh: Optional[jax.sharding.Mesh] = None,
  desc: str = "train",
  keep_checkpoints: int = 2,
  hooks: Sequence[Callable[[int, Any], None]] = (),
) -> TrainResult:
  """Runs ``num_steps`` optimizer steps (counting from the state's/checkpoint's step).

  Args:
    state: initial TrainState (ignored in favour of the latest checkpoint in ``workdir``).
    train_step: pure function (state, batch) -> (state, dict of scalar metrics).
    get_batch: step -> global batch (pytree of numpy arrays with a leading batch axis).
    num_steps: total number of steps of the run.
    batches: instead of ``get_batch``, a ``rvl_jax.data.pipeline.Pipeline`` (an iterator of this
      process's local batches with a Grain ``iterator``), fresh (nothing drawn from it yet): its
      first batch feeds the state's step; its state is checkpointed and restored with the model.
    workdir: output directory (checkpoints/, metrics.jsonl, tb/); None keeps everything in memory.
    eval_fn: (state, step) -> dict of scalars, run every ``eval_every`` steps and at the end.
    eval_every: steps between evaluations (0: only at the end).
    log_every: steps between metric rows (also the NaN-check interval).
    checkpoint_every: steps between checkpoints (a final one is always written).
    mesh: device mesh; default all devices on one 'data' axis.
    desc: name of the run in progress lines and logs.
    keep_checkpoints: how many checkpoints to keep.
    hooks: callables (step, state) run after every step on the host (e.g. to stop a run).

  Returns:
    A :class:`TrainResult`.

  Raises:
    FloatingPointError: a logged metric is NaN or infinite (the last good checkpoint is kept).
  """
  if num_steps < 0:
    raise ValueError(f"argument 'num_steps': expected a non-negative integer, got {num_steps}")
  if (get_batch is None) == (batches is None):
    raise ValueError(
      "arguments 'get_batch' / 'batches': expected exactly one of them, got "
      f"{'both' if get_batch is not None else 'neither'}"
    )
  data_iterator = None if batches is None else batches.iterator
  mesh = mesh or sharding.make_mesh()
  checkpointer = None
  writer = writer_lib.MetricWriter(workdir, enabled=False)
  state = sharding.replicate(state, mesh, copy=True)
  resumed_from = None
  if workdir is not None:
    os.makedirs(workdir, exist_ok=True)
    checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), keep_checkpoints)
    if checkpointer.latest_step() is not None:
      state = checkpointer.restore(state, data_iterator=data_iterator)
      resumed_from = int(jax.device_get(state.step))
      logging.info("%s: resumed from checkpoint at step %d", desc, resumed_from)
    writer = writer_lib.MetricWriter(workdir)  # process 0 only

  repl = sharding.replicated_sharding(mesh)
  step_fn = jax.jit(train_step, out_shardings=(repl, repl), donate_argnums=(0,))

  start = int(jax.device_get(state.step))
  history: List[Dict[str, float]] = []
  pending: List[Metrics] = []
  last_metrics: Dict[str, float] = {}
  eval_metrics: Dict[str, float] = {}
  compile_seconds = 0.0
  t_after_first = None

  def run_eval(step: int) -> None:
    nonlocal eval_metrics
    if eval_fn is None:
      return
    eval_metrics = {k: float(v) for k, v in jax.device_get(eval_fn(state, step)).items()}
    history.append({"step": step, **{f"eval/{k}": v for k, v in eval_metrics.items()}})
    writer.write_scalars(step, {f"eval/{k}": v for k, v in eval_metrics.items()})

  def flush(step: int) -> None:
    nonlocal last_metrics, pending
    if not pending:
      return
    last_metrics = _mean_metrics(pending)
    pending = []
    _check_finite(last_metrics, step)
    history.append({"step": step, **last_metrics})
    writer.write_scalars(step, last_metrics)
    bar.set_postfix(" ".join(f"{k}={v:.4g}" for k, v in list(last_metrics.items())[:3]))

  bar = progress_lib.Progress(num_steps, desc=desc, initial=min(start, num_steps), unit="step")
  try:
    for step in range(start, num_steps):
      if batches is None:
        batch = sharding.shard_batch(get_batch(step), mesh)
      else:
        batch = sharding.global_batch_from_local(_next_batch(batches, step), mesh)
      t0 = time.perf_counter()
      state, metrics = step_fn(state, batch)
      if step == start:
        jax.block_until_ready(metrics)
        t_after_first = time.perf_counter()
        compile_seconds = t_after_first - t0
      pending.append(metrics)
      done = step + 1
      bar.update(1)
      if done % log_every == 0 or done == num_steps:
        flush(done)
      if eval_every and done % eval_every == 0 and done != num_steps:
        run_eval(done)
      if checkpointer is not None and (done % checkpoint_every == 0 or done == num_steps):
        if pending:  # never checkpoint a state whose recent metrics were not checked
          _check_finite(_mean_metrics(pending), done)
        checkpointer.save(done, state, data_iterator=data_iterator)
      for hook in hooks:
        hook(done, state)
    jax.block_until_ready(state)
    t_end = time.perf_counter()
    flush(num_steps)
    run_eval(max(num_steps, start))
    if checkpointer is not None and checkpointer.latest_step() != num_steps and num_steps > 0:
      checkpointer.save(num_steps, state, data_iterator=data_iterator)
  finally:
    bar.close()
    writer.close()
    if checkpointer is not None:
      checkpointer.close()
  timed_steps = num_steps - start - 1
  rate = (
    timed_steps / (t_end - t_after_first)
    if t_after_first is not None and timed_steps > 0
    else float("nan")
  )
  return TrainResult(
    state=state,
    metrics=last_metrics,
    eval_metrics=eval_metrics,
    history=history,
    steps_per_second=rate,
    compile_seconds=compile_seconds,
    resumed_from=resumed_from,
  )


def train_once(
  state: Any,
  train_step: StepFn,
  get_batch: Callable[[int], Any],
  num_steps: int,
  workdir: Optional[str],
  desc: str,
  **options: Any,
) -> TrainResult:
  """``train`` for a model trained once and afterwards only restored from ``workdir``: a single
  checkpoint, written at the end (a cached model of a study, one arm of a sweep).

  Args:
    state: initial TrainState.
    train_step: pure function (state, batch) -> (state, dict of scalar metrics).
    get_batch: step -> global batch.
    num_steps: total number of steps of the run.
    workdir: output directory (None keeps everything in memory).
    desc: name of the run in progress lines and logs.
    **options: any other keyword of ``train`` (``log_every``, ``eval_fn``, ``hooks``, ...).

  Returns:
    ``train``'s :class:`TrainResult`.
  """
  return train(
    state=state,
    train_step=train_step,
    get_batch=get_batch,
    num_steps=num_steps,
    workdir=workdir,
    checkpoint_every=max(num_steps, 1),
    desc=desc,
    **options,
  )
