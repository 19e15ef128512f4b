import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rvl_jax.core import batched, loop, metrics, nets, train_state, writer
from rvl_jax.data import batching

X = np.random.default_rng(0).normal(size=(256, 5)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)


def make_state(lr=1e-2):
  model = nets.MLP((16, 2))
  params = model.init(jax.random.PRNGKey(0), X[:2])["params"]
  return train_state.TrainState.create(
    apply_fn=model.apply, params=params, tx=optax.adam(lr), rng=jax.random.PRNGKey(1)
  )


def step_fn(state, batch):
  def loss_fn(p):
    return metrics.cross_entropy(state.apply_fn({"params": p}, batch["x"]), batch["y"])

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  state, key = state.next_rng()
  return state.apply_gradients(grads), {"loss": loss, "noise": jax.random.uniform(key)}


def get_batch(step):
  idx = batching.sample_batch_indices(0, step, len(X), 32)
  return {"x": X[idx], "y": Y[idx]}


class Interrupt(Exception):
  pass


def test_training_learns_and_logs(tmp_path):
  result = loop.train(
    state=make_state(),
    train_step=step_fn,
    get_batch=get_batch,
    num_steps=60,
    workdir=str(tmp_path),
    log_every=20,
    checkpoint_every=30,
    eval_fn=lambda s, k: {"step_seen": k},
    eval_every=20,
  )
  assert int(result.state.step) == 60
  assert result.metrics["loss"] < 0.5
  rows = writer.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert [r["step"] for r in rows if "loss" in r] == [20, 40, 60]
  assert [r["eval/step_seen"] for r in rows if "eval/step_seen" in r] == [20, 40, 60]
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["30", "60"]


def test_resume_after_interrupt_matches_uninterrupted(tmp_path):
  full = loop.train(
    state=make_state(),
    train_step=step_fn,
    get_batch=get_batch,
    num_steps=40,
    workdir=str(tmp_path / "full"),
    checkpoint_every=10,
  )

  def stop_at_23(step, state):
    if step == 23:
      raise Interrupt()

  with pytest.raises(Interrupt):
    loop.train(
      state=make_state(),
      train_step=step_fn,
      get_batch=get_batch,
      num_steps=40,
      workdir=str(tmp_path / "cut"),
      checkpoint_every=10,
      hooks=[stop_at_23],
    )
  resumed = loop.train(
    state=make_state(),
    train_step=step_fn,
    get_batch=get_batch,
    num_steps=40,
    workdir=str(tmp_path / "cut"),
    checkpoint_every=10,
  )
  assert resumed.resumed_from == 20
  chex.assert_trees_all_equal(full.state.params, resumed.state.params)
  chex.assert_trees_all_equal(full.state.opt_state, resumed.state.opt_state)
  chex.assert_trees_all_equal(full.state.rng, resumed.state.rng)


KILL_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r}); sys.path.insert(0, {root!r})
    import test_core_loop as t
    from rvl_jax.core import loop
    kill_at = int(sys.argv[2])
    def hook(step, state):
      if step == kill_at:
        os._exit(9)  # hard kill: no cleanup, no finally blocks
    r = loop.train(state=t.make_state(), train_step=t.step_fn, get_batch=t.get_batch, num_steps=40,
                   workdir=sys.argv[1], checkpoint_every=10, hooks=[hook] if kill_at else [])
    import numpy as np, jax
    np.save(sys.argv[1] + '/final.npy', np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(r.state.params)]))
""")


def test_hard_killed_process_resumes(tmp_path):
  script = tmp_path / "run.py"
  script.write_text(
    KILL_SCRIPT.format(
      tests=os.path.dirname(__file__),
      root=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
  )
  env = dict(os.environ, RVL_QUIET="1")
  work = str(tmp_path / "run")
  killed = subprocess.run([sys.executable, str(script), work, "27"], env=env, capture_output=True)
  assert killed.returncode == 9, killed.stderr.decode()[-2000:]
  assert not os.path.exists(work + "/final.npy")
  again = subprocess.run([sys.executable, str(script), work, "0"], env=env, capture_output=True)
  assert again.returncode == 0, again.stderr.decode()[-2000:]
  reference = loop.train(state=make_state(), train_step=step_fn, get_batch=get_batch, num_steps=40)
  expected = np.concatenate(
    [np.ravel(x) for x in jax.tree_util.tree_leaves(reference.state.params)]
  )
  np.testing.assert_array_equal(np.load(work + "/final.npy"), expected)


def test_nan_stops_with_clear_error(tmp_path):
  def bad_step(state, batch):
    state, metrics_ = step_fn(state, batch)
    return state, {**metrics_, "loss": jnp.where(state.step >= 7, jnp.nan, metrics_["loss"])}

  with pytest.raises(FloatingPointError, match=r"metric 'loss' is nan at step 10"):
    loop.train(
      state=make_state(),
      train_step=bad_step,
      get_batch=get_batch,
      num_steps=30,
      workdir=str(tmp_path),
      log_every=10,
      checkpoint_every=10,
    )
  # No checkpoint of the diverged state was written.
  assert not os.path.exists(tmp_path / "checkpoints" / "10")


def test_loop_does_not_consume_callers_state():
  state = make_state()
  loop.train(state=state, train_step=step_fn, get_batch=get_batch, num_steps=3)
  assert int(state.step) == 0  # still readable: the loop donated its own copy


def test_batched_apply_pads_and_compiles_once():
  calls = []

  @jax.jit
  def fn(x):
    calls.append(x.shape)
    return {"double": 2 * x, "sum": x.sum(axis=1)}

  x = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
  out = batched.batched_apply(fn, x, batch_size=8)
  np.testing.assert_array_equal(out["double"], 2 * x)
  np.testing.assert_array_equal(out["sum"], x.sum(1))
  assert calls == [(8, 3)]
  with pytest.raises(ValueError, match="argument 'batch_size'"):
    batched.batched_apply(fn, x, batch_size=0)
