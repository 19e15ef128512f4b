"""ImageNet ResNet50 fine-tuning with GNT / Speckle / ANT and ImageNet-C evaluation (Rusak et al.
2020, Sec. 4; ``ant`` = the fields of ``rvl_jax.noise.imagenet.AntSettings``).

Variants: default = faithful settings on a user ImageNet folder (accelerators; --config.data_dir
and optionally --config.imagenet_c_dir), 'smoke' = tiny synthetic folder + tiny ResNet (seconds),
'paper' = ANT1x1 preset (80 epochs, restarts every 1/3 epoch as in the paper).
Select the method with --config.method=clean|gaussian|gaussian_mult|speckle|ant1x1|ant3x3
(ANT3x3: --config.ant.eps=70).
"""

import dataclasses

import ml_collections

from rvl_jax.noise import imagenet


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "imagenet"
  c.seed = 0
  c.data_dir = ""
  c.imagenet_c_dir = ""
  c.synthetic = False
  c.num_classes = 1000
  c.image_size = 224
  c.model = "resnet50"
  # Fine-tuning start point: a name of rvl_jax.pretrained ('torchvision/resnet50') or a path to a
  # torchvision ResNet state dict; '' = random initialisation. init_download=True fetches a
  # registered name into the weight cache ($RVL_WEIGHTS_DIR) when it is not there yet.
  c.init_checkpoint = ""
  c.init_download = False
  c.method = "gaussian"
  c.sigma = 0.5
  c.batch_size = 70
  c.lr = 1e-3
  c.epochs = 30
  c.decay_epoch = 20
  c.ant = ml_collections.ConfigDict(dataclasses.asdict(imagenet.AntSettings()))
  c.val_limit = 0
  c.corruptions = ()
  c.jpeg_roundtrip = False
  c.eval_batch_size = 100
  c.worker_count = 0  # input-pipeline decoding processes (e.g. 8-16 on an accelerator host)
  c.num_threads = 2  # decoding threads per process
  c.log_every = 100
  c.checkpoint_every = 2000
  c.distributed = False
  if variant == "smoke":
    c.synthetic = True
    c.num_classes = 4
    c.image_size = 32
    c.model = "resnet_tiny"
    c.batch_size = 8
    c.lr = 0.01
    c.epochs = 1
    c.decay_epoch = 1
    c.ant.update(eps=5.0, restart_steps=2)
    c.corruptions = ("gaussian_noise", "contrast")
    c.log_every = 2
  elif variant == "paper":
    c.init_checkpoint = "torchvision/resnet50"  # the paper fine-tunes the pretrained ResNet-50
    c.method = "ant1x1"
    c.epochs = 80
    c.decay_epoch = 60
    c.ant.restart_every_epochs = 1 / 3
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
