"""Sigma sweep on MNIST (Rusak et al. 2020, App. E): GNT fine-tuning for each sigma (0 = vanilla
continued), otherwise the settings of the MNIST study without eps* and adversarial evaluation."""

from experiments.noise.configs import mnist_study


def get_config(variant=None):
  c = mnist_study.get_config(variant)
  c.experiment = "sigma_sweep"
  c.sweep_sigmas = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
  c.eval.update(eps_star_arms=(), adversarial=False, noise_severities=False)
  if variant == "smoke":
    c.sweep_sigmas = (0.0, 0.5)
  elif variant in (None, "", "default"):
    c.seeds = (0,)
  return c
