"""SlowVAE (Klindt*, Schott*, Sharma* et al., ICLR 2021) and its baselines in JAX/Flax.

Modules:
  losses    closed-form Laplace/Gaussian terms, SlowVAE objective (reference and paper forms),
            PM-VAE, Ada-GVAE / Ada-ML-VAE, PCL
  models    64x64 reference conv VAE (sub-pixel decoder), disentanglement_lib VAE, MLP VAE, PCL
  training  train states and pure train steps for every method, representation functions
  pairs     LAP / LAP-NC / UNI / LOC transition samplers on factor grids, PairData
  datasets  pair sources: dSprites, Shapes3D, MPI3D, SmallNORB, Cars3D, Natural Sprites,
            KITTI Masks (files or offline stand-ins), synthetic nonlinear ICA
  synthetic the synthetic nonlinear-ICA source (Klindt et al. 2021, App. F.1)
  viz       correlation heat map, latent-vs-ground-truth scatter, traversals
  api       load_representation(workdir)
  evaluation  every disentanglement metric and the figures for a trained run (score_representation)
"""

from rvl_jax.slowvae.api import load_representation, load_run
from rvl_jax.slowvae.losses import LossConfig, laplace_cross_entropy, slowvae_loss
from rvl_jax.slowvae.models import VAE, PCLModel
from rvl_jax.slowvae.pairs import LaplaceTransitions, UniformTransitions, make_sampler
from rvl_jax.slowvae.synthetic import NonlinearICAPairs
from rvl_jax.slowvae.training import create_state, make_representation_fn, make_train_step
