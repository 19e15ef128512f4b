"""Adversarial attacks and robustness evaluation (ABS spec sections 8 and 9), JAX-native.

Every attack takes a classifier ``logits_fn(x) -> (N, K)`` for inputs x float32 (N, H, W, C) in
[0, 1], is batched over samples and jit-compiled, and returns a :class:`Tracker` holding, per
sample and per metric (L0, L2, L-inf), the smallest adversarial among all queries it made.
"""

from rvl_jax.attacks.core import (METRICS, Tracker, binarize, binarize_ste, binary_postprocess,
                                  calibrated_probs, cross_entropy, distance, estimated_grad,
                                  init_tracker, is_adversarial, make_grad_fn, merge, query,
                                  straight_through, true_grad, update)
from rvl_jax.attacks.noise import additive_gaussian, salt_and_pepper
from rvl_jax.attacks.pointwise_attack import pointwise
from rvl_jax.attacks.boundary_attack import boundary
from rvl_jax.attacks.gradient import bim, deepfool, fgm, fgsm, iterative_attack, mim, pgd
from rvl_jax.attacks.transfer_attack import line_search, substitute_directions, transfer
from rvl_jax.attacks.latent import latent_descent
from rvl_jax.attacks.distal_attack import CALIBRATION, distal
from rvl_jax.attacks.autoattack import apgd, autoattack, autoattack_report, fab, square
