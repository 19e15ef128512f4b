"""Every `:paper` config's step traces at the paper's shapes (jax.eval_shape: nothing is compiled or
allocated), so a paper-scale shape error fails here instead of on the user's accelerator. The
compiled versions, with FLOPs and memory, come from `python -m experiments.speed.paper_scale`.
"""

import glob
import importlib
import os

import jax
import numpy as np
import pytest

from experiments.speed import cases as ps
from rvl_jax.core import cost

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Deep models whose backward pass takes 10-25 s to trace. INIT_ONLY: only their initialisation at
# the paper's input shape (a forward pass) is traced here. NOT_TRACED: the benchmark's transfer
# models, whose forward pass at the sweep's 64x64 input is traced by
# tests/benchmark/test_benchmark_models.py and whose step is the supervised step traced here for
# the other sweep models. The benchmark script compiles all of their full steps.
INIT_ONLY = {("racecar/e7_resnet", "lrr step"), ("noise/imagenet", "ANT1x1 joint step")}
NOT_TRACED = {("benchmark/sweep", f"{m} step") for m in ("resnet50", "resnet101", "densenet121")}


def _configs_with_a_paper_variant():
  found = set()
  for path in glob.glob(os.path.join(REPO, "experiments", "*", "configs", "*.py")):
    system = path.split(os.sep)[-3]
    name = os.path.splitext(os.path.basename(path))[0]
    mod = importlib.import_module(f"experiments.{system}.configs.{name}")
    if not hasattr(mod, "get_config"):
      continue
    try:
      mod.get_config("paper")
    except ValueError:
      continue
    found.add((system, name))
  return found


def test_every_paper_config_is_covered():
  assert set(ps.PAPER_CONFIGS) == _configs_with_a_paper_variant()


def _shapes(tree):
  return jax.tree_util.tree_map(lambda l: (tuple(l.shape), np.dtype(l.dtype)), tree)


@pytest.mark.parametrize(
  "system,name", ps.PAPER_CONFIGS, ids=[f"{s}/{n}" for s, n in ps.PAPER_CONFIGS]
)
def test_paper_step_traces_at_paper_shapes(system, name):
  cases = ps.config_cases(system, name)
  assert cases
  for case in cases:
    if (case.config, case.name) in NOT_TRACED:
      continue
    args = case.abstract_args()
    batch = jax.tree_util.tree_leaves(args[-1])
    assert batch[0].shape[0] in (case.global_batch, case.global_batch // 2), case.name
    assert case.steps > 0 and cost.count_params(case.params_of(args)) > 0
    if (case.config, case.name) in INIT_ONLY:
      continue
    out = jax.eval_shape(case.fn, *args)
    if case.train:
      new_state, metrics = out
      assert _shapes(new_state) == _shapes(args[0]), case.name  # the step keeps the state's shapes
      assert all(m.shape == () for m in jax.tree_util.tree_leaves(metrics)), case.name
    else:
      assert all(l.shape[0] == case.global_batch for l in jax.tree_util.tree_leaves(out)), case.name
