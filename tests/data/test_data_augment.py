"""rvl_jax.data.augment: elastic/affine augmentation."""

import chex
import jax
import numpy as np
import pytest

from rvl_jax.data import augment


def _digits(n=6):
  x = np.zeros((n, 28, 28, 1), np.float32)
  x[:, 8:20, 12:16] = 1.0  # a vertical bar
  x[:, 8:11, 10:18] = 0.7
  return x


def test_zero_strength_is_identity():
  cfg = augment.ElasticAffine(max_rotation_deg=0, max_scale=0, max_shift=0, alpha=0)
  x = _digits()
  y = augment.elastic_affine(jax.random.PRNGKey(0), x, cfg)
  chex.assert_trees_all_close(y, x, atol=1e-6)
  y = augment.elastic_affine(jax.random.PRNGKey(0), x, augment.ElasticAffine(probability=0.0))
  chex.assert_trees_all_close(y, x, atol=0)


def test_transforms_per_image_stay_in_range_and_are_deterministic():
  x = _digits()
  key = jax.random.PRNGKey(3)
  y = np.asarray(augment.elastic_affine(key, x))
  chex.assert_shape(y, x.shape)
  assert y.min() >= 0.0 and y.max() <= 1.0 + 1e-6
  # every image changed, and differently (independent transforms per image)
  diffs = np.abs(y - x).reshape(len(x), -1).sum(-1)
  assert np.all(diffs > 1.0)
  assert np.abs(y[0] - y[1]).sum() > 1.0
  # mass is roughly preserved by a mild transform
  np.testing.assert_allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.4)
  np.testing.assert_array_equal(y, np.asarray(augment.elastic_affine(key, x)))


def test_pure_shift_moves_the_image():
  x = _digits(1)
  cfg = augment.ElasticAffine(max_rotation_deg=0, max_scale=0, max_shift=3.0, alpha=0)
  y = np.asarray(augment.elastic_affine(jax.random.PRNGKey(1), x, cfg))[0, ..., 0]
  com = lambda im: (
    np.array([np.sum(im * np.arange(28)[:, None]), np.sum(im * np.arange(28))]) / im.sum()
  )
  shift = com(y) - com(x[0, ..., 0])
  assert 0.05 < np.max(np.abs(shift)) <= 3.0 + 1e-3


def test_bad_arguments():
  with pytest.raises(ValueError, match="argument 'alpha'"):
    augment.ElasticAffine(alpha=-1.0)
  with pytest.raises(ValueError, match="argument 'probability'"):
    augment.ElasticAffine(probability=2.0)
  with pytest.raises(ValueError, match="argument 'images'"):
    augment.elastic_affine(jax.random.PRNGKey(0), np.zeros((28, 28, 1)))
