"""The oracle-table experiment through the slowvae registry, at smoke counts."""

import json
import os

from experiments.slowvae import EXPERIMENTS
from experiments.slowvae.configs import oracle_table
from rvl_jax.core import experiment


def test_oracle_table_experiment_separates_identity_from_rotation(tmp_path):
  res = experiment.dispatch(EXPERIMENTS, oracle_table.get_config("smoke"), str(tmp_path))
  # The identity oracle's codes are the factors themselves: MCC is exact even at smoke counts,
  # and a random rotation mixes the factors (reference table: 100.0 vs 73.2).
  assert res["identity/mcc"] > 99.0, res["identity/mcc"]
  assert res["rotation/mcc"] < 90.0, res["rotation/mcc"]
  table = open(os.path.join(tmp_path, "oracle_table.md")).read()
  assert "| identity (reference) | 100.0 | 89.6 |" in table
  with open(os.path.join(tmp_path, "results.json")) as f:
    assert json.load(f)["identity/mcc"] == res["identity/mcc"]
