"""Analysis-by-Synthesis (ABS) robust MNIST classifier (Schott et al., ICLR 2019).

Modules: ``nets`` (Flax VAE / CNN / Madry networks), ``weights`` (released-weight
loaders), ``inference`` (sample bank, vmap latent search), ``models`` (ABS /
Binary ABS classifiers, ``logits_fn`` constructors), ``baselines`` (CNNs,
nearest neighbour, Madry PGD training), ``training`` (per-class VAE ELBO
training), ``lower_bounds`` (L2 / L-inf robustness certificates), ``evaluation``
(balanced subsets, calibration, released-weights checks), ``robustness`` (the Table-1
attack protocol over all columns).

Every classifier follows one interface: ``logits_fn(x) -> (N, 10)`` for x float32
(N, 28, 28, 1) in [0, 1].
"""

from rvl_jax.abs import inference, models, nets, weights
from rvl_jax.abs.inference import binarize, confidence_softmax, gaussian_bank
from rvl_jax.abs.models import ABS, ABSOptions, load_reference_abs
