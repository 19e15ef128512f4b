"""Materialise a fixed, seeded corrupted test set (paired model comparisons).

  python -m experiments.noise.materialize --suite=mnist_c --out=DIR/mnist_c_seed0.npz --seed=0
  python -m experiments.noise.materialize --suite=cifar_c --input=my_test.npz --out=DIR/c.npz
  python -m experiments.noise.materialize --suite=imagenet_c --input=VAL_FOLDER --out=DIR/inc.npz

``--input`` is an .npz with 'images' (N, H, W, C) uint8 or float [0, 1] and 'labels', or an
image folder <class>/<image> (resized/centre-cropped to --image_size). MNIST-C defaults to the
embedded MNIST test split. The output .npz holds uint8 arrays '<corruption>/<severity>' + 'labels'.
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags

from rvl_jax.data.mnist import load_mnist
from rvl_jax.noise import imagenet
from rvl_jax.noise.corruptions import cifar_c, imagenet_c, materialize, mnist_c

_SUITE = flags.DEFINE_enum(
  "suite", "mnist_c", ["mnist_c", "cifar_c", "imagenet_c"], "corruption suite"
)
_INPUT = flags.DEFINE_string(
  "input", "", ".npz (images, labels) or image folder; mnist_c: embedded MNIST"
)
_OUT = flags.DEFINE_string("out", None, "output .npz")
_SEED = flags.DEFINE_integer("seed", 0, "corruption seed")
_NAMES = flags.DEFINE_list("corruptions", [], "subset of corruptions (default: all incl. hold-out)")
_SEVERITIES = flags.DEFINE_list("severities", [], "subset of severities (default: all)")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 224, "size for image folders")
_LIMIT = flags.DEFINE_integer("limit", 0, "use only the first N images (0 = all)")
flags.mark_flag_as_required("out")


def _load_input(path, size):
  if path.endswith(".npz"):
    d = np.load(path)
    x = d["images"]
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x, d["labels"]
  return imagenet.load_eval_set(path, size)


def main(argv):
  del argv
  if _SUITE.value == "mnist_c":
    if _INPUT.value:
      x, y = _load_input(_INPUT.value, 28)
    else:
      d = load_mnist("auto")
      x, y = d.test_images, d.test_labels
    fns = mnist_c.CORRUPTIONS
  else:
    if not _INPUT.value:
      raise app.UsageError("argument '--input': required for cifar_c / imagenet_c (user data)")
    x, y = _load_input(_INPUT.value, _IMAGE_SIZE.value)
    fns = (
      cifar_c.ALL_CORRUPTIONS
      if _SUITE.value == "cifar_c"
      else imagenet_c.for_image_size(x.shape[1], x.shape[2])
    )
  if _LIMIT.value:
    x, y = x[: _LIMIT.value], y[: _LIMIT.value]
  sev = [int(s) for s in _SEVERITIES.value] or None
  out = materialize.corrupt_dataset(
    x, fns, seed=_SEED.value, names=_NAMES.value or None, severities=sev
  )
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  materialize.save_corrupted(_OUT.value, out, y)
  print(f"wrote {_OUT.value}: {len(out)} corruptions x {len(x)} images (seed {_SEED.value})")


if __name__ == "__main__":
  app.run(main)
