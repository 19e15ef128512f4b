"""Per-class VAE training with the ELBO (Schott et al. 2019, Sec. 3, eq. 2; Appendix A.7).

Loss per image: ||x - sigmoid(dec(z))||^2 + beta_t * KL(q(z|x) || N(0, I)), z ~ q
(one reparameterised sample), i.e. a fixed-variance Gaussian likelihood with
sigma = 1/sqrt(2); averaged over the batch and divided by 784. beta_t decreases
linearly per epoch from ``beta_start`` (10) to ``beta_end`` (1) over the first
``anneal_epochs`` (50) epochs, then stays at ``beta_end``.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.abs import nets
from rvl_jax.core import prng
from rvl_jax.data import augment as augment_lib

N_PIXELS = 784


def kl_divergence(mu, logvar):
  """KL(N(mu, exp(logvar)) || N(0, I)) summed over the latent axis."""
  return 0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1)


def vae_loss_terms(logits, x, mu, logvar):
  """Per-image (squared reconstruction error, KL)."""
  rec = jnp.sum(
    (x.reshape(x.shape[0], -1) - jax.nn.sigmoid(logits).reshape(x.shape[0], -1)) ** 2, axis=-1
  )
  return rec, kl_divergence(mu, logvar)


def beta_schedule(step, steps_per_epoch: float, beta_start=10.0, beta_end=1.0, anneal_epochs=50.0):
  """Linear per-epoch decrease of the KL weight from beta_start to beta_end."""
  epoch = np.floor(step / steps_per_epoch)
  frac = np.clip(epoch / max(anneal_epochs, 1e-9), 0.0, 1.0)
  return beta_start + (beta_end - beta_start) * frac


@functools.lru_cache(maxsize=None)
def make_vae_train_step(
  latent: int = nets.LATENT_SIZE, augment: Optional[augment_lib.ElasticAffine] = None
):
  """Pure train step (state, batch{'image', 'beta'}) -> (state, metrics).

  The KL weight comes with the batch (``batch['beta']``, one value per example, from
  ``beta_schedule``), so one step function (and one compilation) serves all ten VAEs.
  ``augment`` (default None = the paper's setting) transforms every batch with
  ``rvl_jax.data.augment.elastic_affine`` inside the step.
  """
  model = nets.VAE(latent)

  def step(state, batch):
    x = batch["image"]
    state, key = state.next_rng()
    if augment is not None:
      key, k_aug = jax.random.split(key)
      x = augment_lib.elastic_affine(k_aug, x, augment)
    beta = jnp.mean(batch["beta"])

    def loss_fn(params):
      (logits, mu, logvar), upd = model.apply(
        {"params": params, "batch_stats": state.batch_stats},
        x,
        rng=key,
        train=True,
        mutable=["batch_stats"],
      )
      rec, kl = vae_loss_terms(logits, x, mu, logvar)
      loss = jnp.mean(rec + beta * kl) / N_PIXELS
      return loss, (upd, rec, kl)

    (loss, (upd, rec, kl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, batch_stats=upd["batch_stats"])
    return state, {"loss": loss, "recon_error": jnp.mean(rec), "kl": jnp.mean(kl), "beta": beta}

  return step


def init_adam_state(model, seed: int, stream: str, lr: float):
  """The train state of an MNIST model (28x28x1 inputs) with Adam.

  Args:
    model: the Flax module.
    seed: the run's seed.
    stream: name of the run's random streams: initialization uses '<stream>/init', the state's
      key '<stream>/train'.
    lr: Adam learning rate.

  Returns:
    A core ``TrainState`` at step 0.
  """
  from rvl_jax.core import train_state  # pylint: disable=g-import-not-at-top

  variables = model.init(prng.stream_key(seed, f"{stream}/init"), jnp.zeros((1, 28, 28, 1)))
  return train_state.TrainState.create(
    apply_fn=model.apply,
    params=variables["params"],
    tx=optax.adam(lr),
    rng=prng.stream_key(seed, f"{stream}/train"),
    batch_stats=variables.get("batch_stats"),
  )


def batch_indices_fn(seed: int, stream: str, num_images: int, batch_size: int):
  """Batch indices drawn with replacement, fixed by seed and step (stream '<stream>/batches').

  Args:
    seed: the run's seed.
    stream: name of the run's random streams.
    num_images: size of the training set.
    batch_size: images per step.

  Returns:
    ``step -> (batch_size,) indices in [0, num_images)``.
  """
  from rvl_jax.data import batching  # pylint: disable=g-import-not-at-top

  batch_stream = prng.name_hash(f"{stream}/batches")
  return lambda step: batching.step_rng(seed, step, batch_stream).integers(
    0, num_images, size=batch_size
  )


def train_vae(
  images,
  *,
  num_steps: int,
  batch_size: int = 64,
  lr: float = 1e-3,
  seed: int = 0,
  stream: str = "vae",
  beta_start: float = 10.0,
  beta_end: float = 1.0,
  anneal_epochs: float = 50.0,
  workdir: Optional[str] = None,
  desc: str = "vae",
  log_every: int = 100,
  augment: Optional[augment_lib.ElasticAffine] = None,
):
  """Trains one VAE on images (N, 28, 28, 1) of one class.

  Args:
    images: (N, 28, 28, 1) float images in [0, 1].
    num_steps: training steps.
    batch_size: images per step (drawn with replacement, fixed by seed and step).
    lr: Adam learning rate.
    seed: the run's seed; initialization, batches and sampling use the streams
      '<stream>/init', '<stream>/batches' and '<stream>/train'.
    stream: name of this VAE's random streams.
    beta_start: KL weight at the start of the annealing.
    beta_end: KL weight after ``anneal_epochs``.
    anneal_epochs: epochs of the linear annealing.
    workdir: checkpoint directory (None = no checkpoints); a rerun resumes.
    desc: progress label.
    log_every: steps between logged metrics.
    augment: optional elastic/affine augmentation of every batch (not in the paper, which
      trains on ~6,000 images per class without augmentation; see ``ElasticAffine``).

  Returns:
    (variables dict, ``loop.train`` result with the metric history).

  Raises:
    ValueError: naming ``images`` when its shape is not (N, 28, 28, 1).
  """
  from rvl_jax.core import loop  # pylint: disable=g-import-not-at-top

  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
    raise ValueError(f"argument 'images': expected shape (N, 28, 28, 1), got {images.shape}")
  model = nets.VAE()
  state = init_adam_state(model, seed, stream, lr)
  steps_per_epoch = len(images) / batch_size
  batch_indices = batch_indices_fn(seed, stream, len(images), batch_size)

  def get_batch(step):
    beta = float(beta_schedule(step, steps_per_epoch, beta_start, beta_end, anneal_epochs))
    idx = batch_indices(step)
    return {"image": images[idx], "beta": np.full((batch_size,), beta, np.float32)}

  res = loop.train(
    state=state,
    train_step=make_vae_train_step(model.latent, augment),
    get_batch=get_batch,
    num_steps=num_steps,
    workdir=workdir,
    desc=desc,
    log_every=log_every,
    checkpoint_every=max(500, log_every),
  )
  return res.state.variables(), res


def train_abs_vaes(
  images,
  labels,
  *,
  num_steps: int,
  workdir: Optional[str] = None,
  seed: int = 0,
  num_classes: int = 10,
  **kwargs,
):
  """Trains one VAE per class (class c only on images of digit c), as in Schott et al. (2019).

  Args:
    images: (N, 28, 28, 1) training images.
    labels: (N,) labels.
    num_steps: training steps per class.
    workdir: checkpoints go to ``workdir/vae_<c>`` (None = no checkpoints).
    seed: the run's seed; class c uses the streams 'vae/class<c>/...'.
    num_classes: number of classes.
    **kwargs: further ``train_vae`` arguments.

  Returns:
    A list of ``num_classes`` variables dicts (host arrays).
  """
  out = []
  labels = np.asarray(labels)
  for c in range(num_classes):
    wd = os.path.join(workdir, f"vae_{c}") if workdir else None
    v, _ = train_vae(
      images[labels == c],
      num_steps=num_steps,
      seed=seed,
      stream=f"vae/class{c}",
      workdir=wd,
      desc=f"vae class {c}",
      **kwargs,
    )
    out.append(jax.device_get(v))
  return out


def encoder_reconstruction_error(variables, images):
  """Summed squared error per image of decoder(encoder mean) (eval-mode BN)."""
  model = nets.VAE()
  logits, _, _ = jax.jit(lambda v, x: model.apply(v, x))(variables, jnp.asarray(images))
  return np.asarray(jnp.sum((jnp.asarray(images) - jax.nn.sigmoid(logits)) ** 2, axis=(1, 2, 3)))
