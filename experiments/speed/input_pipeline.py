"""Input-pipeline throughput on an ImageNet-like JPEG folder (RandomResizedCrop 224 + flip).

    python -m experiments.speed.input_pipeline [--data_dir DIR] [--num_images 1024]
        [--batch_size 128] [--timed_batches 12] [--workers 1,2] [--repeats 1]

Generates (or reuses) a folder of 500x375 JPEGs (smooth random scenes plus texture, quality 90,
two classes) and times, in one run:

* the PIL loop the ImageNet path of the noise experiments used before the pipeline existed: one
  Python thread opening, cropping and resizing every image of the batch inside ``get_batch(step)``
  (a faithful copy is kept below as the baseline);
* ``rvl_jax.data.pipeline`` with 1 and 2 worker processes (and with 2 threads in this process).

Throughput is images/s at steady state: the first batches (one per worker or thread: start-up,
imports) are excluded and their time is reported separately, as is the CPU time per image of all processes (with psutil), a figure
that a busy machine disturbs less than wall time. Then the overlap check: a training step that sleeps as long as the PIL
loop takes to load one batch, driven by the synchronous loop and by the 2-worker pipeline; the
pipeline decodes the next batches while the step runs, so its steps/s should approach twice the
synchronous loop's. The last line is ``speed-up (2 workers vs PIL loop): X``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import List, Tuple

import numpy as np
from absl import app, flags

from rvl_jax.core import cost
from rvl_jax.data import batching
from rvl_jax.data import pipeline as pl

flags.DEFINE_string("data_dir", "", "JPEG folder to create/reuse (default: temp)")
flags.DEFINE_integer("num_images", 1024, "JPEGs in the folder")
_BATCH = flags.DEFINE_integer("batch_size", 128, "images per batch")
_SIZE = flags.DEFINE_integer("size", 224, "crop size")
flags.DEFINE_integer("timed_batches", 12, "timed batches per configuration")
flags.DEFINE_integer("overlap_batches", 6, "timed batches of the overlap check")
flags.DEFINE_string("workers", "1,2", "comma-separated worker-process counts")
_SEED = flags.DEFINE_integer("seed", 0, "shuffling and augmentation seed")
flags.DEFINE_integer(
  "repeats", 1, "alternating repeats of all configurations; medians are reported"
)

# ------------------------------------------------------------------------------------------------
# the baseline: the synchronous PIL loop as it was in experiments/noise/imagenet.py
# ------------------------------------------------------------------------------------------------

EXTS = (".jpeg", ".jpg", ".png", ".bmp")


def baseline_list_image_folder(root: str) -> Tuple[List[str], np.ndarray, List[str]]:
  classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  paths, labels = [], []
  for i, c in enumerate(classes):
    for f in sorted(os.listdir(os.path.join(root, c))):
      if f.lower().endswith(EXTS):
        paths.append(os.path.join(root, c, f))
        labels.append(i)
  return paths, np.asarray(labels, np.int32), classes


def baseline_load_train_image(path: str, size: int, rng: np.random.Generator) -> np.ndarray:
  """RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) + horizontal flip."""
  from PIL import Image

  img = Image.open(path).convert("RGB")
  w, h = img.size
  area = w * h
  for _ in range(10):
    a = area * rng.uniform(0.08, 1.0)
    r = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = int(round(np.sqrt(a * r))), int(round(np.sqrt(a / r)))
    if 0 < cw <= w and 0 < ch <= h:
      l, t = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
      break
  else:
    cw = ch = min(w, h)
    l, t = (w - cw) // 2, (h - ch) // 2
  img = img.crop((l, t, l + cw, t + ch)).resize((size, size), Image.BILINEAR)
  out = np.asarray(img, np.float32) / 255.0
  return out[:, ::-1] if rng.uniform() < 0.5 else out


def baseline_get_batch_fn(root: str, batch_size: int, size: int, seed: int):
  paths, labels, _ = baseline_list_image_folder(root)

  def get_batch(step):
    idx = batching.epoch_step_indices(len(paths), batch_size, seed, step)
    rng = batching.step_rng(seed, step, stream=7)
    return {
      "image": np.stack([baseline_load_train_image(paths[i], size, rng) for i in idx]).astype(
        np.float32
      ),
      "label": labels[idx],
    }

  return get_batch


# ------------------------------------------------------------------------------------------------
# data and timing
# ------------------------------------------------------------------------------------------------


def write_jpeg_folder(
  root: str,
  num_images: int,
  width: int = 500,
  height: int = 375,
  num_classes: int = 2,
  seed: int = 0,
) -> str:
  """ImageNet-like JPEGs: a smooth random colour field (low-frequency, upsampled) plus texture."""
  from PIL import Image

  marker = os.path.join(root, f".complete_{num_images}_{width}x{height}")
  if os.path.exists(marker):
    return root
  rng = np.random.default_rng(seed)
  for i in range(num_images):
    d = os.path.join(root, f"class_{i % num_classes}")
    os.makedirs(d, exist_ok=True)
    coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float32)
    img += rng.normal(0, 12, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
      os.path.join(d, f"{i:05d}.JPEG"), quality=90
    )
  open(marker, "w").close()
  return root


def baseline_timing(root, timed, step_seconds=0.0):
  get_batch = baseline_get_batch_fn(root, _BATCH.value, _SIZE.value, _SEED.value)
  step = iter(range(10**9))
  return cost.time_batches(lambda: get_batch(next(step)), 1, timed, step_seconds)


def pipeline_timing(root, timed, workers: int, threads: int, step_seconds=0.0):
  src = pl.ImageFolderSource(root)
  p = pl.make_pipeline(
    src,
    batch_size=_BATCH.value,
    seed=_SEED.value,
    transforms=[pl.RandomResizedCropFlip(_SIZE.value)],
    worker_count=workers,
    num_threads=threads,
    prefetch=2,
  )
  try:
    # warm-up: one batch per worker process / thread, so that every worker has started and the
    # timed window starts with (nearly) empty buffers
    return cost.time_batches(lambda: next(p), max(workers, threads, 1), timed, step_seconds)
  finally:
    p.close()


def main(argv):
  del argv
  args = flags.FLAGS
  tmp = None
  data_dir = args.data_dir
  if not data_dir:
    tmp = tempfile.TemporaryDirectory(prefix="rvl_pipeline_bench_")
    data_dir = tmp.name
  t = time.perf_counter()
  root = write_jpeg_folder(data_dir, args.num_images)
  print(
    f"data: {args.num_images} JPEGs 500x375 in {root} ({time.perf_counter() - t:.1f} s); "
    f"batch {args.batch_size}, RandomResizedCrop {args.size} + flip, "
    f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}",
    flush=True,
  )

  configs = [("PIL loop (synchronous)", None, 0)]
  configs += [
    (f"pipeline, {w} worker process{'es' if w > 1 else ''}", w, 1)
    for w in (int(x) for x in args.workers.split(","))
  ]
  configs.append(("pipeline, 2 threads, no workers", 0, 2))
  per = {name: [] for name, _, _ in configs}  # steady-state seconds per batch, per repeat
  cpu_per = {name: [] for name, _, _ in configs}  # CPU seconds per batch, all processes
  for rep in range(args.repeats):  # the configurations alternate within a repeat
    for name, w, th in configs:
      first, sec, cpu = (
        baseline_timing(root, args.timed_batches)
        if w is None
        else pipeline_timing(root, args.timed_batches, w, th)
      )
      per[name].append(sec)
      cpu_per[name].append(cpu)
      ratio = "" if w is None else f"; {per[configs[0][0]][-1] / sec:.2f}x the PIL loop"
      print(
        f"[{rep + 1}/{args.repeats}] {name:<34} {args.batch_size / sec:8.1f} images/s  "
        f"(first batches {first:.2f} s; {1e3 * cpu / args.batch_size:.1f} CPU ms/image"
        f"{ratio})",
        flush=True,
      )
  base = statistics.median(per[configs[0][0]])
  if args.repeats > 1:
    for name, _, _ in configs:
      sec = statistics.median(per[name])
      print(
        f"median of {args.repeats}: {name:<34} {args.batch_size / sec:8.1f} images/s  "
        f"{base / sec:.2f}x the PIL loop"
      )

  # overlap: the step sleeps as long as the synchronous loop needs to load one batch
  _, sync_step, _ = baseline_timing(root, args.overlap_batches, base)
  _, pipe_step, _ = pipeline_timing(root, args.overlap_batches, 2, 1, base)
  print(
    f"overlap (step sleeps {base:.2f} s = one PIL batch): synchronous loop "
    f"{1 / sync_step:.3f} steps/s, pipeline with 2 workers {1 / pipe_step:.3f} steps/s: "
    f"{sync_step / pipe_step:.2f}x",
    flush=True,
  )
  print(f"load average at the end: {os.getloadavg()[0]:.2f}")
  two = [name for name, w, _ in configs if w == 2]
  if two and os.cpu_count() >= 2:
    c_base, c_two = (statistics.median(cpu_per[n]) for n in (configs[0][0], two[0]))
    print(
      f"CPU time per image (all processes): PIL loop {1e3 * c_base / args.batch_size:.2f} ms, "
      f"2 workers {1e3 * c_two / args.batch_size:.2f} ms; bound on 2 idle cores: "
      f"{2 * c_base / c_two:.2f}x (measured below; on a busy machine the scheduler gives "
      "this session a fixed share, whatever its number of processes)"
    )
  speedup = base / statistics.median(per[two[0]]) if two else float("nan")
  print(f"speed-up (2 workers vs PIL loop): {speedup:.2f}")
  if tmp is not None:
    tmp.cleanup()


if __name__ == "__main__":
  app.run(main)
