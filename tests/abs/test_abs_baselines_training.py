"""Baselines (Schott et al. 2019, Sec. 6) and VAE training (Sec. 3, eq. 2): small exact checks."""

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.abs import baselines, nets, training


def test_kl_and_beta_schedule():
  mu = jnp.array([[1.0, 0.0]])
  logvar = jnp.array([[0.0, np.log(4.0)]])
  np.testing.assert_allclose(
    training.kl_divergence(mu, logvar), [0.5 * (1 + 1 - 1 - 0 + 0 + 4 - 1 - np.log(4))], rtol=1e-6
  )
  sched = [float(training.beta_schedule(s, 10.0)) for s in (0, 9, 10, 250, 490, 500, 10_000)]
  np.testing.assert_allclose(sched, [10, 10, 10 - 9 / 50, 10 - 9 * 25 / 50, 10 - 9 * 49 / 50, 1, 1])


def test_vae_training_reduces_loss(tmp_path):
  rng = np.random.RandomState(0)
  images = (rng.rand(64, 28, 28, 1) < 0.2).astype(np.float32)
  _, res = training.train_vae(
    images, num_steps=12, batch_size=16, log_every=6, workdir=str(tmp_path / "vae")
  )
  rows = [r for r in res.history if "loss" in r]
  assert rows[-1]["recon_error"] < rows[0]["recon_error"]
  assert 9.0 < rows[0]["beta"] <= 10.0  # interval average of the annealed KL weight


def test_binarize_ste_gradient():
  x = jnp.array([0.2, 0.5, 0.7])
  np.testing.assert_array_equal(baselines.binarize_ste(x), [0.0, 1.0, 1.0])
  np.testing.assert_array_equal(
    jax.grad(lambda v: jnp.sum(baselines.binarize_ste(v) * 3.0))(x), [3.0, 3.0, 3.0]
  )


def test_nearest_neighbour_logits():
  rng = np.random.RandomState(1)
  ref = rng.rand(30, 28, 28, 1).astype(np.float32)
  labels = np.arange(30) % 10
  fn = baselines.nearest_neighbour_logits_fn(ref, labels, batch_size=4)
  x = rng.rand(5, 28, 28, 1).astype(np.float32)
  got = np.asarray(fn(x))
  d = np.linalg.norm(x.reshape(5, 1, -1) - ref.reshape(1, 30, -1), axis=-1)
  want = np.stack([-d[:, labels == c].min(1) for c in range(10)], 1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  assert np.all(np.asarray(fn(ref[:10])).argmax(-1) == labels[:10])


def test_pgd_stays_in_ball_and_madry_shapes():
  model = nets.MadryCNN()
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))["params"]
  fn = baselines.madry_logits_fn(params)
  x = jnp.asarray(np.random.RandomState(2).rand(3, 28, 28, 1).astype(np.float32))
  y = jnp.array([0, 1, 2])
  xa = baselines.pgd_linf(fn, x, y, jax.random.PRNGKey(1), eps=0.1, steps=3, step_size=0.05)
  assert float(jnp.max(jnp.abs(xa - x))) <= 0.1 + 1e-6
  assert float(xa.min()) >= 0 and float(xa.max()) <= 1
  assert fn(x).shape == (3, 10)
  n_params = sum(p.size for p in jax.tree_util.tree_leaves(params))
  assert n_params == 32 * 25 + 32 + 64 * 32 * 25 + 64 + 3136 * 1024 + 1024 + 10240 + 10


def test_train_cnn_and_madry_smoke():
  rng = np.random.RandomState(3)
  images = rng.rand(40, 28, 28, 1).astype(np.float32)
  labels = np.arange(40) % 10
  v, fn = baselines.train_cnn(images, labels, num_steps=3, batch_size=8, binary=True)
  assert fn(images[:2]).shape == (2, 10)
  n = sum(p.size for p in jax.tree_util.tree_leaves(v["params"]))
  assert n == 249_228
  _, mfn = baselines.train_madry(images, labels, num_steps=2, batch_size=4, pgd_steps=2)
  assert mfn(images[:2]).shape == (2, 10)


def test_training_eps_warmup_ramp():
  assert baselines.training_eps(0.3, 0, 0) == 0.3
  ramp = [float(baselines.training_eps(0.3, s, 4)) for s in (0, 1, 3, 10)]
  np.testing.assert_allclose(ramp, [0.075, 0.15, 0.3, 0.3], rtol=1e-6)
