"""E9 racecar GAN super-resolution + autoencoder initialisation on the procedural smoke stand-in.
Variants: default (10 simulations x 40 frames, 32x32 / 8x8, 10 % training frames, 2 seeds, CPU minutes),
smoke (seconds, for tests), paper (20 x 120 frames, 64x64 / 16x16 as in the paper, 5 seeds, wider nets).
The paper's architectures and loss weights are not available: every size and weight here is our choice."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e9"
  c.seeds = (0, 1)
  c.data_seed = 0
  c.num_sims, c.frames, c.size, c.factor = 10, 40, 32, 4
  c.train_fraction = 0.1  # the paper trains on 10 % of the frames (+ flip/rotation augmentation)
  c.g_channels = (32, 32, 16)  # conv, (UP + conv) x log2(factor); a final conv to 1 (or 3) channels
  c.g_out_activation = "relu"
  c.d_channels = (16, 32)
  # smoke_sr.GanLoss: NS-GAN 0.01 + feature-space 0.1 + L2 1.0, racecar lambda 1.0 on every
  # generator layer with the 'mean' reduction
  c.gan_loss = ml_collections.ConfigDict(
    {"w_adv": 0.01, "w_feat": 0.1, "w_l2": 1.0, "lam": 1.0, "reduction": "mean"}
  )
  c.learning_rate = 2e-4
  c.ae_learning_rate = 2e-4
  c.batch_size = 16
  c.gan_steps = 2000
  c.ae_steps = 1000
  c.eval_every = 100
  c.eval_size = 256
  c.b1_models = ("rr_AB1", "std_AB1", "std_AB1_both", "std_B1")
  c.b2_models = ("rr_AB2", "std_AB2", "rr_AB2_both", "std_B2")
  c.log_every = 100
  c.checkpoint_every = 100000
  c.distributed = False
  if variant == "smoke":
    c.seeds = (0,)
    c.num_sims, c.frames, c.size = 2, 8, 16
    c.factor = 4
    c.g_channels = (4, 4, 4)
    c.d_channels = (4, 4)
    c.batch_size = 4
    c.gan_steps, c.ae_steps, c.eval_every, c.log_every, c.eval_size = 4, 4, 2, 2, 8
    c.train_fraction = 0.25
  elif variant == "paper":
    c.seeds = (0, 1, 2, 3, 4)
    c.num_sims, c.frames, c.size = 20, 120, 64
    c.g_channels = (64, 64, 32)
    c.d_channels = (32, 64, 128)
    c.batch_size = 32
    c.gan_steps, c.ae_steps = 20000, 10000
    c.eval_every = 500
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
