"""Named random streams."""

import jax
import numpy as np

from rvl_jax.core import prng


def test_name_hash_is_the_stable_crc32():
  assert prng.name_hash("train") == 1550247075
  assert prng.name_hash("apgd-ce") == 1732519655


def test_fold_in_name_gives_independent_reproducible_streams():
  key = jax.random.PRNGKey(0)
  a1, a2 = prng.fold_in_name(key, "a"), prng.fold_in_name(key, "a")
  b = prng.fold_in_name(key, "b")
  np.testing.assert_array_equal(jax.random.key_data(a1), jax.random.key_data(a2))
  assert not np.array_equal(jax.random.normal(a1, (8,)), jax.random.normal(b, (8,)))
  # The name's hash is taken to 31 bits before folding in.
  expected = jax.random.fold_in(key, prng.name_hash("apgd-ce") & 0x7FFFFFFF)
  np.testing.assert_array_equal(
    jax.random.key_data(prng.fold_in_name(key, "apgd-ce")), jax.random.key_data(expected)
  )


def test_stream_key_and_numpy_rng_are_named_streams():
  import jax
  import numpy as np

  from rvl_jax.core import prng

  np.testing.assert_array_equal(
    jax.random.key_data(prng.stream_key(3, "init")),
    jax.random.key_data(prng.fold_in_name(jax.random.PRNGKey(3), "init")),
  )
  assert not np.array_equal(
    jax.random.key_data(prng.stream_key(3, "init")), jax.random.key_data(prng.stream_key(3, "data"))
  )
  a = prng.numpy_rng(3, "split").integers(0, 2**31, size=4)
  np.testing.assert_array_equal(a, prng.numpy_rng(3, "split").integers(0, 2**31, size=4))
  assert not np.array_equal(a, prng.numpy_rng(4, "split").integers(0, 2**31, size=4))
  assert not np.array_equal(a, prng.numpy_rng(3, "other").integers(0, 2**31, size=4))
