"""Demo section: ABS trained from scratch at smoke scale (ten tiny VAEs, short latent search)."""

import os

from experiments.abs import train
from experiments.abs.configs import abs as abs_config
from rvl_jax.core import experiment

TITLE = 'ABS: analysis by synthesis (smoke scale)'


def run(workdir: str) -> str:
  config = abs_config.get_config('smoke')
  config.vae.num_steps = 60
  config.linf_bound_size = 0
  results = experiment.launch(train.train_and_evaluate, config, workdir)
  rel = os.path.basename(workdir)
  g = lambda k: results.get(k, float('nan'))
  return '\n'.join([
      f'## {TITLE}',
      '',
      'Ten class-conditional VAEs (fixed-variance Gaussian ELBO), then ABS inference: a bank '
      'of latent samples per class plus Adam steps in latent space, vmapped over images and '
      'classes. Smoke settings (tiny training, small bank, 3 latent steps) — see docs/abs.md '
      'for the default/paper runs and the released-weights numbers.',
      '',
      '| data | VAE steps/class | eval images | ABS acc. | stage-1 acc. | Binary ABS acc. | '
      'median conf. | mean L2 bound | s/image |',
      '|---|---|---|---|---|---|---|---|---|',
      f"| {results['data_source']} | {config.vae.num_steps} | {results['num_eval']} | "
      f"{g('abs_accuracy'):.3f} | {g('abs_stage1_accuracy'):.3f} | "
      f"{g('binary_abs_accuracy'):.3f} | {g('abs_median_confidence'):.3f} | "
      f"{g('l2_bound_mean'):.3f} | {g('abs_seconds_per_image'):.3f} |",
      '',
      f'![reconstructions]({rel}/plots/reconstructions.png) '
      f'![distal]({rel}/plots/distal_adversarials.png)',
  ])
