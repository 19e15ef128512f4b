"""Compute cost of a jitted step: FLOPs, memory, compile and run time, accelerator-hours.

A :class:`Case` is one jitted computation with the arguments it runs on (built lazily, so
``jax.eval_shape`` gives paper-scale shapes without allocating anything). :func:`analyse` lowers
and compiles it and projects its accelerator time; :func:`time_case` runs it and measures.

XLA's cost analysis counts the body of a loop (``lax.scan``, ``fori_loop``, ``lax.map``) once,
whatever its trip count, and the ABS latent search, PGD and adversarial training steps run such
loops. :func:`jaxpr_flops` is the second count: 2 x the multiply-adds of every matrix product and
convolution of the jaxpr, loop bodies times their trip counts. :func:`step_flops` takes the
larger of the two.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

# One H100/H200-class GPU (SXM, dense, no sparsity), FLOP/s. The library trains in float32; on
# Hopper JAX's default matmul precision for float32 uses TF32 tensor cores.
PEAK_TF32 = 494e12
PEAK_FP32 = 67e12
DEFAULT_FRACTION = 0.4

# Dense peak FLOP/s by device kind (float32 work: TF32 tensor cores where JAX uses them by default;
# TPUs: bf16 MXU rate, which is what float32 matmuls at default precision run at).
PEAKS = {
  "H200": 494e12,
  "H100": 494e12,
  "A100": 156e12,
  "L4": 60e12,
  "V100": 15.7e12,
  "T4": 8.1e12,
  "TPU v4": 275e12,
  "TPU v5 lite": 197e12,
  "TPU v5p": 459e12,
  "TPU v6 lite": 918e12,
}


@dataclasses.dataclass
class Case:
  """One jitted computation of a config.

  Attributes:
    config: the config it belongs to, e.g. ``'racecar/e6_cifar'``.
    name: what the computation is, e.g. ``'rr step'``.
    fn: the function the experiment jits.
    make_args: builds concrete arguments with jax ops (state from the experiment's own
      initialisation, a random batch); ``jax.eval_shape(make_args)`` gives the abstract ones.
    global_batch: images (or examples) per call.
    steps: how often the whole config runs this computation (all seeds, methods and phases).
    note: free text for the table.
    train: True for an optimizer step (the state argument is donated, as in the training loop,
      and its new value is threaded through timed calls).
    params_of: picks the parameters out of the arguments (for the parameter count).
  """

  config: str
  name: str
  fn: Callable
  make_args: Callable[[], Tuple]
  global_batch: int
  steps: int
  note: str = ""
  train: bool = True
  params_of: Callable[[Tuple], Any] = lambda args: args[0].params

  def abstract_args(self) -> Tuple:
    """Returns the arguments as ``jax.ShapeDtypeStruct`` pytrees (nothing is allocated)."""
    return jax.eval_shape(self.make_args)

  def jitted(self) -> Callable:
    """Returns ``fn`` jitted as the experiment jits it (state donated for a train step)."""
    return jax.jit(self.fn, donate_argnums=(0,) if self.train else ())


def count_params(tree: Any) -> int:
  """Counts the scalars of a pytree.

  Args:
    tree: a pytree of arrays or ``jax.ShapeDtypeStruct`` s.

  Returns:
    The total number of elements of its leaves.
  """
  return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree)))


def _dot_flops(eqn) -> float:
  (lc, _), _ = eqn.params["dimension_numbers"]
  lhs = eqn.invars[0].aval.shape
  contract = math.prod(lhs[d] for d in lc)
  return 2.0 * math.prod(eqn.outvars[0].aval.shape) * contract


def _conv_flops(eqn) -> float:
  rhs = eqn.invars[1].aval.shape
  dn = eqn.params["dimension_numbers"]
  # rhs spec: (out feature dim, in feature dim, spatial...); groups are already in rhs' in dim.
  in_dim = rhs[dn.rhs_spec[1]]
  window = math.prod(rhs[d] for d in dn.rhs_spec[2:])
  # With input (lhs) dilation, e.g. the input gradient of a strided convolution, only one tap in
  # prod(dilation) meets a non-zero input.
  dilation = math.prod(eqn.params.get("lhs_dilation") or (1,))
  return 2.0 * math.prod(eqn.outvars[0].aval.shape) * in_dim * window / dilation


def jaxpr_flops(closed_jaxpr) -> float:
  """Counts the FLOPs of the matrix products and convolutions of a jaxpr.

  Args:
    closed_jaxpr: from ``jax.make_jaxpr(fn)(*args)``.

  Returns:
    2 x multiply-adds of every ``dot_general`` and ``conv_general_dilated``; a ``scan`` body
    counts ``length`` times, a ``cond`` its most expensive branch, a ``while`` body once (its trip
    count is unknown at trace time).
  """
  total = 0.0
  for eqn in closed_jaxpr.jaxpr.eqns:
    prim = eqn.primitive.name
    if prim == "dot_general":
      total += _dot_flops(eqn)
    elif prim == "conv_general_dilated":
      total += _conv_flops(eqn)
    elif prim == "scan":
      total += eqn.params["length"] * jaxpr_flops(eqn.params["jaxpr"])
    elif prim == "cond":
      total += max(jaxpr_flops(b) for b in eqn.params["branches"])
    elif prim == "while":
      total += jaxpr_flops(eqn.params["body_jaxpr"]) + jaxpr_flops(eqn.params["cond_jaxpr"])
    else:
      for v in eqn.params.values():
        for sub in v if isinstance(v, (tuple, list)) else (v,):
          if isinstance(sub, jax.extend.core.ClosedJaxpr):
            total += jaxpr_flops(sub)
          elif isinstance(sub, jax.extend.core.Jaxpr):
            total += jaxpr_flops(jax.extend.core.ClosedJaxpr(sub, ()))
  return total


def xla_flops(compiled) -> float:
  """Reads the FLOPs of XLA's cost analysis.

  Args:
    compiled: a ``jax.stages.Compiled``.

  Returns:
    The FLOPs of one call, NaN if the backend reports none.
  """
  ca = compiled.cost_analysis()
  if isinstance(ca, (list, tuple)):
    ca = ca[0] if ca else {}
  return float((ca or {}).get("flops", float("nan")))


def peak_bytes(compiled) -> int:
  """Estimates the peak memory of a compiled computation.

  Args:
    compiled: a ``jax.stages.Compiled``.

  Returns:
    Arguments + outputs + temporaries - aliased bytes, -1 if the backend has no memory analysis.
  """
  m = compiled.memory_analysis()
  if m is None:
    return -1
  return int(
    m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
  )


def step_flops(case: Case, args: Tuple, compiled) -> Tuple[float, float, float]:
  """Counts the FLOPs of one call of ``case`` both ways.

  Args:
    case: the computation.
    args: its (abstract or concrete) arguments.
    compiled: its compiled form.

  Returns:
    (XLA's count, the :func:`jaxpr_flops` count, the larger finite one).
  """
  xla = xla_flops(compiled)
  counted = jaxpr_flops(jax.make_jaxpr(case.fn)(*args))
  return xla, counted, max(v for v in (xla, counted) if np.isfinite(v))


def analyse(case: Case, fraction: float = DEFAULT_FRACTION) -> Dict[str, Any]:
  """Lowers and compiles ``case`` at its abstract arguments and projects its cost.

  Args:
    case: the computation.
    fraction: assumed fraction of the GPU peak (:data:`PEAK_TF32`, :data:`PEAK_FP32`) reached.

  Returns:
    A table row: parameters, FLOPs (both counts), peak bytes, projected step seconds and
    GPU-hours of all ``case.steps`` calls at TF32 and FP32, compile seconds.
  """
  if not 0 < fraction <= 1:
    raise ValueError(f"argument 'fraction': expected a value in (0, 1], got {fraction!r}")
  t0 = time.perf_counter()
  args = case.abstract_args()
  compiled = case.jitted().lower(*args).compile()
  seconds = time.perf_counter() - t0
  xla, counted, flops = step_flops(case, args, compiled)
  step_s = flops / (PEAK_TF32 * fraction)
  return dict(
    config=case.config,
    name=case.name,
    params=count_params(case.params_of(args)),
    global_batch=case.global_batch,
    flops_xla=xla,
    flops_counted=counted,
    flops=flops,
    peak_bytes=peak_bytes(compiled),
    steps=case.steps,
    step_seconds=step_s,
    hours=step_s * case.steps / 3600.0,
    hours_fp32=flops / (PEAK_FP32 * fraction) * case.steps / 3600.0,
    compile_seconds=seconds,
    note=case.note,
  )


def time_case(case: Case, reps: int) -> Dict[str, float]:
  """Compiles ``case`` on concrete arguments and times ``reps`` calls after a warm-up.

  A train step's new state is fed to the next call, as in training.

  Args:
    case: the computation.
    reps: timed calls.

  Returns:
    ``compile_s``, ``step_s`` (median seconds per call) and ``flops`` (per call).
  """
  args = jax.block_until_ready(jax.jit(case.make_args)())
  t0 = time.perf_counter()
  compiled = case.jitted().lower(*args).compile()
  compile_s = time.perf_counter() - t0
  flops = step_flops(case, jax.eval_shape(lambda: args), compiled)[2]

  def call(a):
    out = compiled(*a)
    return ((out[0],) + tuple(a[1:]) if case.train else a), out

  args, out = call(args)
  jax.block_until_ready(out)
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    args, out = call(args)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t)
  return dict(compile_s=compile_s, step_s=float(np.median(times)), flops=flops)


def device_peak(reps: int = 3, n: int = 2048) -> Tuple[float, str]:
  """Finds the peak FLOP/s of device 0.

  Args:
    reps: timed matmuls on a CPU (the best is used).
    n: the CPU matmul's size.

  Returns:
    (peak FLOP/s, how it was obtained): :data:`PEAKS` by device kind, a measurement on a CPU, NaN
    for an accelerator missing from the table.
  """
  d = jax.devices()[0]
  for kind, peak in PEAKS.items():
    if kind.lower() in d.device_kind.lower():
      return peak, f"{d.device_kind}: table value"
  if d.platform != "cpu":
    return float("nan"), f"{d.device_kind}: not in the table"
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  jax.block_until_ready(mm(a))
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    jax.block_until_ready(mm(a))
    times.append(time.perf_counter() - t)
  return 2 * n**3 / min(times), f"CPU: measured, best of {reps} {n}x{n} float32 matmuls"


def cpu_seconds() -> float:
  """Measures CPU time of this process and its live children (e.g. input workers).

  Returns:
    User + system seconds; NaN without the optional psutil.
  """
  try:
    import psutil  # pylint: disable=g-import-not-at-top
  except ImportError:
    return float("nan")
  me = psutil.Process()
  total = 0.0
  for proc in [me] + me.children(recursive=True):
    try:
      t = proc.cpu_times()
      total += t.user + t.system
    except psutil.Error:
      pass
  return total


def time_batches(
  next_batch: Callable[[], Any], warmup: int, timed: int, step_seconds: float = 0.0
) -> Tuple[float, float, float]:
  """Times an input source: ``warmup`` untimed calls, then ``timed`` timed ones.

  Args:
    next_batch: returns the next batch.
    warmup: calls before timing (start-up of workers, imports).
    timed: timed calls.
    step_seconds: a simulated training step (sleep) after every call.

  Returns:
    (seconds of the warm-up calls, steady-state seconds per batch, CPU seconds per batch of this
    process and its children).
  """
  t0 = time.perf_counter()
  for _ in range(warmup):
    next_batch()
    if step_seconds:
      time.sleep(step_seconds)
  t1, c1 = time.perf_counter(), cpu_seconds()
  for _ in range(timed):
    next_batch()
    if step_seconds:
      time.sleep(step_seconds)
  return t1 - t0, (time.perf_counter() - t1) / timed, (cpu_seconds() - c1) / timed


def fmt_si(x: float, unit: str = "") -> str:
  """Formats a number with 3 significant digits and an SI prefix.

  Args:
    x: the number.
    unit: appended after the prefix.

  Returns:
    E.g. ``'1.5 TB'``; ``'n/a'`` if ``x`` is not finite.
  """
  if not np.isfinite(x):
    return "n/a"
  for div, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
    if abs(x) >= div:
      return f"{x / div:.3g} {suffix}{unit}"
  return f"{x:.3g} {unit}".strip()


def fmt_seconds(s: float) -> str:
  """Formats a duration.

  Args:
    s: seconds.

  Returns:
    3 significant digits in µs, ms or s.
  """
  if s < 1e-3:
    return f"{s * 1e6:.3g} µs"
  if s < 1:
    return f"{s * 1e3:.3g} ms"
  return f"{s:.3g} s"


def projection_table(rows: Sequence[Dict[str, Any]], fraction: float) -> str:
  """Renders :func:`analyse` rows as markdown.

  Args:
    rows: the rows.
    fraction: the assumed fraction of peak (for the column titles).

  Returns:
    The markdown table.
  """
  head = (
    "| config | computation | params | global batch | FLOPs/step (XLA) | FLOPs/step "
    "(dot+conv, loops x trips) | peak memory | steps | projected step | GPU-hours "
    f"(TF32, {fraction:.0%}) | GPU-hours (FP32, {fraction:.0%}) | note |"
  )
  lines = [head, "|" + "---|" * 12]
  for r in rows:
    lines.append(
      f"| {r['config']} | {r['name']} | {fmt_si(r['params'])} | {r['global_batch']} | "
      f"{fmt_si(r['flops_xla'])} | {fmt_si(r['flops_counted'])} | "
      f"{fmt_si(r['peak_bytes'], 'B')} | {fmt_si(r['steps'])} | {fmt_seconds(r['step_seconds'])}"
      f" | {r['hours']:.3g} | {r['hours_fp32']:.3g} | {r['note']} |"
    )
  return "\n".join(lines)
