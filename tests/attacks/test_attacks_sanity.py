"""Attack sanity tests: bounds, 100% success of unbounded attacks on an undefended
model, adversarials re-verified, constant model never fooled, determinism, exact DeepFool."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import conftest_attacks as M  # noqa: E402

from rvl_jax import attacks as A  # noqa: E402

KEY = jax.random.PRNGKey(0)

# Small budgets: the tests check semantics, not the paper's numbers.
ATTACKS = {
  "salt_pepper": (
    "l0",
    lambda f, x, y, b: A.salt_and_pepper(f, x, y, KEY, repetitions=3, binary=b),
  ),
  "pointwise": (
    "l0",
    lambda f, x, y, b: A.pointwise(
      f, x, y, KEY, restarts=2, max_steps=1500, sp_repetitions=3, binary=b
    ),
  ),
  "gaussian": ("l2", lambda f, x, y, b: A.additive_gaussian(f, x, y, KEY, binary=b)),
  "boundary": ("l2", lambda f, x, y, b: A.boundary(f, x, y, KEY, iterations=60, binary=b)),
  "fgm": ("l2", lambda f, x, y, b: A.fgm(f, x, y, binary=b)),
  "fgsm": ("linf", lambda f, x, y, b: A.fgsm(f, x, y, binary=b)),
  "deepfool_l2": ("l2", lambda f, x, y, b: A.deepfool(f, x, y, binary=b)),
  "deepfool_linf": ("linf", lambda f, x, y, b: A.deepfool(f, x, y, norm="linf", binary=b)),
  "bim_l2": ("l2", lambda f, x, y, b: A.bim(f, x, y, norm="l2", search_steps=6, binary=b)),
  "bim_linf": ("linf", lambda f, x, y, b: A.bim(f, x, y, search_steps=6, binary=b)),
  "mim": ("linf", lambda f, x, y, b: A.mim(f, x, y, search_steps=6, binary=b)),
  "fgsm_ge": ("linf", lambda f, x, y, b: A.fgsm(f, x, y, gradient="ge", binary=b)),
}
UNBOUNDED = ("salt_pepper", "pointwise", "boundary", "bim_l2", "bim_linf", "mim")


@pytest.fixture(scope="module")
def linear_results():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  return x, y, {name: run(f, x, y, False) for name, (_, run) in ATTACKS.items()}


def test_bounds_and_reverified_adversarials(linear_results):
  x, y, res = linear_results
  f = M.model("linear")
  for name, tr in res.items():
    for m in A.METRICS:
      best = np.asarray(tr.best[m])
      assert best.min() >= 0.0 and best.max() <= 1.0, (name, m)
      ok = np.isfinite(np.asarray(tr.dist[m]))
      pred = np.asarray(jnp.argmax(f(jnp.asarray(best)), 1))
      assert np.all(pred[ok] != y[ok]), (name, m)
      np.testing.assert_allclose(
        np.asarray(A.distance(x, best, m))[ok], np.asarray(tr.dist[m])[ok], rtol=1e-5, atol=1e-6
      )


def test_unbounded_attacks_fool_undefended_model_always(linear_results):
  _, _, res = linear_results
  for name in UNBOUNDED:
    metric = ATTACKS[name][0]
    assert np.all(np.isfinite(np.asarray(res[name].dist[metric]))), name


def test_pointwise_beats_salt_and_pepper_in_l0(linear_results):
  _, _, res = linear_results
  pw = np.asarray(res["pointwise"].dist["l0"])
  sp = np.asarray(res["salt_pepper"].dist["l0"])
  assert np.median(pw) < 0.5 * np.median(sp)


def test_deepfool_is_exact_on_a_linear_model():
  """For a linear model CE_y - CE_k = l_k - l_y, so the first DeepFool step lands at 1.05 x the
  distance to the nearest class hyperplane."""
  rng = np.random.default_rng(0)
  w = jnp.asarray(rng.normal(0, 0.01, (784, 10)), jnp.float32)

  def f(x):
    return x.reshape(x.shape[0], -1) @ w

  x = jnp.asarray(0.5 + rng.uniform(-0.02, 0.02, (4, 28, 28, 1)), jnp.float32)
  y = jnp.argmax(f(x), 1).astype(jnp.int32)
  tr = A.deepfool(f, x, y)
  lg = np.asarray(f(x))
  wn = np.asarray(w)
  expected = []
  for i in range(4):
    yi = int(y[i])
    d = [
      (lg[i, yi] - lg[i, k]) / np.linalg.norm(wn[:, yi] - wn[:, k]) for k in range(10) if k != yi
    ]
    expected.append(1.05 * min(d))
  np.testing.assert_allclose(np.asarray(tr.dist["l2"]), expected, rtol=1e-3)


def test_constant_model_is_never_fooled():
  f = M.model("constant")
  x, _ = M.eval_batch(6)
  y = np.full((6,), 3, np.int32)
  for name in ("salt_pepper", "pointwise", "gaussian", "boundary", "bim_linf", "fgsm_ge"):
    tr = ATTACKS[name][1](f, x, y, False)
    for m in A.METRICS:
      assert np.all(np.isinf(np.asarray(tr.dist[m]))), (name, m)
  tr = A.transfer(f, M.model("linear"), x, y)
  assert np.all(np.isinf(np.asarray(tr.dist["l2"])))
  out = A.distal(f, KEY, n=2, target=1, alpha=1.0, eta=0.0, max_iter=5, gradient="true")
  assert not np.any(np.asarray(out["reached"]))


def test_misclassified_inputs_are_at_distance_zero():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  y = y.copy()
  y[1] = (y[1] + 1) % 10
  for name in ("salt_pepper", "fgsm", "bim_linf"):
    metric, run = ATTACKS[name]
    tr = run(f, x, y, False)
    assert float(tr.dist[metric][1]) == 0.0
    np.testing.assert_array_equal(np.asarray(tr.best[metric][1]), x[1])


def test_binary_model_adversarials_are_postprocessed():
  f = M.model("binary_linear")
  x, y = M.eval_batch(6)
  pred = np.asarray(jnp.argmax(f(jnp.asarray(x)), 1))
  for name in ("pointwise", "bim_linf"):
    metric, run = ATTACKS[name]
    tr = run(f, x, y, True)
    best = np.asarray(tr.best[metric])
    ok = np.isfinite(np.asarray(tr.dist[metric])) & (pred == y)
    assert ok.any(), name
    # Post-processed: every changed pixel sits exactly at the threshold side.
    changed = best[ok] != x[ok]
    vals = best[ok][changed]
    assert np.all(np.isclose(vals, 0.5) | np.isclose(vals, 0.49999)), name
    assert np.all(np.asarray(jnp.argmax(f(jnp.asarray(best)), 1))[ok] != y[ok]), name


def test_determinism_for_fixed_key():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  for name in ("pointwise", "boundary", "gaussian"):
    _, run = ATTACKS[name]
    a, b = run(f, x, y, False), run(f, x, y, False)
    for m in A.METRICS:
      np.testing.assert_array_equal(np.asarray(a.dist[m]), np.asarray(b.dist[m]))
  a = A.salt_and_pepper(f, x, y, jax.random.PRNGKey(5), repetitions=3)
  b = A.salt_and_pepper(f, x, y, jax.random.PRNGKey(6), repetitions=3)
  assert not np.array_equal(np.asarray(a.best["l0"]), np.asarray(b.best["l0"]))


def test_fixed_epsilon_pgd_respects_ball_and_fools_linear_model():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  xa, fooled = A.pgd(f, x, y, KEY, eps=0.3)
  assert float(jnp.max(jnp.abs(xa - x))) <= 0.3 + 1e-6
  assert float(xa.min()) >= 0 and float(xa.max()) <= 1
  assert np.all(np.asarray(fooled))
  xs, fooled_small = A.pgd(f, x, y, KEY, eps=1e-4, step=1e-5)
  assert not np.any(np.asarray(fooled_small))


def test_transfer_with_self_as_substitute_always_succeeds():
  f = M.model("linear")
  x, y = M.eval_batch(6)
  tr = A.transfer(f, f, x, y)
  assert np.all(np.isfinite(np.asarray(tr.dist["l2"])))
  fb1 = lambda v: A.foolbox1_to_true(v, "l2", x.shape[1:])  # the substitute's L2 BIM budget
  bim = A.bim(f, x, y, norm="l2", eps0=fb1(0.3), step0=fb1(0.05))
  # Line search along the substitute's minimal L2 BIM direction gets within the bisection
  # resolution of the direct attack (same model).
  assert np.all(np.asarray(tr.dist["l2"]) <= np.asarray(bim.dist["l2"]) * 1.01 + 1e-4)


def test_latent_descent_on_prototype_model():
  """A toy 'analysis by synthesis' model: class score = -|x - P_c|^2, reconstruction = P_c."""
  rng = np.random.default_rng(1)
  protos = jnp.asarray(rng.uniform(0, 1, (10, 28, 28, 1)), jnp.float32)

  def abs_fn(x):
    d = jnp.sum(jnp.square(x[:, None] - protos[None]), axis=(2, 3, 4))
    return -d, jnp.broadcast_to(protos[None], (x.shape[0],) + protos.shape)

  x = jnp.clip(protos + 0.05 * jnp.asarray(rng.normal(size=protos.shape), jnp.float32), 0, 1)
  y = jnp.arange(10, dtype=jnp.int32)
  tr = A.latent_descent(abs_fn, x, y)
  d = np.asarray(tr.dist["l2"])
  assert np.all(np.isfinite(d))
  # Exact boundary along the straight path to the other prototype is at most half-way.
  pd = np.array(jnp.sqrt(jnp.sum(jnp.square(protos[:, None] - protos[None]), axis=(2, 3, 4))))
  np.fill_diagonal(pd, np.inf)
  assert np.all(d <= 0.75 * pd.min(1))
  best = tr.best["l2"]
  assert np.all(np.asarray(jnp.argmax(abs_fn(best)[0], 1)) != np.arange(10))
  tr2 = A.latent_descent(abs_fn, x, y, variant="reference_demo", n_grid=11, max_steps=5)
  assert np.all(np.isfinite(np.asarray(tr2.dist["l2"])))


def test_distal_reaches_high_confidence_on_linear_model():
  f = M.model("linear")
  out = A.distal(f, KEY, n=2, target=1, alpha=1.0, eta=0.0, max_iter=200, gradient="true")
  assert np.all(np.asarray(out["reached"]))
  assert np.all(np.asarray(out["prob"]) >= 0.9)
  x = np.asarray(out["x"])
  assert x.min() >= 0 and x.max() <= 1


def test_latent_descent_on_binarized_prototype_model():
  rng = np.random.default_rng(2)
  protos = jnp.asarray(rng.uniform(0, 1, (10, 28, 28, 1)) > 0.5, jnp.float32)

  def abs_fn(x):
    xb = A.binarize(x)
    d = jnp.sum(jnp.square(xb[:, None] - protos[None]), axis=(2, 3, 4))
    return -d, jnp.broadcast_to(protos[None], (x.shape[0],) + protos.shape)

  x = protos * 0.8 + 0.1
  y = jnp.arange(10, dtype=jnp.int32)
  tr = A.latent_descent(abs_fn, x, y, binary=True)
  d = np.asarray(tr.dist["l2"])
  assert np.all(np.isfinite(d))
  assert np.all(np.asarray(jnp.argmax(abs_fn(tr.best["l2"])[0], 1)) != np.arange(10))
  lit = A.latent_descent(abs_fn, x, y, binary=True, binary_target="threshold", max_steps=50)
  assert np.all(np.isinf(np.asarray(lit.dist["l2"])))  # never crosses the threshold
