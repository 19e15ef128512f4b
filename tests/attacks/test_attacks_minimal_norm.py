"""Minimal-norm attacks against the closed form on a linear classifier.

For logits z = W^T x + b the adversarial region of a sample of class y is the union of the
half-spaces {z_j >= z_y}, so (away from the box constraints) its L2 distance is exactly
min_j (z_y - z_j) / |w_y - w_j|_2 and its L-inf distance min_j (z_y - z_j) / |w_y - w_j|_1.
The inputs are chosen so that the closest boundary points stay inside [0, 1]^D.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.attacks import minimal_norm as mn

D, K, N = 64, 5, 6
_rng = np.random.default_rng(0)
W = jnp.asarray(_rng.normal(size=(D, K)) * 0.5, jnp.float32)
B = jnp.asarray(_rng.normal(size=(K,)) * 0.1, jnp.float32)
X = jnp.asarray(_rng.uniform(0.45, 0.55, size=(N, 8, 8, 1)), jnp.float32)


def linear(x):
  return x.reshape(x.shape[0], -1) @ W + B


Y = jnp.argmax(linear(X), axis=1).astype(jnp.int32)


def closed_form(p):
  z = np.asarray(linear(X))
  w = np.asarray(W)
  y = np.asarray(Y)
  out = []
  for i in range(N):
    dw = w[:, [y[i]]] - w  # (D, K)
    norms = np.linalg.norm(dw, ord=1 if p == np.inf else 2, axis=0)  # dual norm
    gap = z[i, y[i]] - z[i]
    cand = np.where(np.arange(K) == y[i], np.inf, gap / np.maximum(norms, 1e-12))
    j = int(np.argmin(cand))
    # closest point is inside the box (so the unconstrained optimum is the constrained one)
    if p == 2:
      shift = cand[j] * np.abs(dw[:, j]) / norms[j]
    else:
      shift = np.full(D, cand[j])
    assert np.all(np.asarray(X[i]).ravel() + shift < 1) and np.all(
      np.asarray(X[i]).ravel() - shift > 0
    )
    out.append(cand[j])
  return np.asarray(out)


def _check(tr, metric, p, lo, hi):
  d = np.asarray(tr.dist[metric])
  ref = closed_form(p)
  assert np.all(np.isfinite(d))
  # Every reported adversarial is misclassified, so it cannot beat the exact minimum ...
  assert np.all(d >= ref * lo), (d, ref)
  # ... and the attack gets close to it.
  assert np.all(d <= ref * hi), (d, ref)
  pred = np.asarray(jnp.argmax(linear(tr.best[metric]), 1))
  assert np.all(pred != np.asarray(Y))


def test_closed_form_inputs_are_sensible():
  ref = closed_form(2)
  assert np.all((ref > 0.05) & (ref < 1.0))


CW_ARGS = dict(binary_search_steps=8, steps=150, lr=0.01, initial_const=0.1)


@functools.lru_cache(maxsize=None)
def _cw_untargeted():
  return mn.carlini_wagner_l2(linear, X, Y, **CW_ARGS)


def test_carlini_wagner_reaches_the_boundary():
  _check(_cw_untargeted(), "l2", 2, 0.999, 1.02)


def test_carlini_wagner_targeted():
  t = (Y + 1) % K
  tr = mn.carlini_wagner_l2(linear, X, Y, targets=t, **CW_ARGS)
  pred = np.asarray(jnp.argmax(linear(tr.best["l2"]), 1))
  np.testing.assert_array_equal(pred, np.asarray(t))
  # The targeted minimum is the distance to the target's region, not below the untargeted one.
  assert np.all(np.asarray(tr.dist["l2"]) >= np.asarray(_cw_untargeted().dist["l2"]) * 0.999)


def test_ddn_reaches_the_boundary_and_restricts_to_eps():
  tr = mn.ddn(linear, X, Y, n_iter=300, init_eps=0.5, gamma=0.02)
  _check(tr, "l2", 2, 0.999, 1.03)
  ref = closed_form(2)
  eps = [0.5 * ref.min(), 1.1 * ref.max()]
  xa, ok, _ = mn.ddn(linear, X, Y, eps=eps, n_iter=300, init_eps=0.5, gamma=0.02)
  assert xa.shape == (2,) + X.shape and ok.shape == (2, N)
  assert not np.any(np.asarray(ok[0])) and np.all(np.asarray(ok[1]))
  norms = np.linalg.norm(np.asarray(xa - X[None]).reshape(2, N, -1), axis=-1)
  assert np.all(norms <= np.asarray(eps)[:, None] + 1e-4)


@pytest.mark.parametrize("norm,p,hi", [("l2", 2, 1.25), ("linf", np.inf, 1.6)])
def test_hop_skip_jump_gets_within_a_factor(norm, p, hi):
  tr = mn.hop_skip_jump(
    linear, X, Y, jax.random.PRNGKey(0), norm=norm, iterations=25, init_evals=50, max_evals=300
  )
  metric = "l2" if norm == "l2" else "linf"
  _check(tr, metric, p, 0.999, hi)


def test_bad_arguments():
  with pytest.raises(ValueError, match="argument 'norm'"):
    mn.hop_skip_jump(linear, X, Y, jax.random.PRNGKey(0), norm="l1")
  with pytest.raises(ValueError, match="argument 'targets'"):
    mn.carlini_wagner_l2(linear, X, Y, targets=np.zeros(N + 1, np.int32))
  with pytest.raises(ValueError, match="argument 'eps'"):
    mn.ddn(linear, X, Y, eps=-1.0)
  with pytest.raises(ValueError, match="argument 'logits_fn'"):
    mn.ddn(linear_bad, X, Y)


def linear_bad(x):
  return linear(x)[:, :, None]
