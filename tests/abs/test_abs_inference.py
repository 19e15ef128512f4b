"""Released-weights checks (the reference sample bank, the designed-one logits) plus exact inference
checks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rvl_jax.abs import inference as inf
from rvl_jax.abs import lower_bounds, models, nets

DESIGNED_ONE_LOGITS = np.array(
  [-0.1304, -0.0098, -0.0342, -0.0233, -0.0248, -0.0350, -0.0266, -0.0280, -0.0212, -0.0327]
)


def test_gaussian_bank_matches_reference():
  bank = inf.gaussian_bank()
  assert bank.shape == (8000, 8) and bank.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(bank, axis=1).max(), 3.63839, atol=1e-5)
  np.testing.assert_allclose(
    bank[0], [0.4714, -1.1910, 1.4327, -0.3127, -0.7206, 0.8872, 0.8596, -0.6365], atol=1e-4
  )
  # draw order preserved: the bank is a subsequence of the raw draws
  raw = np.random.RandomState(1234).standard_normal((8888, 8)).astype(np.float32)
  keep = np.linalg.norm(raw, axis=1) <= 3.6384
  np.testing.assert_array_equal(raw[keep], bank)


def test_grid_bank():
  g = inf.grid_bank(8000)
  assert g.shape == (6561, 8)
  np.testing.assert_allclose(np.unique(g), [-0.99, 0.0, 0.99], atol=1e-6)


def test_clip_modes():
  z = jnp.array([[3.0, -4.0, 0.0], [0.3, -0.4, 0.0]])
  ref = inf.clip_latents(z, 2.5, "reference")
  cor = inf.clip_latents(z, 2.5, "correct")
  np.testing.assert_allclose(ref[0], [1.5, 2.0, 0.0], atol=1e-6)  # signs dropped (reference quirk)
  np.testing.assert_allclose(cor[0], [1.5, -2.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(ref[1], z[1])
  with pytest.raises(ValueError, match="clip_mode"):
    inf.clip_latents(z, 1.0, "bogus")


def test_confidence_softmax():
  s = np.array([[0.0, -0.01, -1.0], [-50.0, -50.0, -60.0]])
  p = inf.confidence_softmax(s, alpha=440, eta=3.9e-5)
  np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
  np.testing.assert_allclose(p[1], 1 / 3, atol=1e-6)  # far from data -> uniform
  e = np.exp(440 * s[0])
  np.testing.assert_allclose(p[0], (e + 3.9e-5) / (e.sum() + 3 * 3.9e-5))


@pytest.fixture(scope="module")
def tiny_abs():
  """An ABS model from randomly initialised VAEs with a small bank."""
  model = nets.VAE()
  vaes = []
  for c in range(10):
    v = model.init(jax.random.PRNGKey(c), jnp.zeros((1, 28, 28, 1)))
    v = jax.tree_util.tree_map(np.asarray, v)
    v["batch_stats"] = jax.tree_util.tree_map(lambda a: a + 0.1 * c, v["batch_stats"])
    vaes.append(v)
  return vaes, models.ABS(vaes, n_samples=64, n_iter=4, batch_size=3)


def test_stage1_is_brute_force_argmin(tiny_abs):
  vaes, m = tiny_abs
  x = np.random.RandomState(0).rand(2, 784).astype(np.float32)
  z, imgs, sq = m.bank
  e, z0 = inf.stage1(jnp.asarray(x), z, imgs, sq, 1.0)
  brute = ((x[:, None, None, :] - np.asarray(imgs)[None]) ** 2).sum(-1) + 0.5 * (
    np.asarray(z) ** 2
  ).sum(-1)[None, None]
  np.testing.assert_allclose(np.asarray(e), brute.min(-1) / 784, rtol=1e-4)
  np.testing.assert_array_equal(np.asarray(z0), np.asarray(z)[brute.argmin(-1)])
  # the bank images are the flax decoder's outputs
  dec = nets.VAE()
  ref = jax.nn.sigmoid(dec.apply(vaes[4], z[:5], method=dec.decode)).reshape(5, -1)
  np.testing.assert_allclose(np.asarray(imgs[4, :5]), np.asarray(ref), atol=1e-5)


def test_latent_search_equals_manual_adam(tiny_abs):
  vaes, m = tiny_abs
  x = np.random.RandomState(1).rand(2, 28, 28, 1).astype(np.float32)
  out = m.apply(jnp.asarray(x), n_iter=4)
  z, imgs, sq = m.bank
  _, z_ = inf.stage1(jnp.asarray(x.reshape(2, -1)), z, imgs, sq, 1.0)
  dec = nets.VAE()

  def total(zz):  # flax decoder, per class
    tot = 0.0
    for c in range(10):
      r = jax.nn.sigmoid(dec.apply(vaes[c], zz[:, c], method=dec.decode)).reshape(2, -1)
      tot += jnp.sum((x.reshape(2, -1) - r) ** 2) + 0.5 * jnp.sum(zz[:, c] ** 2)
    return tot / 784

  tx = optax.adam(0.05)
  st = tx.init(z_)
  for _ in range(3):
    u, st = tx.update(jax.grad(total)(z_), st)
    z_ = inf.clip_latents(z_ + u, 5.0)
  np.testing.assert_allclose(np.asarray(out["latents"]), np.asarray(z_), atol=2e-4)
  np.testing.assert_allclose(np.asarray(out["logits"]), -np.asarray(out["scores"]))


def test_batching_and_class_modes_agree(tiny_abs):
  _, m = tiny_abs
  x = np.random.RandomState(2).rand(5, 28, 28, 1).astype(np.float32)
  a = m.infer(x)  # batches of 3, padded
  b = m.infer(x, batch_size=5)
  np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-4, atol=1e-6)
  c = m.with_options(class_mode="vmap").infer(x, batch_size=5)
  np.testing.assert_allclose(a["scores"], c["scores"], rtol=1e-4, atol=1e-6)
  d = m.with_options(micro_batch=2).infer(x, batch_size=5)  # chunks of 2 (last one padded)
  np.testing.assert_allclose(a["scores"], d["scores"], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(a["latents"], d["latents"], rtol=1e-4, atol=1e-5)
  s1 = m.infer(x, n_iter=0)
  s1b = m.infer(x, n_iter=1)  # one pass, no update == stage 1
  np.testing.assert_allclose(s1["scores"], s1b["scores"], rtol=1e-4)
  assert np.all(a["scores"] <= s1["scores"] + 5e-3)


def test_binary_abs_binarizes_and_scales(tiny_abs):
  _, m = tiny_abs
  x = np.random.RandomState(3).rand(2, 28, 28, 1).astype(np.float32)
  b = m.with_options(binary=True)
  out = b.infer(x)
  ref = m.infer(np.asarray(inf.binarize(x)))
  np.testing.assert_allclose(
    out["logits"], -np.asarray(inf.BINARY_ABS_GAMMA) * ref["scores"], rtol=1e-5
  )


def test_abs_traceable_call_and_input_checks(tiny_abs):
  _, m = tiny_abs
  x = np.random.RandomState(4).rand(2, 28, 28, 1).astype(np.float32)
  np.testing.assert_allclose(np.asarray(jax.jit(m)(jnp.asarray(x))), np.asarray(m(x)), rtol=1e-4)
  lg, rec = m.abs_fn(x)
  assert lg.shape == (2, 10) and rec.shape == (2, 10, 28, 28, 1)
  with pytest.raises(ValueError, match="argument 'x'"):
    m(np.zeros((2, 28, 28, 3), np.float32))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    m(np.full((1, 28, 28, 1), 2.0, np.float32))


def test_l2_radius_formula():
  L, r, d = 10.0, 2.0, np.array([5.0, 3.0, 1.0])
  eps = lower_bounds.solve_radius(L, r, d)
  np.testing.assert_allclose(eps, np.maximum(0, (d**2 - L) / (2 * (d + r))))
  # gamma version: root of gamma_y((r+e)^2 + k) = gamma_c (d-e)^2
  e = lower_bounds.solve_radius(L, r, 5.0, 1.06, 0.96)
  k = L - r**2
  np.testing.assert_allclose(1.06 * ((r + e) ** 2 + k), 0.96 * (5.0 - e) ** 2, rtol=1e-9)


def test_lower_bounds_run(tiny_abs):
  _, m = tiny_abs
  x = np.random.RandomState(5).rand(3, 28, 28, 1).astype(np.float32)
  pred = m.predict(x)
  res = lower_bounds.l2_lower_bound(m, x, pred)
  assert res["bound"].shape == (3,) and np.all(res["bound"] >= 0)
  wrong = (pred + 1) % 10
  assert np.all(lower_bounds.l2_lower_bound(m, x, wrong)["bound"] == 0)
  li = lower_bounds.linf_lower_bound(m.with_options(n_iter=2), x[:1], pred[:1], bisection_steps=2)
  assert 0 <= li["bound"][0] <= 0.5


@pytest.fixture(scope="module")
def reference_abs(shared_dir):
  d = shared_dir / "reference_weights" / "abs"
  if not d.is_dir():
    pytest.skip("released ABS weights not found")
  return models.load_reference_abs(str(d), batch_size=1)


def test_designed_one_logits(reference_abs):
  x = np.zeros((1, 28, 28, 1), np.float32)
  x[0, 5:-5, 12:-12] = 1
  logits = np.asarray(reference_abs(x))[0]
  np.testing.assert_allclose(logits, DESIGNED_ONE_LOGITS, atol=2e-3)
  assert logits.argmax() == 1
  assert reference_abs.with_options(binary=True).predict(x)[0] == 1
  p = reference_abs.probabilities(x)[0]
  assert p.argmax() == 1 and abs(p.sum() - 1) < 1e-9


_SHARDED_SCRIPT = """
import json
import jax, jax.numpy as jnp, numpy as np
from rvl_jax.abs import models, nets
vae = nets.VAE()
vaes = [jax.tree_util.tree_map(np.asarray, vae.init(jax.random.PRNGKey(c), jnp.zeros((1, 28, 28, 1))))
        for c in range(10)]
m = models.ABS(vaes, n_samples=64, n_iter=4, batch_size=3, micro_batch=2)
x = np.random.RandomState(3).rand(5, 28, 28, 1).astype(np.float32)
a = m.infer(x)                                        # 2 devices: 5 classes each
b = m.with_options(data_parallel=False).infer(x)      # one device
from rvl_jax.abs import inference as inf
from rvl_jax.core import sharding
mesh = sharding.make_mesh(jax.local_devices())
x6 = jnp.asarray(np.random.RandomState(4).rand(6, 784).astype(np.float32))
kw = dict(n_iter=4, micro_batch=2)
c = inf.sharded_latent_search(mesh, *m._operands(mesh, 'images'), x6, split='images', **kw)
c2 = inf.sharded_latent_search(mesh, *m._operands(mesh, 'images'), x6, split='images', **kw)
d = inf.latent_search(*m._operands(), x6, **kw)
try:
  inf.sharded_latent_search(mesh, m.params, *m.bank, jnp.zeros((3, 784)), n_iter=2)
  error = ''
except ValueError as e:
  error = str(e)
print(json.dumps({'devices': jax.local_device_count(), 'error': error,
                  'split': inf.choose_split(10, 2), 'split3': inf.choose_split(10, 3),
                  'a': np.asarray(a['scores']).tolist(), 'b': np.asarray(b['scores']).tolist(),
                  'za': np.asarray(a['latents']).tolist(), 'zb': np.asarray(b['latents']).tolist(),
                  'c': np.asarray(c['scores']).tolist(), 'c2': np.asarray(c2['scores']).tolist(),
                  'd': np.asarray(d['scores']).tolist()}))
"""


def test_infer_split_over_two_host_devices_equals_one_device(tmp_path):
  """Inference split over two host devices (by classes, the default for ten classes, or by
  images) gives the scores of one device, and the same scores on every run."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  script = tmp_path / "sharded.py"
  script.write_text(_SHARDED_SCRIPT)
  env = dict(
    os.environ,
    XLA_FLAGS="--xla_force_host_platform_device_count=2",
    JAX_PLATFORMS="cpu",
    RVL_QUIET="1",
  )
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  proc = subprocess.run(
    [sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=root, timeout=600
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["devices"] == 2
  assert "argument 'x'" in out["error"] and "divisible" in out["error"]
  assert out["split"] == "classes" and out["split3"] == "images"
  assert np.asarray(out["a"]).shape == (5, 10)
  np.testing.assert_allclose(out["a"], out["b"], rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(out["za"], out["zb"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out["c"], out["d"], rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(out["c"], out["c2"])  # run-to-run deterministic


@pytest.mark.parametrize("forward", ["gemm", "lax", "subpixel", "taps"])
@pytest.mark.parametrize(
  "k,stride,c_in,c_out,hw",
  [(5, 2, 6, 4, 4), (3, 2, 3, 2, 5), (4, 1, 5, 1, 6), (3, 3, 2, 1, 4), (4, 1, 3, 2, 6)],
)
def test_conv_transpose_forms_and_gradients_match_lax(forward, k, stride, c_in, c_out, hw):
  """Every forward form, the hand-written input gradient and the kernel cotangent equal
  lax.conv_transpose and its autodiff (odd sizes, strides 1-3, one or more output channels)."""
  if forward == "taps" and (c_out != 1 or stride != 1):
    with pytest.raises(ValueError, match="argument 'forward'"):
      inf.prepare_conv_transpose(jnp.zeros((k, k, c_out, c_in)), forward, stride)
    return
  kh, kw, kg = jax.random.split(jax.random.PRNGKey(5), 3)
  h = jax.random.normal(kh, (3, hw, hw + 1, c_in))
  kernel = jax.random.normal(kw, (k, k, c_out, c_in))  # (kh, kw, out, in)
  ref = lambda hh, kk: jax.lax.conv_transpose(
    hh, kk, (stride, stride), "VALID", dimension_numbers=inf._DN, transpose_kernel=True
  )
  y_ref, vjp_ref = jax.vjp(ref, h, kernel)
  y, vjp = jax.vjp(lambda hh, kk: inf.conv_transpose(hh, kk, stride, forward), h, kernel)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-4)
  g = jax.random.normal(kg, y_ref.shape)
  for a, b in zip(vjp(g), vjp_ref(g)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_search_decoder_inside_loop_matches_flax_decoder():
  """The prepared decoder (the layer forms the latent search uses) equals nets.Decoder."""
  vae = nets.VAE()
  var = vae.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
  z = jax.random.normal(jax.random.PRNGKey(1), (5, 8))
  ref = vae.apply(var, z, method=vae.decode)[..., 0]
  got = inf.decode_logits_batch(inf.prepare_decoder(inf.fuse_decoder(var)), z)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


def test_bank_first_built_inside_jit_is_concrete(tiny_abs):
  """A fresh model first called inside an attack's jit decodes its bank eagerly: the cached bank
  holds concrete arrays (no leaked tracer), and later calls inside and outside jit agree."""
  vaes, _ = tiny_abs
  m = models.ABS(vaes, n_samples=64, n_iter=2, batch_size=3)
  x = jnp.asarray(np.random.RandomState(3).rand(3, 28, 28, 1).astype(np.float32))
  traced = jax.jit(lambda v: m(v))(x)
  assert not any(isinstance(a, jax.core.Tracer) for a in m.bank)
  np.testing.assert_allclose(np.asarray(traced), np.asarray(m(np.asarray(x))), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(jax.jit(lambda v: m(v))(x)), np.asarray(traced))
