"""E10 tiny VGG-style classifier (RR vs Std) + Gatys stylization on scikit-image's bundled images.
Variants: default (6 conv layers 16-32-64, 32x32 patches of 10 images, pre-train 300 + 1000 steps, 64x64
stylization, 2 seeds), smoke (seconds, for tests), paper-like (VGG19-style widths 64-128-256-512-512 with
2-2-4-4-4 convs = 16 racecar layers, larger patches; ImageNet itself needs tfds with a manual download).
The paper's architecture tables are not available: every size here is our choice."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e10"
  c.seeds = (0, 1)
  c.data_seed = 0
  c.widths = (16, 32, 64)
  c.convs_per_stage = (2, 2, 2)
  c.head_hidden = 64
  c.norm = "bn"  # BN keeps the full reverse pass well scaled; None = plain VGG
  c.n_per_class = 400
  c.patch = 32
  c.source_size = 160
  # RegConfig: ReLU on d'_1 (non-negative images), half-sum; lambda is overwritten when lam_auto
  c.reg = ml_collections.ConfigDict({"lam": 1e-3, "output_activation": "relu"})
  c.lam_auto = True  # lambda * L_racecar = lam_auto_scale * task loss at the start of phase 2
  c.lam_auto_scale = 1.0
  c.optimizer = "adam"
  c.learning_rate = 1e-3
  c.batch_size = 64
  c.pretrain_steps = 300  # paper: 6 epochs without racecar, then RR / Std from that checkpoint
  c.train_steps = 1000
  c.style_size = 64
  c.style_steps = 300
  c.style_lr = 0.02
  c.content_layer = 3  # d_5 (second stage, second conv), zero-based over d_2 .. d_{n+1}
  c.eta, c.delta = 1.0, 1e3  # L = eta L_content + delta L_style
  c.lowres_image = "coffee"  # not among the training classes
  c.content_image = "chelsea"
  c.style_image = "immunohistochemistry"
  c.log_every = 100
  c.checkpoint_every = 100000
  c.distributed = False
  if variant == "smoke":
    c.seeds = (0,)
    c.widths, c.convs_per_stage, c.head_hidden = (4, 4), (1, 1), 8
    c.n_per_class, c.patch, c.source_size = 4, 16, 48
    c.batch_size = 8
    c.pretrain_steps, c.train_steps, c.log_every = 2, 3, 1
    c.style_size, c.style_steps = 16, 3
    c.content_layer = 1
  elif variant == "paper":
    c.seeds = (0, 1, 2)
    c.widths = (64, 128, 256, 512, 512)
    c.convs_per_stage = (2, 2, 4, 4, 4)
    c.head_hidden = 1024
    c.n_per_class, c.patch, c.source_size = 5000, 64, 512
    c.batch_size = 24
    c.pretrain_steps, c.train_steps = 20000, 100000
    c.style_size, c.style_steps = 256, 1000
    c.content_layer = 9
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
