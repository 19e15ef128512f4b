"""Synthetic nonlinear ICA check (Klindt et al. 2021, App. F.1): MLP SlowVAE, gamma = 10
(--config.loss.gamma=0 for the
i.i.d. VAE baseline), 10k steps, Pearson MCC on 5,000 fresh samples. Variants: smoke | default."""

from experiments.slowvae.configs import base


def get_config(variant=None):
  scale = variant or "default"
  return base.make_config("slowvae", f"{scale}-nica")
