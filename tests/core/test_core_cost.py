"""FLOP counting, compile analysis and the table helpers of rvl_jax.core.cost."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.core import cost
from rvl_jax.core import io as rio


def test_flop_count_multiplies_loop_bodies_by_their_trip_count():
  x = jax.ShapeDtypeStruct((8, 16), jnp.float32)
  w = jax.ShapeDtypeStruct((16, 16), jnp.float32)
  once = cost.jaxpr_flops(jax.make_jaxpr(lambda x, w: x @ w)(x, w))
  assert once == 2 * 8 * 16 * 16
  looped = jax.make_jaxpr(lambda x, w: jax.lax.fori_loop(0, 5, lambda i, y: y @ w, x))(x, w)
  assert cost.jaxpr_flops(looped) == 5 * once
  conv = jax.make_jaxpr(lambda a, k: jax.lax.conv_general_dilated(a, k, (1, 1), "SAME"))(
    jax.ShapeDtypeStruct((2, 3, 8, 8), jnp.float32), jax.ShapeDtypeStruct((4, 3, 3, 3), jnp.float32)
  )
  assert cost.jaxpr_flops(conv) == 2 * (2 * 4 * 8 * 8) * 3 * 9


def _matmul_case():
  def make_args():
    return {"w": jnp.ones((16, 4))}, jnp.ones((8, 16))

  def fn(params, x):
    return jax.lax.fori_loop(0, 3, lambda i, y: y + x @ params["w"] @ params["w"].T, x)

  return cost.Case(
    "toy/config",
    "three matmul pairs",
    fn,
    make_args,
    global_batch=8,
    steps=10,
    train=False,
    params_of=lambda args: args[0],
  )


def test_analyse_projects_the_trip_counted_flops():
  row = cost.analyse(_matmul_case(), fraction=0.5)
  per_iter = 2 * (2 * 8 * 16 * 4)  # x @ w, then (8, 4) @ (4, 16)
  assert row["params"] == 64 and row["flops_counted"] == 3 * per_iter
  assert row["flops"] == max(row["flops_counted"], row["flops_xla"])
  assert row["step_seconds"] == pytest.approx(row["flops"] / (cost.PEAK_TF32 * 0.5))
  assert row["hours"] == pytest.approx(10 * row["step_seconds"] / 3600)
  assert row["peak_bytes"] >= 4 * (64 + 2 * 8 * 16)  # arguments + output, float32
  assert "| toy/config | three matmul pairs | 64 |" in cost.projection_table([row], 0.5)
  with pytest.raises(ValueError, match="argument 'fraction'"):
    cost.analyse(_matmul_case(), fraction=1.5)


def test_time_case_threads_nothing_for_an_evaluation():
  r = cost.time_case(_matmul_case(), reps=2)
  assert set(r) == {"compile_s", "step_s", "flops"} and r["flops"] >= 3 * 2 * (2 * 8 * 16 * 4)


def test_time_batches_counts_calls():
  calls = []
  cost.time_batches(lambda: calls.append(1), warmup=2, timed=5)
  assert len(calls) == 7


def test_formatting():
  assert cost.fmt_si(1.5e12, "B") == "1.5 TB" and cost.fmt_si(float("nan")) == "n/a"
  assert cost.fmt_seconds(2e-4) == "200 µs" and cost.fmt_seconds(0.25) == "250 ms"
  assert cost.count_params({"a": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17


def test_replace_section_keeps_the_rest(tmp_path):
  path = str(tmp_path / "doc.md")
  rio.replace_section(path, "one", "gen")
  with open(path, "a") as f:
    f.write("tail\n")
  rio.replace_section(path, "two", "gen")
  assert open(path).read() == "<!-- gen:begin -->\ntwo\n<!-- gen:end -->\ntail\n"
