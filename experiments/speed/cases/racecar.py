"""Paper-scale cases of the MNIST classifier and the racecar experiments (E1-E10)."""

from __future__ import annotations

import jax.numpy as jnp

from experiments.speed.cases import racecar_gan
from experiments.speed.cases.common import Case, adam_state
from experiments.speed.cases.common import images as _images
from experiments.speed.cases.common import key as _key
from experiments.speed.cases.common import labels as _labels
from experiments.speed.cases.common import onehot as _onehot


def cases_mnist_classifier(c, label):
  from experiments.mnist_classifier import train

  b = c.batch_size
  return [
    Case(
      label,
      "train step",
      train.train_step,
      lambda: (
        train.create_state(c, _key(c.seed)),
        {"image": _images((b, 28, 28, 1)), "label": _labels(b, 10)},
      ),
      b,
      c.num_steps,
    )
  ]


# ---------------------------------------------------------------------------------------- racecar


def _racecar_case(
  label,
  c,
  model,
  x_shape,
  y,
  method,
  steps,
  *,
  logits_from="out",
  note="",
  n_classes=None,
  init_x=None,
):
  """A racecar chain trained with `training.make_train_step` (the step of `protocol.run_phase`)."""
  from rvl_jax.racecar import protocol, training
  from rvl_jax.racecar.layers import ReverseConfig

  reg = training.RegConfig(method, **c.reg)
  b = x_shape[0]

  def make_args():
    x0 = jnp.zeros((2,) + tuple(x_shape[1:]), jnp.float32) if init_x is None else init_x()
    st = protocol.create_state(
      model,
      x0,
      _key(0),
      protocol.make_optimizer(c.optimizer, c.learning_rate),
      reverse=ReverseConfig(),
    )
    return st, {"x": _images(x_shape), "y": y(b)}

  return Case(
    label,
    f"{method} step",
    training.make_train_step(reg, "softmax_ce", logits_from),
    make_args,
    b,
    steps,
    note,
  )


def cases_racecar(c, label):

  from experiments.racecar import e2_peak
  from rvl_jax.racecar import cifar_transfer, models, stylize
  from rvl_jax.racecar.layers import RacecarChain, dense_spec

  e = c.experiment
  if e == "e1":
    n = len(c.pairs) * len(c.methods) * c.num_steps
    return [
      _racecar_case(
        label,
        c,
        RacecarChain((dense_spec(10, activation=None),)),
        (2, 784),
        lambda b: _onehot(b, 10),
        "rr",
        n,
        note="two images, full batch; every method costed at the RR step",
      )
    ]
  if e == "e2":
    n = len(c.archs) * len(c.methods) * len(c.seeds) * c.num_steps
    return [
      _racecar_case(
        label,
        c,
        RacecarChain(e2_peak.ARCHS["c"]),
        (100, 784),
        lambda b: _onehot(b, 2),
        "rr",
        n,
        note="architecture (c), 100 peak images full batch; all archs/methods costed at it",
      )
    ]
  if e == "e3":
    k = int(4096 * 0.8) // c.batch_size
    per_seed = len(c.methods) * (c.epochs + 2 * c.finetune_epochs) + c.epochs + c.finetune_epochs
    return [
      _racecar_case(
        label,
        c,
        models.mi_mlp(tuple(c.widths), c.activation),
        (c.batch_size, 12),
        lambda b: _onehot(b, 2),
        "rr",
        len(c.seeds) * per_seed * k,
        logits_from="linear",
        note=f"one optimizer step ({k} per epoch, scanned per epoch in the run)",
      )
    ]
  if e in ("e5", "e6", "e7", "e10"):
    if e == "e10":
      per_seed = c.pretrain_steps + 2 * c.train_steps
    else:
      s = c.schedule if e in ("e6", "e7") else c
      per_seed = (
        len(c.methods) * (s.num_steps + 2 * s.finetune_steps) + s.num_steps + s.finetune_steps
      )
    n = len(c.seeds) * per_seed
    if e == "e5":
      return [
        _racecar_case(
          label,
          c,
          models.mnist_cnn(tuple(c.channels)),
          (c.batch_size, 28, 28, 1),
          lambda b: _onehot(b, 10),
          "rr",
          n,
          note="every phase costed at RR",
        )
      ]
    if e == "e10":
      n_cls = len(stylize.TRAIN_IMAGES)
      vgg = models.tiny_vgg(c.widths, c.convs_per_stage, c.head_hidden, n_cls, c.norm or None)
      return [
        _racecar_case(
          label,
          c,
          vgg,
          (c.batch_size, c.patch, c.patch, 3),
          lambda b: _onehot(b, n_cls),
          "rr",
          n,
          note="pre-training and Std phases costed at RR",
        )
      ]
    if e == "e7":
      arch, method = cifar_transfer.ResNetArch(c.resnet_version, c.depth, c.width), "lrr"
    else:
      arch, method = cifar_transfer.ChainArch(c.widths, c.convs_per_stage, c.hidden), "rr"
    model = arch.model(c.classes_a)
    b = c.schedule.batch_size

    def make_args():
      v = arch.init(model, jnp.zeros((2, 32, 32, 3)), _key(0))
      st = adam_state(model.apply, v["params"], c.schedule.learning_rate, 0, v["batch_stats"])
      return st, {"x": _images((b, 32, 32, 3)), "y": _labels(b, c.classes_a)}

    from rvl_jax.racecar import training

    step = arch.train_step(training.RegConfig(method, **c.reg))
    return [Case(label, f"{method} step", step, make_args, b, n, "every phase costed at " + method)]
  if e == "e8":
    h, w = c.image_size
    return [
      _racecar_case(
        label,
        c,
        models.texture_cnn(tuple(c.channels), 16),
        (c.batch_size, h, w, 3),
        lambda b: _onehot(b, 16),
        "rr",
        len(c.seeds) * len(c.methods) * c.num_steps,
        note="16 cue-conflict classes; every method costed at RR",
      )
    ]
  if e in ("e4", "e9"):
    return racecar_gan.cases_racecar_gan(c, label)
  raise ValueError(f"argument 'config.experiment': unknown racecar experiment {e!r}")
