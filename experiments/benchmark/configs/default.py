"""One supervised model on one split (a small CPU scale by default).

Variants: default (2,000 iterations, batch 64, lr 5e-4, 8,192 test + 4,096 train evaluation
images), 'smoke' (seconds), 'paper' (500k iterations, whole test split; accelerators).
"""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "train"
  c.dataset = "dsprites"  # dsprites | dsprites_90 | shapes3d | mpi3d | celeb_glow
  c.split = "extrapolation"  # random | composition | interpolation | extrapolation
  c.model = "cnn"  # see rvl_jax.benchmark.models.MODELS
  c.seed = 0
  c.num_steps = 2000
  c.batch_size = 64
  c.lr = 0.0  # 0 -> the paper's value for the model (5e-4, DenseNet 1e-4)
  c.data_dir = ""  # split files or a full-grid file; '' -> procedural
  c.source = "auto"  # auto | split_files | grid | procedural
  c.split_seed = 0  # random-split permutation seed
  c.celeb_variant = "default"  # CelebGlow composition table: default | alt
  c.init_weights = ""  # pretrained weights for fine-tuning (BiT npz, torchvision npz)
  c.augment = ""  # comma-separated subset of erase,noise,shear,blur (App. F)
  c.input_pipeline = False  # file data: shuffled epochs through rvl_jax.data.pipeline
  c.worker_count = 0  #   (instead of batches drawn with replacement per step),
  c.num_threads = 2  #   decoded by these worker processes / threads
  c.eval_test = 8192  # fixed random test subset (0 = whole test split)
  c.eval_train = 4096  # train images for the train R^2
  c.eval_seed = 20220125  # independent of the training seed
  c.eval_batch = 512
  c.log_every = 100
  c.checkpoint_every = 1000
  c.save_predictions = True
  c.plots = True
  if variant == "smoke":
    c.num_steps = 30
    c.eval_test = 512
    c.eval_train = 256
    c.log_every = 10
  elif variant == "paper":
    c.num_steps = 500_000
    c.eval_test = 0
    c.eval_train = 0
    c.log_every = 1000
    c.checkpoint_every = 10_000
    c.input_pipeline = True
    c.worker_count = 8
  elif variant is not None:
    raise ValueError(f"config variant: expected None, 'smoke' or 'paper', got {variant!r}")
  return c
