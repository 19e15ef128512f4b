"""E6 CIFAR-10 -> CIFAR-100 with a VGG-style 13-conv racecar chain. Variants: default (offline
stand-in gratings, narrow VGG, a few hundred steps), smoke (tiny), paper (tfds CIFAR-10/100,
widths 64..512)."""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "e6"
  c.seeds = (0,)
  c.data_source = "standin"  # 'standin' | 'tfds' | 'files' | 'npz' (files/npz: path_a, path_b)
  c.data_dir = ""
  c.path_a = ""
  c.path_b = ""
  c.cifar10_1_path = ""
  c.standin_train = 2000
  c.standin_test = 500
  c.classes_a = 10
  c.classes_b = 100
  c.widths = (8, 16, 32, 32, 32)
  c.convs_per_stage = (2, 2, 3, 3, 3)
  c.hidden = 64
  c.methods = ("std", "rr")
  c.reg = ml_collections.ConfigDict({"lam": 1e-5, "output_activation": "relu"})  # RegConfig
  c.schedule = ml_collections.ConfigDict(
    {  # cifar_transfer.Schedule
      "num_steps": 300,
      "finetune_steps": 150,
      "batch_size": 64,
      "eval_batch_size": 250,
      "learning_rate": 1e-3,
      "log_every": 50,
      "checkpoint_every": 100000,
    }
  )
  c.distributed = False
  if variant == "smoke":
    c.standin_train, c.standin_test = 128, 64
    c.classes_b = 20
    c.widths = (4, 4, 8, 8, 8)
    c.hidden = 16
    c.schedule.update(
      {"num_steps": 4, "finetune_steps": 2, "log_every": 2, "batch_size": 32, "eval_batch_size": 64}
    )
  elif variant == "paper":
    c.data_source = "tfds"
    c.widths = (64, 128, 256, 512, 512)
    c.hidden = 512
    c.seeds = (0, 1, 2, 3, 4)
    c.schedule.update(
      {"num_steps": 100 * 50000 // 64, "finetune_steps": 30 * 50000 // 64, "checkpoint_every": 5000}
    )
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
