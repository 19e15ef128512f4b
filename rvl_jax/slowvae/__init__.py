"""SlowVAE (Klindt*, Schott*, Sharma* et al., ICLR 2021) and its baselines in JAX/Flax.

Modules:
  losses    closed-form Laplace/Gaussian terms, SlowVAE objective (reference and paper forms),
            PM-VAE, Ada-GVAE / Ada-ML-VAE, PCL
  models    64x64 reference conv VAE (sub-pixel decoder), disentanglement_lib VAE, MLP VAE, PCL
  training  train states and pure train steps for every method, representation functions
  pairs     LAP / LAP-NC / UNI / LOC transition samplers on factor grids, PairData
  datasets  pair sources: dSprites, Shapes3D, MPI3D, SmallNORB, Cars3D, Natural Sprites,
            KITTI Masks (files or offline stand-ins), synthetic nonlinear ICA
  synthetic the nonlinear-ICA source of spec 9.2
  viz       correlation heat map, latent-vs-ground-truth scatter, traversals
  api       load_representation(workdir)
"""

from rvl_jax.slowvae.api import load_representation
from rvl_jax.slowvae.api import load_run
from rvl_jax.slowvae.losses import laplace_cross_entropy
from rvl_jax.slowvae.losses import slowvae_loss
from rvl_jax.slowvae.models import VAE
from rvl_jax.slowvae.models import PCLModel
from rvl_jax.slowvae.pairs import LaplaceTransitions
from rvl_jax.slowvae.pairs import UniformTransitions
from rvl_jax.slowvae.pairs import make_sampler
from rvl_jax.slowvae.synthetic import NonlinearICAPairs
from rvl_jax.slowvae.training import create_state
from rvl_jax.slowvae.training import make_train_step
from rvl_jax.slowvae.training import make_representation_fn
