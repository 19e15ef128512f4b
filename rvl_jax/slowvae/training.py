"""Train states and pure training steps for SlowVAE and its baselines.

Methods:
  'slowvae'  the SlowVAE objective (Klindt et al. 2021, Eq. 4 and App. A.2), in the authors' code's
             bookkeeping (default) or the paper's form;
  'betavae'  the same objective with gamma = 0 (Higgins et al. 2017);
  'pmvae'    Gaussian transition prior ablation (alpha = 2, Klindt et al. 2021, App. F.3);
  'adagvae' / 'adamlvae'  adaptive group VAEs (Locatello et al. 2020);
  'pcl'      permutation-contrastive learning (Hyvarinen & Morioka 2017).

Every ``train_step(state, batch) -> (state, metrics)`` is pure and meant to be run by
``rvl_jax.core.loop.train`` (which jits it with the batch sharded over the 'data' axis).
Batches are dicts with 'x1' (first frames) and 'x2' (second frames), shape (B, *data_shape).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import prng, validation
from rvl_jax.core.train_state import TrainState
from rvl_jax.slowvae import losses, models

METHODS = ("slowvae", "betavae", "pmvae", "adagvae", "adamlvae", "pcl")
VAE_METHODS = ("slowvae", "betavae", "pmvae", "adagvae", "adamlvae")


def make_model(method: str, **fields):
  """The Flax module of ``method``: ``models.PCLModel`` for 'pcl', else ``models.VAE``.

  Args:
    method: one of ``METHODS``.
    **fields: the module's attributes (``arch``, ``latent_dim``, ``data_shape``, ``hidden``);
      the module's defaults for the others.

  Returns:
    The module.

  Raises:
    ValueError: naming 'method' for an unknown method.
  """
  validation.check_in_choices("method", method, METHODS)
  fields = {k: tuple(v) if k in ("data_shape", "hidden") else v for k, v in fields.items()}
  return (models.PCLModel if method == "pcl" else models.VAE)(**fields)


def create_state(
  method: str, *, learning_rate: float = 1e-4, seed: int = 0, **fields
) -> Tuple[Any, TrainState]:
  """Builds the model and a TrainState with Adam (b1 0.9, b2 0.999, eps 1e-8).

  The optimiser is that of Klindt et al. 2021, App. E. Parameters are initialised from the stream
  'init' of ``seed``; the state's key (for the training noise) is the stream 'train'.

  Args:
    method: one of ``METHODS``.
    learning_rate: Adam learning rate.
    seed: the run's seed.
    **fields: the model's attributes, as in ``make_model``: ``arch`` ('reference' | 'dislib' |
      'mlp'), ``latent_dim`` (d), ``data_shape`` (shape of one observation), ``hidden`` (MLP
      hidden sizes, arch='mlp').

  Returns:
    (model, state): the Flax module and its TrainState.

  Raises:
    ValueError: naming 'method' for an unknown method.
  """
  model = make_model(method, **fields)
  init_key, noise_key = prng.stream_key(seed, "init"), prng.stream_key(seed, "init/noise")
  x = jnp.zeros((2,) + model.data_shape, jnp.float32)
  if method == "pcl":
    variables = model.init(init_key, x, x)
  else:
    variables = model.init(init_key, x, noise_key)
  tx = optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)
  state = TrainState.create(
    apply_fn=model.apply, params=variables["params"], tx=tx, rng=prng.stream_key(seed, "train")
  )
  return model, state


def make_train_step(
  method: str, model, loss: Optional[losses.LossConfig] = None, **overrides
) -> Callable[[TrainState, Dict[str, jnp.ndarray]], Tuple[TrainState, Dict]]:
  """The pure training step of ``method`` (see the module docstring).

  Args:
    method: one of ``METHODS``; 'betavae' ignores ``gamma``.
    model: the module of ``create_state``.
    loss: the loss settings (likelihood, beta, gamma, rate, mode); None: ``losses.LossConfig()``.
    **overrides: fields of ``losses.LossConfig`` replacing those of ``loss``, e.g.
      ``likelihood='gaussian'``.

  Returns:
    ``train_step(state, batch) -> (state, metrics)``; the batch holds 'x1' and 'x2'
    (B, *data_shape); the step's noise comes from ``state.next_rng()``.

  Raises:
    ValueError: naming 'method', 'likelihood' or 'mode' for an unknown value.
    TypeError: for an override that is not a field of ``losses.LossConfig``.
  """
  validation.check_in_choices("method", method, METHODS)
  loss = dataclasses.replace(loss or losses.LossConfig(), **overrides)
  likelihood, beta = loss.likelihood, loss.beta
  gamma = 0.0 if method == "betavae" else loss.gamma

  def encode(params, x):
    return model.apply({"params": params}, x, method=model.encode)

  def decode(params, z):
    return model.apply({"params": params}, z, method=model.decode)

  def vae_loss(params, batch, key):
    x = losses.interleave(batch["x1"], batch["x2"])
    mu, logvar = encode(params, x)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape, mu.dtype)
    rec = losses.reconstruction_nll(decode(params, z), x, likelihood)
    if method in ("slowvae", "betavae"):
      return losses.slowvae_loss(
        mu, logvar, rec, beta=beta, gamma=gamma, rate=loss.rate, mode=loss.mode
      )
    return losses.pmvae_loss(mu, logvar, rec, beta=beta, gamma=gamma)

  def ada_loss(params, batch, key):
    x = losses.interleave(batch["x1"], batch["x2"])
    mu, logvar = encode(params, x)
    mu1, mu2 = losses.deinterleave(mu)
    lv1, lv2 = losses.deinterleave(logvar)
    mu1, lv1, mu2, lv2, shared = losses.ada_average(
      mu1, lv1, mu2, lv2, "gvae" if method == "adagvae" else "mlvae"
    )
    mu_n = losses.interleave(mu1, mu2)
    lv_n = losses.interleave(lv1, lv2)
    z = mu_n + jnp.exp(0.5 * lv_n) * jax.random.normal(key, mu_n.shape, mu_n.dtype)
    rec = losses.reconstruction_nll(decode(params, z), x, likelihood)
    r1, r2 = losses.deinterleave(rec)
    loss, aux = losses.ada_gvae_loss(mu1, lv1, mu2, lv2, r1, r2, beta=beta)
    aux["shared_dims"] = jnp.mean(jnp.sum(shared, -1))
    return loss, aux

  def pcl_loss(params, batch, key):
    x = losses.interleave(batch["x1"], batch["x2"])
    h = model.apply({"params": params}, x, method=model.features)
    h_prev, h_t = losses.deinterleave(h)
    b = h_t.shape[0]
    shift = jax.random.randint(key, (), 1, max(b, 2))
    h_neg = jnp.roll(h_prev, shift, axis=0)  # another pair's first frame
    ro = lambda ht, hp: model.apply({"params": params}, ht, hp, method=model.readout)
    return losses.pcl_loss(ro(h_t, h_prev), ro(h_t, h_neg))

  loss_fn = {
    "slowvae": vae_loss,
    "betavae": vae_loss,
    "pmvae": vae_loss,
    "adagvae": ada_loss,
    "adamlvae": ada_loss,
    "pcl": pcl_loss,
  }[method]

  def train_step(state: TrainState, batch):
    state, key = state.next_rng()
    grads, aux = jax.grad(loss_fn, has_aux=True)(state.params, batch, key)
    new_state = state.apply_gradients(grads)
    if method == "pcl":  # a >= 0 after each update
      params = dict(new_state.params)
      params["a"] = jnp.maximum(params["a"], 0.0)
      new_state = new_state.replace(params=params)
    return new_state, aux

  return train_step


def pure_representation(method: str, model, params) -> Callable[[jnp.ndarray], jnp.ndarray]:
  """Traceable x -> mu(x) (VAEs) or h(x) (PCL); jit it or hand it to the metrics."""
  if method == "pcl":
    return lambda x: model.apply({"params": params}, x, method=model.features)
  return lambda x: model.apply({"params": params}, x, method=model.encode)[0]


def make_representation_fn(
  method: str,
  model,
  params,
  batch_size: int = 256,
) -> Callable[[np.ndarray], np.ndarray]:
  """Deterministic representation x -> mu(x) (VAEs) or h(x) (PCL), numpy in / numpy out.

  Args:
    method: the trained method.
    model: its module.
    params: its parameters.
    batch_size: images per jit-compiled call.

  Returns:
    ``representation_fn(x) -> codes``: float32 (n, *data_shape) -> numpy (n, latent_dim).
  """
  from rvl_jax.core.batched import batched_apply

  fn = jax.jit(pure_representation(method, model, params))

  def representation_fn(x):
    x = np.asarray(x, np.float32)
    if x.shape[0] == 0:
      return np.zeros((0, model.latent_dim), np.float32)
    return batched_apply(fn, x, min(batch_size, x.shape[0]))

  return representation_fn


def make_decode_fn(model, params, likelihood: str = "bernoulli"):
  """z -> mean prediction in data space (sigmoid of logits for Bernoulli)."""
  fn = jax.jit(
    lambda z: losses.mean_prediction(
      model.apply({"params": params}, z, method=model.decode), likelihood
    )
  )
  return lambda z: np.asarray(fn(jnp.asarray(z, jnp.float32)))
