"""Adversarial attacks and robustness evaluation, JAX-native: the evaluation of Schott et al.
(2019), Sec. 5 and 7, plus AutoAttack (Croce & Hein 2020) and minimal-norm attacks (Carlini & Wagner
2017, Rony et al. 2019, Chen et al. 2020).

Every attack takes a classifier ``logits_fn(x) -> (N, K)`` for inputs x float32 (N, H, W, C) in
[0, 1] and is batched over samples and jit-compiled. Minimal-norm attacks return a
:class:`Tracker` holding, per sample and per metric (L0, L2, L-inf), the smallest adversarial
among all queries they made; fixed-epsilon attacks (``pgd``, ``iterative_attack``) take one
radius or a list and return the adversarials and their success per radius. Radii are true Lp
norms (L2: Euclidean norm of the whole perturbation).
"""

from rvl_jax.attacks.autoattack import apgd, autoattack, autoattack_report, fab, square
from rvl_jax.attacks.boundary_attack import boundary
from rvl_jax.attacks.core import (
  METRICS,
  Tracker,
  binarize,
  binarize_ste,
  binary_postprocess,
  calibrated_probs,
  check_attack_args,
  cross_entropy,
  distance,
  estimated_grad,
  foolbox1_to_true,
  init_tracker,
  is_adversarial,
  make_grad_fn,
  merge,
  query,
  straight_through,
  true_grad,
  update,
)
from rvl_jax.attacks.distal_attack import CALIBRATION, distal
from rvl_jax.attacks.gradient import bim, deepfool, fgm, fgsm, iterative_attack, mim, pgd
from rvl_jax.attacks.latent import latent_descent
from rvl_jax.attacks.minimal_norm import carlini_wagner_l2, ddn, hop_skip_jump
from rvl_jax.attacks.noise import additive_gaussian, salt_and_pepper
from rvl_jax.attacks.pointwise_attack import pointwise
from rvl_jax.attacks.transfer_attack import line_search, substitute_directions, transfer
