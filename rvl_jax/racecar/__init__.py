"""Racecar training (Xie & Thuerey): a data-dependent orthogonality regulariser built from a
weight-sharing reverse pass with explicit transposes, plus the Ort baselines, SVD / MI analyses and data.

Modules: ops (forward ops + explicit transposes), layers (LayerSpec, RacecarChain, BN), losses,
ortho (SRIP, Frobenius), residual (ResNet v1/v2 with layer-wise units), training (train steps),
protocol (the experiments' training phases), models (the experiments' architectures),
cifar_transfer (the CIFAR transfer protocol), smoke_sr (super-resolution GAN and autoencoders),
stylize (Gatys stylization), analysis (SVD + LPIPS substitutes), mi (binned MI, MI planes),
transfer (generator -> autoencoder initialisation, channel stacking), data (peak, sphere, MNIST
pairs, smoke stand-in, motion blur, loaders).
"""

from rvl_jax.racecar.layers import (
  ChainOutput,
  LayerSpec,
  RacecarBatchNorm,
  RacecarChain,
  RacecarLinear,
  ReverseConfig,
  conv_spec,
  count_params,
  deconv_spec,
  dense_spec,
)
from rvl_jax.racecar.losses import (
  group_weights,
  layer_lambdas,
  racecar_loss,
  racecar_terms,
  reduce_sq,
)
from rvl_jax.racecar.ortho import (
  frobenius_penalty,
  ortho_frobenius,
  srip,
  srip_penalty,
  srip_schedule,
)
from rvl_jax.racecar.residual import RacecarResNet, layerwise_pairs_loss
from rvl_jax.racecar.training import (
  RegConfig,
  auto_lambda,
  make_predict,
  make_resnet_train_step,
  make_train_step,
)
