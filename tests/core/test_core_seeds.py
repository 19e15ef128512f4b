"""core.seeds: per-seed keys and their aggregation."""

import numpy as np
import pytest

from rvl_jax.core import seeds


def test_seed_key_round_trip():
  assert seeds.seed_key("std_A", 3) == "std_A_s3"
  assert seeds.split_seed_key("std_A_s3") == ("std_A", 3)
  assert seeds.split_seed_key("std_B-fs_s10") == ("std_B-fs", 10)
  assert seeds.split_seed_key("nosuffix") is None
  with pytest.raises(ValueError, match="stem"):
    seeds.seed_key("", 0)


def test_aggregate_over_seeds():
  results = {
    "rr_s0/acc": 0.5,
    "rr_s1/acc": 0.7,
    "std_s0/acc": 0.9,
    "wall_seconds": 3.0,
    "rr_s0/err": 1.0,
    "rr_s1/err": 3.0,
  }
  agg = seeds.aggregate_over_seeds(results)
  np.testing.assert_allclose(agg["rr/acc_mean"], 0.6)
  np.testing.assert_allclose(agg["rr/acc_std"], 0.1)
  np.testing.assert_allclose(agg["rr/err_mean"], 2.0)
  assert agg["std/acc_std"] == 0.0
  assert set(agg) == {
    "rr/acc_mean",
    "rr/acc_std",
    "rr/err_mean",
    "rr/err_std",
    "std/acc_mean",
    "std/acc_std",
  }
