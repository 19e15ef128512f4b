"""Bad input to the attacks' common argument check: each error names the argument."""

import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.attacks import core

W = jnp.asarray(np.random.default_rng(0).normal(size=(784, 10)), jnp.float32)


def linear(x):
  return x.reshape(x.shape[0], -1) @ W


X = np.full((3, 28, 28, 1), 0.5, np.float32)
Y = np.zeros(3, np.int32)


def _check(**kw):
  args = dict(norm="l2", eps=0.5, supported_norms=("l2", "linf"))
  args.update(kw)
  f = args.pop("f", linear)
  return core.check_attack_args(f, X, Y, **args)


def test_valid_arguments_pass_and_convert():
  x, y, eps, targets = _check(eps=[0.5, 1.0], targets=np.array([1, 2, 3]), targeted=True)
  assert x.dtype == jnp.float32 and y.dtype == jnp.int32
  np.testing.assert_array_equal(eps, np.array([0.5, 1.0], np.float32))
  np.testing.assert_array_equal(targets, [1, 2, 3])
  assert _check(eps=None)[2] is None


@pytest.mark.parametrize("eps", [-0.1, [0.5, -1.0], float("nan"), [[0.1]], []])
def test_bad_eps(eps):
  with pytest.raises(ValueError, match="argument 'eps'"):
    _check(eps=eps)


def test_unsupported_norm():
  with pytest.raises(
    ValueError,
    match=r"argument 'norm': expected one of \['l2', 'linf'\], "
    r"got 'l1'",
  ):
    _check(norm="l1")


def test_logits_fn_of_wrong_output_shape():
  with pytest.raises(ValueError, match=r"argument 'logits_fn'.*got \(3, 10, 1\)"):
    _check(f=lambda x: linear(x)[..., None])
  with pytest.raises(ValueError, match=r"argument 'logits_fn'.*got \(3,\)"):
    _check(f=lambda x: jnp.sum(x, axis=(1, 2, 3)))
  with pytest.raises(ValueError, match="argument 'logits_fn'.*calling it failed"):
    _check(f=lambda x: x.reshape(x.shape[0], 5) @ jnp.ones((5, 10)))


def test_targeted_without_targets_and_bad_targets():
  with pytest.raises(ValueError, match="argument 'targets': expected .* got None"):
    _check(targeted=True)
  with pytest.raises(ValueError, match="argument 'targets'"):
    _check(targets=np.array([0, 1, 10]), targeted=True)
  with pytest.raises(ValueError, match="argument 'targets'"):
    _check(targets=np.array([0, 1]), targeted=True)


def test_foolbox1_conversion():
  assert core.foolbox1_to_true(1.5, "l2", (28, 28, 1)) == pytest.approx(42.0)
  assert core.foolbox1_to_true(0.3, "linf", (28, 28, 1)) == pytest.approx(0.3)
  with pytest.raises(ValueError, match="argument 'norm'"):
    core.foolbox1_to_true(0.3, "l3", (28, 28, 1))
