"""``loop.train_once``: a run checkpointed once, at its end, and restored afterwards."""

import os

import chex
import jax

from rvl_jax.core import checkpoint, loop
from tests.core.test_core_loop import get_batch, make_state, step_fn


def test_train_once_checkpoints_only_the_end_and_restores(tmp_path):
  first = loop.train_once(make_state(), step_fn, get_batch, 12, str(tmp_path), "once", log_every=4)
  assert int(first.state.step) == 12
  ckpt = checkpoint.Checkpointer(os.path.join(str(tmp_path), "checkpoints"), 2)
  try:
    assert list(ckpt.all_steps()) == [12]
  finally:
    ckpt.close()
  again = loop.train_once(make_state(), step_fn, get_batch, 12, str(tmp_path), "once")
  assert again.resumed_from == 12
  chex.assert_trees_all_equal(
    jax.device_get(again.state.params), jax.device_get(first.state.params)
  )
