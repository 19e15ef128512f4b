"""The CIFAR transfer protocol of the racecar paper (Xie & Thuerey, appendix C.2 and Sec. 5).

For every seed and method: phase 1 on task A with the regulariser (``<m>_a``), phase 2 without it
on A from phase 1's weights (``<m>_A``, also evaluated on CIFAR-10.1 when given), phase 3 on task B
loading everything but the last layer (``<m>_B``); plus a from-scratch baseline on B
(``std_B-fs``). Two architectures share it: a VGG-style racecar chain with the full reverse pass
(`ChainArch`, the paper's 19-layer CNN) and a ResNet with the layer-wise loss (`ResNetArch`, the
paper's ResNet-110).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import batched, loop, prng, seeds, train_state
from rvl_jax.racecar import data, models, protocol, residual, training
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig


def load_task(
  which: str,
  num_classes: int,
  source: str,
  num_train: int = 2000,
  num_test: int = 500,
  path: Optional[str] = None,
  data_dir: Optional[str] = None,
):
  """Task A (CIFAR-10) or B (CIFAR-100), or the offline grating stand-in of each.

  Args:
    which: 'A' or 'B'.
    num_classes: classes of the stand-in (ignored for real data).
    source: 'standin', 'tfds', 'files' or 'npz' (see `data.load_cifar`).
    num_train: stand-in training images.
    num_test: stand-in test images.
    path: the file or folder of 'files' / 'npz'.
    data_dir: the tfds directory.

  Returns:
    (x_train, y_train, x_test, y_test).
  """
  if source == "standin":
    xtr, ytr = data.grating_standin(num_classes, num_train, prng.name_hash(f"{which}/train"))
    xte, yte = data.grating_standin(num_classes, num_test, prng.name_hash(f"{which}/test"))
    return xtr, ytr, xte, yte
  d = data.load_cifar("cifar10" if which == "A" else "cifar100", source, path, data_dir)
  return d["train_images"], d["train_labels"], d["test_images"], d["test_labels"]


@dataclasses.dataclass(frozen=True)
class ChainArch:
  """The VGG-style racecar chain (every conv in the full racecar loss).

  Attributes:
    widths: stage widths. convs_per_stage: convs per stage. hidden: FC width.
    output_activation: activation on d'_1 when measuring the reverse pass.
  """

  widths: Sequence[int]
  convs_per_stage: Sequence[int]
  hidden: int
  output_activation: Optional[str] = None

  head = "head1"

  def model(self, num_classes: int):
    return models.vgg_cifar(
      tuple(self.widths), tuple(self.convs_per_stage), num_classes, self.hidden
    )

  def init(self, model, x, key):
    return model.init(key, jnp.asarray(x), train=False, reverse=ReverseConfig())

  def logits(self, state, x):
    return state.apply_fn(state.variables(), x, train=False).out

  def reverse_pairs(self, state, x):
    out = state.apply_fn(
      state.variables(),
      x,
      train=False,
      reverse=ReverseConfig(output_activation=self.output_activation),
    )
    return [(x, out.recons[0])]

  def train_step(self, reg: RegConfig):
    return training.make_train_step(reg)


@dataclasses.dataclass(frozen=True)
class ResNetArch:
  """A `RacecarResNet` with the layer-wise racecar loss over every conv unit.

  Attributes:
    version: 1 or 2. depth: 6n + 2 (v1) or 9n + 2 (v2). width: the first stage's width.
    output_activation: activation of the stem unit's reconstruction.
  """

  version: int
  depth: int
  width: int
  output_activation: Optional[str] = None

  head = "head"

  def model(self, num_classes: int):
    return residual.RacecarResNet(
      version=self.version, depth=self.depth, num_classes=num_classes, width=self.width
    )

  def init(self, model, x, key):
    return model.init(key, jnp.asarray(x), train=False, racecar=True)

  def logits(self, state, x):
    return state.apply_fn(state.variables(), x, train=False)[0]

  def reverse_pairs(self, state, x):
    _, pairs = state.apply_fn(
      state.variables(), x, train=False, racecar=True, output_activation=self.output_activation
    )
    return pairs

  def train_step(self, reg: RegConfig):
    return training.make_resnet_train_step(reg)


def reverse_rel_error(arch, state, x) -> float:
  """||x' - x|| / ||x|| in eval mode over all racecar units together (d'_1 for the chain).

  Args:
    arch: `ChainArch` or `ResNetArch`.
    state: the trained state.
    x: a batch of inputs.

  Returns:
    The relative error of the reconstructions.
  """
  pairs = arch.reverse_pairs(state, jnp.asarray(x))
  err = sum(float(jnp.sum(jnp.square(r - t))) for t, r in pairs)
  return float(np.sqrt(err / sum(float(jnp.sum(jnp.square(t))) for t, _ in pairs)))


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Lengths and sizes of the protocol's phases.

  Attributes:
    num_steps: phase 1 (and, plus finetune_steps, the from-scratch baseline).
    finetune_steps: phases 2 and 3.
    batch_size: training batch. eval_batch_size: evaluation chunk.
    learning_rate: Adam's step size. log_every / checkpoint_every: loop intervals.
  """

  num_steps: int
  finetune_steps: int
  batch_size: int = 64
  eval_batch_size: int = 250
  learning_rate: float = 1e-3
  log_every: int = 50
  checkpoint_every: int = 100000


def run_transfer(
  arch,
  schedule: Schedule,
  task_a,
  task_b,
  methods: Sequence[str],
  reg_for: Callable[[str], RegConfig],
  seed_list: Sequence[int],
  workdir: str,
  num_classes_a: int,
  num_classes_b: int,
  cifar10_1: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
  """Runs the protocol for every seed and method.

  Args:
    arch: `ChainArch` or `ResNetArch`.
    schedule: the phases' lengths and sizes.
    task_a: (x_train, y_train, x_test, y_test) of task A.
    task_b: the same for task B.
    methods: regularisers of phase 1 ('std', 'ort', 'rr', 'lrr').
    reg_for: method -> its `RegConfig`.
    seed_list: the run seeds.
    workdir: the run's directory (one sub-directory per phase, resumable).
    num_classes_a: classes of A.
    num_classes_b: classes of B.
    cifar10_1: optional {'images', 'labels'} evaluated after phase 2.

  Returns:
    Flat metrics '<stem>_s<seed>/<metric>' plus their mean and std over seeds.
  """
  xa, ya, xat, yat = task_a
  xb, yb, xbt, ybt = task_b
  s = schedule
  std = RegConfig("std")

  logits_fn = jax.jit(arch.logits)  # the state is an argument: one compilation per model

  def evaluate(state, x, y, name, prefix="test"):
    logits = batched.batched_apply(lambda v: logits_fn(state, v), x, s.eval_batch_size)
    results[f"{name}/{prefix}_acc"] = float(np.mean(logits.argmax(-1) == y))
    results[f"{name}/{prefix}_loss"] = float(training.cross_entropy(logits, y))

  def new_state(model, x, key, params=None, batch_stats=None):
    v = arch.init(model, x[:2], prng.fold_in_name(key, "init"))
    return train_state.TrainState.create(
      apply_fn=model.apply,
      params=v["params"] if params is None else params,
      tx=optax.adam(s.learning_rate),
      rng=prng.fold_in_name(key, "train"),
      batch_stats=v["batch_stats"] if batch_stats is None else batch_stats,
    )

  def phase(state, reg, x, y, steps, stem, seed):
    name = seeds.seed_key(stem, seed)
    r = loop.train(
      state=state,
      train_step=arch.train_step(reg),
      get_batch=protocol.minibatches(x, y, s.batch_size, seed, stem),
      num_steps=steps,
      workdir=os.path.join(workdir, name),
      log_every=s.log_every,
      checkpoint_every=s.checkpoint_every,
      desc=name,
    )
    return r.state, name

  results: Dict[str, Any] = {}
  for seed in seed_list:
    for method in methods:
      key = prng.stream_key(seed, f"model/{method}")
      st = new_state(arch.model(num_classes_a), xa, key)
      st, name = phase(st, reg_for(method), xa, ya, s.num_steps, f"{method}_a", seed)
      evaluate(st, xat, yat, name)
      results[f"{name}/recon_rel_error"] = reverse_rel_error(arch, st, xat[:64])
      st, name = phase(protocol.restart(st), std, xa, ya, s.finetune_steps, f"{method}_A", seed)
      evaluate(st, xat, yat, name)
      if cifar10_1 is not None:
        evaluate(st, cifar10_1["images"], cifar10_1["labels"], name, "cifar10_1")
      # transfer: everything but the last layer, a new head for task B
      mb = arch.model(num_classes_b)
      head_key = prng.fold_in_name(key, "B/head")
      params = dict(st.params)
      params[arch.head] = new_state(mb, xb, head_key).params[arch.head]
      sb = new_state(mb, xb, head_key, params, st.batch_stats)
      sb, name = phase(sb, std, xb, yb, s.finetune_steps, f"{method}_B", seed)
      evaluate(sb, xbt, ybt, name)
    sb = new_state(arch.model(num_classes_b), xb, prng.stream_key(seed, "model/std_B-fs"))
    sb, name = phase(sb, std, xb, yb, s.num_steps + s.finetune_steps, "std_B-fs", seed)
    evaluate(sb, xbt, ybt, name)
  results.update(seeds.aggregate_over_seeds(results))
  return results
