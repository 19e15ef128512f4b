"""Paper-scale cases of ABS: the class VAEs' step, the latent search, the Madry baseline."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.speed.cases.common import MNIST_TEST, Case, adam_state
from experiments.speed.cases.common import images as _images
from experiments.speed.cases.common import key as _key
from experiments.speed.cases.common import labels as _labels


def abs_inference_case(label, *, batch, n_samples, n_iter, calls, note, micro_batch=32):
  """The ABS latent search (``inference.latent_search``) on one batch, from abstract VAEs."""
  from rvl_jax.abs import inference as inf
  from rvl_jax.abs import nets

  n_bank = n_samples

  def make_args():
    # fuse_decoder folds BatchNorm with NumPy, so it gets concrete (constant) VAE variables.
    shapes = jax.eval_shape(nets.VAE().init, _key(0), jnp.zeros((1, 28, 28, 1)))
    v = jax.tree_util.tree_map(lambda l: np.full(l.shape, 0.05, l.dtype), shapes)
    params = inf.stack_fused([inf.fuse_decoder(v)] * 10)
    z = jax.random.normal(_key(1), (n_bank, nets.LATENT_SIZE))
    imgs = _images((10, n_bank, 784), 2)  # stands in for the decoded bank (same shape)
    return params, z, imgs, jnp.sum(imgs**2, -1), _images((batch, 784))

  def fn(params, z, imgs, sq, x):
    return inf.latent_search(params, z, imgs, sq, x, n_iter=n_iter, micro_batch=micro_batch)

  return Case(
    label,
    f"ABS inference (batch {batch}, {n_iter} Adam iterations)",
    fn,
    make_args,
    batch,
    calls,
    note,
    train=False,
    params_of=lambda args: args[0],
  )


def cases_abs(c, label):
  if c.experiment == "train":
    from rvl_jax.abs import nets, training

    b = c.vae.batch_size

    def make_args():
      model = nets.VAE()
      v = model.init(_key(0), jnp.zeros((1, 28, 28, 1)))
      st = adam_state(model.apply, v["params"], c.vae.lr, 1, v["batch_stats"])
      return st, {"image": _images((b, 28, 28, 1)), "beta": jnp.ones((b,))}

    n_eval = MNIST_TEST * (2 if c.eval_binary else 1)
    return [
      Case(
        label,
        "VAE step",
        training.make_vae_train_step(nets.LATENT_SIZE, None),
        make_args,
        b,
        10 * c.vae.num_steps,
        "ten class VAEs",
      ),
      abs_inference_case(
        label,
        batch=c.abs.batch_size,
        n_samples=c.abs.n_samples,
        n_iter=c.abs.n_iter,
        calls=-(-n_eval // c.abs.batch_size),
        note="not a gradient step: one clean test-set pass (ABS and "
        "binary ABS); lower bounds and distal runs call it more",
      ),
    ]
  # robustness: Madry PGD training + the ABS queries of the attacks
  return [
    madry_case(label, c.madry),
    abs_inference_case(
      label,
      batch=c.abs.batch_size,
      n_samples=c.abs.bank_size,
      n_iter=c.abs.query_n_iter,
      calls=2 * (c.abs.num_images // c.abs.batch_size),
      note="not a gradient step: one clean pass of ABS and binary ABS; "
      "every attack query is one more call",
    ),
  ]


def madry_case(label, madry, *, eps=0.3, batch=50):
  """The Madry et al. (2018) PGD adversarial-training step of ``rvl_jax.abs.baselines``, at the
  schedule of ``madry`` (a ``robustness.MadryColumn`` or the config group holding its fields)."""

  from rvl_jax.abs import baselines, nets

  model = nets.MadryCNN()

  def make_args():
    v = model.init(_key(0), jnp.zeros((1, 28, 28, 1)))
    st = adam_state(model.apply, v["params"], madry.lr, 1)
    return st, {"image": _images((batch, 28, 28, 1)), "label": _labels(batch, 10)}

  adv = dict(
    eps=eps,
    steps=madry.pgd_steps,
    step_size=madry.pgd_step_size,
    random_start=True,
    eps_warmup_steps=int(madry.eps_warmup_steps),
  )
  step = baselines.make_classifier_train_step(model, adversarial=adv, summed_loss=True)
  return Case(
    label,
    f"Madry PGD-{madry.pgd_steps} training step",
    step,
    make_args,
    batch,
    madry.steps,
    "the adversarially trained baseline",
  )
