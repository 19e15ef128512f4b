"""Exact checks of the shared machinery: distances, tracker, binarization, gradient estimates."""

import os
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import conftest_attacks as M  # noqa: E402

from rvl_jax import attacks as A  # noqa: E402
from rvl_jax.attacks import core  # noqa: E402


def test_distances_exact():
  x0 = jnp.zeros((2, 2, 2, 1))
  x = x0.at[0, 0, 0, 0].set(0.5).at[0, 1, 1, 0].set(-0.25).at[1, 0, 1, 0].set(1.0)
  np.testing.assert_allclose(A.distance(x0, x, "l0"), [2, 1])
  np.testing.assert_allclose(A.distance(x0, x, "l2"), [np.sqrt(0.25 + 0.0625), 1.0], rtol=1e-6)
  np.testing.assert_allclose(A.distance(x0, x, "linf"), [0.5, 1.0])
  np.testing.assert_allclose(A.distance(x0, x, "mse"), [(0.25 + 0.0625) / 4, 0.25], rtol=1e-6)
  with pytest.raises(ValueError, match="metric"):
    A.distance(x0, x, "l3")


def test_tracker_keeps_minimum_over_all_queries_and_flags():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  x, y = jnp.asarray(x), jnp.asarray(y)
  # Make sample 0 misclassified by relabelling: it must sit at distance 0.
  y_bad = y.at[0].set((y[0] + 1) % 10)
  tr = A.init_tracker(f, x, y_bad)
  np.testing.assert_array_equal(np.asarray(tr.dist["l2"])[0], 0.0)
  assert np.all(np.isinf(np.asarray(tr.dist["l2"])[1:]))
  rng = np.random.default_rng(0)
  oracle = {m: np.where(np.arange(6) == 0, 0.0, np.inf) for m in A.METRICS}
  for t in range(25):
    cand = jnp.asarray(
      np.clip(np.asarray(x) + rng.normal(0, 0.1 * (t + 1), x.shape), 0, 1), jnp.float32
    )
    tr, adv, _ = A.query(tr, f, cand)
    for m in A.METRICS:
      d = np.asarray(A.distance(x, cand, m))
      oracle[m] = np.where(np.asarray(adv), np.minimum(oracle[m], d), oracle[m])
  for m in A.METRICS:
    np.testing.assert_allclose(np.asarray(tr.dist[m]), oracle[m], rtol=1e-6)
    # The stored image has the stored distance and is adversarial.
    found = np.isfinite(oracle[m]) & (oracle[m] > 0)
    np.testing.assert_allclose(
      np.asarray(A.distance(x, tr.best[m], m))[found], oracle[m][found], rtol=1e-5
    )
    pred = np.asarray(jnp.argmax(f(tr.best[m]), 1))
    assert np.all(pred[found] != np.asarray(y_bad)[found])
  assert int(tr.queries[0]) == 26


def test_merge_takes_per_sample_minimum():
  f = M.model("linear")
  x, y = M.eval_batch(4)
  a = A.salt_and_pepper(f, x, y, jax.random.PRNGKey(0), repetitions=2)
  b = A.salt_and_pepper(f, x, y, jax.random.PRNGKey(1), repetitions=2)
  m = A.merge([a, b])
  for met in A.METRICS:
    np.testing.assert_array_equal(
      np.asarray(m.dist[met]), np.minimum(np.asarray(a.dist[met]), np.asarray(b.dist[met]))
    )


def test_binarize_ste_and_postprocess():
  x = jnp.array([0.2, 0.5, 0.49, 0.8])
  np.testing.assert_array_equal(A.binarize(x), [0, 1, 0, 1])
  g = jax.grad(lambda v: jnp.sum(A.binarize_ste(v) * jnp.arange(4.0)))(x)
  np.testing.assert_array_equal(g, jnp.arange(4.0))
  x0 = jnp.array([[0.1, 0.9, 0.3, 0.7]])
  xa = jnp.array([[0.8, 0.1, 0.4, 0.95]])
  pp = A.binary_postprocess(x0, xa)
  np.testing.assert_allclose(pp, [[0.5, 0.49999, 0.3, 0.7]], atol=1e-7)
  np.testing.assert_array_equal(A.binarize(pp), A.binarize(xa))
  assert float(jnp.abs(pp - x0).sum()) < float(jnp.abs(xa - x0).sum())


def test_true_and_estimated_gradients_agree_on_linear_model():
  f = M.model("linear")
  x, y = M.eval_batch(3)
  x = jnp.clip(jnp.asarray(x), 0.1, 0.9)  # keep probes inside the bounds
  y = jnp.asarray(y)
  g_true = A.true_grad(f)(x, y)
  g_est = A.estimated_grad(f, h=0.05, probe_batch=600)(x, y)
  chex.assert_shape(g_est, x.shape)
  np.testing.assert_allclose(g_est, g_true, atol=0.02 * float(jnp.abs(g_true).max()))
  j_true = core.true_class_jacobian(f)(x)
  j_est = core.estimated_class_jacobian(f, h=0.05, probe_batch=600)(x)
  chex.assert_shape(j_true, (3, 10, 28, 28, 1))
  np.testing.assert_allclose(j_est, j_true, atol=0.02 * float(jnp.abs(j_true).max()))
  # Column y of the Jacobian is the CE gradient.
  np.testing.assert_allclose(j_true[jnp.arange(3), y], g_true, rtol=1e-5, atol=1e-6)


def test_calibrated_probs():
  lg = jnp.array([[0.0, -1.0, -2.0], [-50.0, -50.0, -50.0]])
  p = A.calibrated_probs(lg, alpha=1.0, eta=0.0)
  np.testing.assert_allclose(p[0], jax.nn.softmax(lg[0]), rtol=1e-6)
  p = A.calibrated_probs(lg * 10, alpha=440.0, eta=3.9e-5)
  np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)  # far from data -> uniform
  np.testing.assert_allclose(jnp.sum(p, 1), 1.0, rtol=1e-6)


def test_bad_input_errors_name_the_argument():
  f = M.model("linear")
  with pytest.raises(ValueError, match="argument 'x'"):
    A.fgsm(f, np.ones((2, 28, 28, 1), np.float32) * 2, np.zeros(2, np.int32))
  with pytest.raises(ValueError, match="argument 'y'"):
    A.fgsm(f, np.ones((2, 28, 28, 1), np.float32), np.zeros(3, np.int32))
  with pytest.raises(ValueError, match="argument 'norm'"):
    A.deepfool(f, np.ones((2, 28, 28, 1), np.float32), np.zeros(2, np.int32), norm="l1")


def test_true_grad_keeps_direction_when_softmax_saturates():
  w = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)

  def f(x):
    return 3.0 * (x.reshape(x.shape[0], -1) @ w)

  x = jnp.asarray(np.random.default_rng(1).uniform(size=(5, 2, 2, 1)), jnp.float32)
  y = jnp.argmax(f(x), 1)
  g = A.true_grad(f)(x, y)
  np.testing.assert_allclose(
    g, jax.grad(lambda v: jnp.sum(A.cross_entropy(f(v), y)))(x), rtol=1e-4, atol=1e-7
  )
  big = lambda v: 1e4 * f(v)  # plain float32 CE gradient underflows to exactly 0 here
  assert float(jnp.abs(jax.grad(lambda v: jnp.sum(A.cross_entropy(big(v), y)))(x)).max()) == 0.0
  gb = A.true_grad(big)(x, y)
  assert np.all(np.asarray(jnp.abs(gb).reshape(5, -1).max(1)) > 0)
