"""Orbax checkpointing with resume. Orbax writes into a temporary directory and renames it when
complete, so a run killed mid-save never leaves a checkpoint that looks finished."""

from __future__ import annotations

import os
from typing import Any, Optional

import flax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores pytrees (e.g. a TrainState) under ``directory/<step>``.

  Flax structs are converted with ``flax.serialization.to_state_dict`` so static fields (the
  model's apply function, the optimizer) never reach the checkpoint; restore fills a template.
  """

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def all_steps(self):
    return list(self._manager.all_steps())

  def save(self, step: int, tree: Any) -> None:
    """Saves synchronously (the step is complete on disk when this returns)."""
    state_dict = flax.serialization.to_state_dict(tree)
    self._manager.save(int(step), args=ocp.args.StandardSave(state_dict), force=True)
    self._manager.wait_until_finished()

  def restore(self, template: Any, step: Optional[int] = None) -> Optional[Any]:
    """Restores into the structure (and shardings) of ``template``; None if nothing is saved."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    target = flax.serialization.to_state_dict(template)
    restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
    return flax.serialization.from_state_dict(template, restored)

  def close(self) -> None:
    self._manager.close()
