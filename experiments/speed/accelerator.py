"""The headline step of every system on whatever backend JAX finds: images/s and fraction of peak.

    python -m experiments.speed.accelerator [--size=small|paper] [--reps=5] [--only=pgd,ant]
        [--out=docs/paper_scale.md]

Steps (built by `experiments.speed.cases` from the systems' own step builders, or the
systems' own jitted functions): ABS inference (latent search), PGD-40 on the released CNN
architecture, the racecar RR step (E6 VGG), the SlowVAE step, the benchmark CNN step, the ANT1x1
joint step (ImageNet ResNet), and the ImageNet-C corruption suite. `--size=small` runs the CPU
scale (minutes on 2 cores); `--size=paper` the papers' shapes (accelerators).

Per step: compile time, the median time of --reps timed calls after a warm-up (the train state
threads through, as in training), images/s, FLOPs per call (the larger of XLA's cost analysis and
a count of matrix products and convolutions with loops times their trip counts, see
`rvl_jax.core.cost`), achieved FLOP/s and the fraction of the device's peak. The peak comes
from a table by device kind; on CPU it is measured with a large float32 matmul. Beside each step,
the images/s of the input source feeding it (`input_source` below) -- a synthetic in-memory source
until the shared input pipeline is wired in there.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, List

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments.speed import cases as cs
from experiments.speed.cases import common
from experiments.speed.cases import noise as noise_cases
from experiments.speed.cases.abs import abs_inference_case
from rvl_jax.core import cost, validation
from rvl_jax.core import io as rio

_SIZE = flags.DEFINE_enum("size", "small", ["small", "paper"], "'small' (CPU minutes) or 'paper'")
_REPS = flags.DEFINE_integer("reps", 5, "timed calls per step (median reported)")
_ONLY = flags.DEFINE_string("only", "", "comma-separated substrings of step names")
_OUT = flags.DEFINE_string("out", "", "markdown file whose accelerator section is replaced")


def input_source(shape, dtype=np.float32, pool: int = 4096, seed: int = 0) -> Callable[[int], dict]:
  """The input source timed beside each step: ``get_batch(step)`` gathering a random batch from an
  in-memory pool (what the in-memory experiments do).

  HOOK for the shared input pipeline: once ``rvl_jax.data.pipeline`` is merged, return its
  iterator's ``next`` over a generated image folder here so the table shows its images/s.
  """
  rng = np.random.default_rng(seed)
  n = min(pool, max(shape[0] * 4, 1))
  data = rng.random((n,) + tuple(shape[1:]), dtype=np.float32).astype(dtype)

  def get_batch(step):
    idx = np.random.default_rng([seed, step]).integers(0, n, shape[0])
    return data[idx]

  return get_batch


def source_images_per_second(shape, reps: int) -> float:
  get = input_source(shape)
  get(0)
  t = time.perf_counter()
  for s in range(reps):
    get(s + 1)
  return reps * shape[0] / (time.perf_counter() - t)


@dataclasses.dataclass
class Headline:
  name: str
  case: cost.Case
  images: int  # images processed per call
  image_shape: tuple


def _pgd_case(size):
  """PGD-40 (L-inf, eps 0.3) on the ABS paper's vanilla CNN architecture (`rvl_jax.abs.baselines`)."""
  from rvl_jax.abs import baselines, nets

  b = 100 if size == "small" else 1000
  model = nets.CNN()

  def make_args():
    v = model.init(common.key(0), jnp.zeros((1, 28, 28, 1)))
    return v, common.images((b, 28, 28, 1)), common.labels(b, 10), common.key(5)

  def fn(v, x, y, key):
    return baselines.pgd_linf(
      lambda xa: model.apply(v, xa, train=False), x, y, key, eps=0.3, steps=40, step_size=0.01
    )

  return cost.Case(
    "abs/robustness",
    f"PGD-40 on the CNN (batch {b})",
    fn,
    make_args,
    b,
    1,
    train=False,
    params_of=lambda a: a[0],
  )


def _corruption_case(size):
  """The 15 jit ImageNet-C corruptions (`rvl_jax.noise.corruptions.imagenet_c`), severity 3."""
  from rvl_jax.noise.corruptions import imagenet_c

  b = 4 if size == "small" else 32
  names = [n for n, f in imagenet_c.ALL_CORRUPTIONS.items() if f.jittable is True]

  def make_args():
    return (common.images((b, 224, 224, 3)),)

  def fn(x):
    key = jax.random.PRNGKey(0)
    return [
      imagenet_c.ALL_CORRUPTIONS[n](jax.random.fold_in(key, i), x, 3) for i, n in enumerate(names)
    ]

  return cost.Case(
    "noise/imagenet",
    f"ImageNet-C suite ({len(names)} corruptions, batch {b})",
    fn,
    make_args,
    b * len(names),
    1,
    train=False,
    params_of=lambda a: {},
  )


def headlines(size: str) -> List[Headline]:
  small = size == "small"
  out = []
  abs_case = abs_inference_case(
    "abs/abs",
    batch=32 if small else 1000,
    n_samples=1000 if small else 8000,
    n_iter=10 if small else 50,
    calls=1,
    note="",
  )
  out.append(Headline("ABS inference", abs_case, abs_case.global_batch, (28, 28, 1)))
  pgd = _pgd_case(size)
  out.append(Headline("PGD-40", pgd, pgd.global_batch, (28, 28, 1)))
  rr = cs.config_cases("racecar", "e6_cifar", None if small else "paper")[0]
  out.append(Headline("racecar RR step (E6 VGG)", rr, rr.global_batch, (32, 32, 3)))
  sv = cs.config_cases("slowvae", "slowvae", None if small else "paper")[0]
  out.append(Headline("SlowVAE step", sv, sv.global_batch, (64, 64, 1)))
  cnn = cs.config_cases("benchmark", "default", None if small else "paper")[0]
  out.append(Headline("benchmark CNN step", cnn, cnn.global_batch, (64, 64, 1)))
  if small:  # ResNet-18-style tiny model at 64 px: the ANT step's structure at CPU cost
    from rvl_jax.noise import models

    ant = noise_cases.noise_cases(
      "noise/imagenet",
      models.build_model("resnet_tiny", num_classes=10),
      (64, 64, 3),
      16,
      num_classes=10,
      ant_steps=1,
      restart_calls=1,
      restart_steps=1,
    )[0]
    shape = (64, 64, 3)
  else:
    ant = cs.config_cases("noise", "imagenet", "paper")[0]
    shape = (224, 224, 3)
  out.append(Headline("ANT1x1 joint step", ant, ant.global_batch, shape))
  corr = _corruption_case(size)
  out.append(Headline("ImageNet-C corruption suite", corr, corr.global_batch, (224, 224, 3)))
  return out


def time_headline(h: Headline, reps: int, peak: float) -> dict:
  r = cost.time_case(h.case, reps)
  src = source_images_per_second((h.images,) + tuple(h.image_shape), reps)
  return dict(
    name=h.name,
    computation=h.case.name,
    images=h.images,
    compile_s=r["compile_s"],
    step_s=r["step_s"],
    images_per_s=h.images / r["step_s"],
    source_images_per_s=src,
    flops=r["flops"],
    flops_per_s=r["flops"] / r["step_s"],
    fraction=r["flops"] / r["step_s"] / peak,
  )


def markdown(rows, device: str, peak_note: str, peak: float, size: str, reps: int) -> str:
  lines = [
    f"Device: {device}; peak {cost.fmt_si(peak)}FLOP/s ({peak_note}); size `{size}`; median of "
    f"{reps} calls after a warm-up; jax {jax.__version__}.",
    "",
    "| step | computation | images/call | compile | time/call | images/s | input source "
    "images/s | FLOPs/call | achieved FLOP/s | fraction of peak |",
    "|" + "---|" * 10,
  ]
  for r in rows:
    lines.append(
      f"| {r['name']} | {r['computation']} | {r['images']} | {r['compile_s']:.1f} s | "
      f"{cost.fmt_seconds(r['step_s'])} | {r['images_per_s']:.4g} | "
      f"{r['source_images_per_s']:.4g} | {cost.fmt_si(r['flops'])} | "
      f"{cost.fmt_si(r['flops_per_s'])} | {r['fraction']:.1%} |"
    )
  return "\n".join(lines)


def main(argv):
  del argv
  validation.check_positive_int("--reps", _REPS.value)
  size, reps = _SIZE.value, _REPS.value
  peak, note = cost.device_peak()
  d = jax.devices()[0]
  device = f"{d.device_kind} ({d.platform}, {jax.device_count()} device(s))"
  print(f"{device}; peak {cost.fmt_si(peak)}FLOP/s ({note})", flush=True)
  rows = []
  only = [s.strip().lower() for s in _ONLY.value.split(",") if s.strip()]
  for h in headlines(size):
    if only and not any(s in h.name.lower() for s in only):
      continue
    r = time_headline(h, reps, peak)
    rows.append(r)
    print(
      f"{r['name']:30s} {r['images_per_s']:10.4g} img/s  {cost.fmt_seconds(r['step_s']):>9s}/call  "
      f"source {r['source_images_per_s']:10.4g} img/s  {r['fraction']:.2%} of peak  "
      f"(compile {r['compile_s']:.1f} s)",
      flush=True,
    )
  text = markdown(rows, device, note, peak, size, reps)
  print(text)
  if _OUT.value:
    rio.replace_section(_OUT.value, text, f"accelerator:{d.platform}:{size}")


if __name__ == "__main__":
  app.run(main)
