"""Paper-scale compile check: every `:paper` config's train step at its real shapes, no data.

    python -m experiments.speed.paper_scale [--only=racecar/e7_resnet,noise/imagenet]
        [--out=docs/paper_scale.md] [--fraction=0.4]

For every `:paper` config of every system the step the experiment jits (built with the system's own
step builders, not a copy) is lowered and compiled with abstract inputs of the paper's shapes:
``jax.ShapeDtypeStruct`` batches and a train state from ``jax.eval_shape`` of the experiment's own
initialisation, so nothing is allocated. Per step the table gives the parameter count, the global
batch, the FLOPs from XLA's cost analysis, the peak memory from XLA's memory analysis, and the
projected step time and accelerator-hours of the whole config on one H100/H200-class GPU at a stated
fraction of its peak.

FLOPs are the larger of XLA's cost analysis and a count of the jaxpr's matrix products and
convolutions with loop bodies times their trip counts (``rvl_jax.core.cost``). The cases come from
``experiments.speed.cases``.

Where a config's headline work is not a gradient step (ABS inference, the robustness evaluation),
the jitted computation that dominates is compiled instead and the row says so. The memory figures
are those of the compiling backend (the CPU here): an accelerator's fusion and layouts differ, so
treat them as an estimate of the order of magnitude.
"""

from __future__ import annotations

import concurrent.futures
import os
import time

if __name__ == "__main__" and "xla_backend_optimization_level" not in os.environ.get(
  "XLA_FLAGS", ""
):
  # CPU code generation at LLVM level 0 compiles much faster; the HLO, and so the FLOPs and buffer
  # sizes this script reports, are the same (checked on racecar/e6_cifar).
  os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
  ).strip()

import jax  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app, flags  # noqa: E402  pylint: disable=g-import-not-at-top

from experiments.speed import cases as cs  # noqa: E402  pylint: disable=g-import-not-at-top
from rvl_jax.core import cost, progress  # noqa: E402  pylint: disable=g-import-not-at-top
from rvl_jax.core import io as rio  # noqa: E402  pylint: disable=g-import-not-at-top

_ONLY = flags.DEFINE_string("only", "", "comma-separated system/config names (default: all)")
_OUT = flags.DEFINE_string("out", "docs/paper_scale.md", "markdown file ('' = print only)")
_WORKERS = flags.DEFINE_integer("workers", os.cpu_count() or 1, "concurrent compilations (threads)")
_FRACTION = flags.DEFINE_float(
  "fraction", cost.DEFAULT_FRACTION, "assumed fraction of the GPU peak reached by the step"
)


def main(argv):
  del argv
  fraction = _FRACTION.value
  if not 0 < fraction <= 1:
    raise ValueError(f"argument '--fraction': expected a value in (0, 1], got {fraction}")
  only = [s for s in _ONLY.value.split(",") if s]
  known = {f"{s}/{n}" for s, n in cs.PAPER_CONFIGS}
  bad = [s for s in only if s not in known]
  if bad:
    raise ValueError(f"argument '--only': unknown configs {bad}; expected some of {sorted(known)}")
  t0 = time.perf_counter()
  cases = cs.all_cases(only or None)
  bar = progress.Progress(len(cases), desc="compile", unit="step")
  # XLA compiles outside the GIL: a thread per core overlaps the compilations.
  with concurrent.futures.ThreadPoolExecutor(max(_WORKERS.value, 1)) as pool:
    futures = [pool.submit(cost.analyse, case, fraction) for case in cases]
    try:
      for fut in concurrent.futures.as_completed(futures):
        r = fut.result()
        bar.update(1)
        print(
          f"{r['config']:28s} {r['name']:44s} compile {r['compile_seconds']:6.1f} s  "
          f"{cost.fmt_si(r['flops'])}FLOP  {cost.fmt_si(r['peak_bytes'], 'B')}  "
          f"{r['hours']:.3g} GPU-h",
          flush=True,
        )
    finally:
      bar.close()
  rows = [f.result() for f in futures]
  total = time.perf_counter() - t0
  summary = (
    f"{len(rows)} computations of {len({r['config'] for r in rows})} configs lowered and "
    f"compiled in {total:.0f} s on {jax.device_count()} {jax.devices()[0].platform.upper()} "
    f"device(s) (jax {jax.__version__}); total projected "
    f"{sum(r['hours'] for r in rows):.4g} GPU-hours at {fraction:.0%} of the TF32 peak."
  )
  print(summary)
  if _OUT.value:
    rio.replace_section(
      _OUT.value, summary + "\n\n" + cost.projection_table(rows, fraction), "paper_scale"
    )


if __name__ == "__main__":
  app.run(main)
