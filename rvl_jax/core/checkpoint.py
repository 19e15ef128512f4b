"""Orbax checkpointing with resume. Orbax writes into a temporary directory and renames it when
complete, so a run killed mid-save never leaves a checkpoint that looks finished.

A step's checkpoint holds the model pytree (item ``default``) and, for runs fed by
``rvl_jax.data.pipeline``, the input pipeline's iterator state (item ``data_iterator``, one JSON
file per process, written by Grain's orbax handler): both are committed together, so a restored
run continues on exactly the batches that follow the restored parameters.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import flax
import orbax.checkpoint as ocp

MODEL_ITEM = "default"  # the item name orbax gives a single unnamed pytree
DATA_ITEM = "data_iterator"


class Checkpointer:
  """Saves and restores pytrees (e.g. a TrainState) under ``directory/<step>``.

  Flax structs are converted with ``flax.serialization.to_state_dict`` so static fields (the
  model's apply function, the optimizer) never reach the checkpoint; restore fills a template.
  A data iterator with ``get_state``/``set_state`` (grain's) can be saved beside the tree so
  that a resumed run continues from the same example.

  Args:
    directory: Folder holding one sub-folder per saved step (created if missing).
    max_to_keep: Number of most recent steps kept; older ones are deleted on save.
  """

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
      self.directory,
      item_names=(MODEL_ITEM, DATA_ITEM),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
    )

  def latest_step(self) -> Optional[int]:
    """Returns the newest saved step, or None when nothing is saved."""
    return self._manager.latest_step()

  def all_steps(self):
    """Returns the saved steps (a list of ints, oldest first)."""
    return list(self._manager.all_steps())

  def save(self, step: int, tree: Any, data_iterator: Any = None) -> None:
    """Saves synchronously (the step is complete on disk when this returns).

    Args:
      step: the training step the checkpoint belongs to (its directory name).
      tree: the pytree to save (e.g. a TrainState).
      data_iterator: a Grain iterator (``Pipeline.iterator``) whose state is saved with the tree.
    """
    import grain.checkpoint  # pylint: disable=g-import-not-at-top

    items = {MODEL_ITEM: ocp.args.StandardSave(flax.serialization.to_state_dict(tree))}
    if data_iterator is not None:
      items[DATA_ITEM] = grain.checkpoint.CheckpointSave(data_iterator)
    self._manager.save(int(step), args=ocp.args.Composite(**items), force=True)
    self._manager.wait_until_finished()

  def has_data_iterator(self, step: int) -> bool:
    """Returns whether the checkpoint of ``step`` holds an input-pipeline state."""
    return os.path.isdir(os.path.join(self.directory, str(int(step)), DATA_ITEM))

  def restore(
    self, template: Any, step: Optional[int] = None, data_iterator: Any = None
  ) -> Optional[Any]:
    """Restores into the structure (and shardings) of ``template``.

    Args:
      template: a pytree of the saved structure (e.g. a freshly created TrainState).
      step: the step to restore (default: the latest).
      data_iterator: a Grain iterator whose state is restored from the same step; a checkpoint
        written without one raises, since the run could not resume on the right batches.

    Returns:
      The restored pytree, or None if nothing is saved.
    """
    import grain.checkpoint  # pylint: disable=g-import-not-at-top

    step = self.latest_step() if step is None else step
    if step is None:
      return None
    target = flax.serialization.to_state_dict(template)
    items = {MODEL_ITEM: ocp.args.StandardRestore(target)}
    if data_iterator is not None:
      if not self.has_data_iterator(step):
        raise ValueError(
          f"argument 'batches': the checkpoint of step {step} in {self.directory!r} holds no "
          "input-pipeline state (it was written by a run fed by get_batch); resume it with "
          "get_batch or start a new workdir"
        )
      items[DATA_ITEM] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    return flax.serialization.from_state_dict(template, restored[MODEL_ITEM])

  def close(self) -> None:
    """Waits for pending work and releases the checkpoint manager."""
    self._manager.close()
