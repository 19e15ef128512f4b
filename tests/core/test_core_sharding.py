"""Data parallelism: a step on a 4-device mesh equals the one-device step."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rvl_jax.core import sharding

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(script, **env):
  """Runs ``script`` with this checkout's package first on the path; returns its JSON line."""
  env = dict(
    os.environ,
    RVL_QUIET="1",
    JAX_PLATFORMS="cpu",
    PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
    **env,
  )
  proc = subprocess.run(
    [sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=REPO
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np, optax
    from rvl_jax.core import loop, metrics, nets, sharding, train_state
    assert jax.device_count() == 4, jax.devices()
    model = nets.ConvNet(channels=(4, 8), hidden=16, use_batchnorm=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=16).astype(np.int32)
    variables = model.init(jax.random.PRNGKey(0), x[:2])
    def make():
      return train_state.TrainState.create(apply_fn=model.apply, params=variables['params'],
          tx=optax.sgd(0.1), rng=jax.random.PRNGKey(1), batch_stats=variables['batch_stats'])
    def step(state, batch):
      def loss_fn(p):
        logits, upd = state.apply_fn({'params': p, 'batch_stats': state.batch_stats}, batch['x'],
                                     train=True, mutable=['batch_stats'])
        return metrics.cross_entropy(logits, batch['y']), upd
      (loss, upd), g = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
      return state.apply_gradients(g, batch_stats=upd['batch_stats']), {'loss': loss}
    out = {}
    for name, devices in (('one', jax.devices()[:1]), ('four', jax.devices())):
      mesh = sharding.make_mesh(devices)
      r = loop.train(state=make(), train_step=step, get_batch=lambda s: {'x': x, 'y': y},
                     num_steps=2, mesh=mesh, log_every=1)
      batch = sharding.shard_batch({'x': x, 'y': y}, mesh)
      out[name] = {'loss': r.metrics['loss'],
                   'shards': len(batch['x'].addressable_shards),
                   'params': [np.asarray(l).ravel().tolist() for l in jax.tree_util.tree_leaves(r.state.params)],
                   'stats': [np.asarray(l).ravel().tolist() for l in jax.tree_util.tree_leaves(r.state.batch_stats)]}
    print(json.dumps(out))
""")


def test_four_device_step_matches_one_device(tmp_path):
  script = tmp_path / "multi.py"
  script.write_text(SCRIPT)
  out = _run(script, XLA_FLAGS="--xla_force_host_platform_device_count=4")
  assert out["one"]["shards"] == 1 and out["four"]["shards"] == 4
  np.testing.assert_allclose(out["four"]["loss"], out["one"]["loss"], rtol=1e-5, atol=1e-6)
  for a, b in zip(
    out["four"]["params"] + out["four"]["stats"], out["one"]["params"] + out["one"]["stats"]
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # The comparison can fail: the two-step runs moved the parameters away from their init.
  assert out["one"]["loss"] > 0


def test_shard_batch_requires_divisible_batch():
  mesh = sharding.make_mesh()
  n = mesh.devices.size
  if n == 1:
    sharded = sharding.shard_batch({"x": np.zeros((3, 2))}, mesh)
    assert sharded["x"].shape == (3, 2)
  with pytest.raises(ValueError, match=r"argument 'batch\['x'\]': expected a leading batch axis"):
    sharding.shard_batch({"x": np.float32(1.0)}, mesh)


def test_backends_started_public_fallback_keeps_the_setting():
  import jax

  jax.numpy.zeros(1).block_until_ready()
  before = jax.config.jax_num_cpu_devices
  assert sharding._backends_started(private_api=False)
  assert jax.config.jax_num_cpu_devices == before


CONFIGURE_SCRIPT = """
import json, os
os.environ.pop("XLA_FLAGS", None)
import jax
from rvl_jax.core import sharding

def started():  # (private query, public fallback) of sharding._backends_started
  return [sharding._backends_started(), sharding._backends_started(private_api=False)]

before = started()
sharding.configure_cpu(3)
n = len(jax.devices())
after = started()
try:
  sharding.configure_cpu(2)
  error = ""
except RuntimeError as e:
  error = str(e)
print(json.dumps({"devices": n, "flags": os.environ.get("XLA_FLAGS", ""),
                  "avx512": sharding.cpu_has_avx512(), "error": error,
                  "started_before": before, "started_after": after}))
"""


def test_configure_cpu_sets_devices_and_vector_width_before_backend_init(tmp_path):
  script = tmp_path / "configure.py"
  script.write_text(CONFIGURE_SCRIPT)
  out = _run(script)
  # The fallback probe before the first computation left the device count to configure_cpu.
  assert out["devices"] == 3
  assert out["started_before"] == [False, False] and out["started_after"] == [True, True]
  assert ("--xla_cpu_prefer_vector_width=512" in out["flags"]) == out["avx512"]
  assert "before the first JAX computation" in out["error"]
