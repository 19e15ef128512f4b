"""Representation-learning rows of the benchmark (Schott et al. 2022, Sec. 3.1 and App. H.4):
beta-VAE, Ada-GVAE, SlowVAE and
PCL trained on the TRAIN split only, then a frozen-code MLP readout, and DCI-based selection.

Objectives, encoders and train steps are those of :mod:`rvl_jax.slowvae` (reused, not
re-implemented); pair samplers are those of :mod:`rvl_jax.slowvae.pairs`. This module adds
what is benchmark-specific: pairs drawn inside the train split, the readout protocol and the
selection by DCI disentanglement on the train split.

In-split pairs: the first element is a uniform train image; the second is drawn by the
method's transition sampler and rejected/redrawn while it falls outside the train split.
For the product-form train sets of interpolation / extrapolation and factor-wise independent
transitions this equals restricting each factor's transition to its allowed values and
renormalising; for the composition and random splits it is a rejection rule.

Pairs per method: 'betavae' independent train images (unsupervised; the pair only doubles
the batch), 'adagvae' one uniformly chosen factor redrawn uniformly ('loc', k=1), 'slowvae'
and 'pcl' the sparse Laplace transitions ('lap', rate 1).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from rvl_jax.benchmark import datasets
from rvl_jax.benchmark import readout as readout_lib
from rvl_jax.core import loop, prng, validation
from rvl_jax.core.batched import batched_apply
from rvl_jax.data import batching

METHODS = ("betavae", "adagvae", "slowvae", "pcl")
SAMPLER = {"betavae": None, "adagvae": ("loc", 1), "slowvae": ("lap", None), "pcl": ("lap", None)}


class InSplitPairs:
  """Pairs of train images for weakly supervised training (see module docstring)."""

  def __init__(self, dataset, method: str, rate: float = 1.0, max_tries: int = 100):
    from rvl_jax.slowvae import pairs  # pylint: disable=import-outside-toplevel

    validation.check_in_choices("method", method, METHODS)
    self.dataset = dataset
    spec = dataset.spec
    self.sizes = spec.factor_sizes
    self.sampler = None
    if SAMPLER[method] is not None:
      name, k = SAMPLER[method]
      self.sampler = pairs.make_sampler(name, spec.factor_sizes, spec.categorical, rate=rate, k=k)
    self.max_tries = max_tries
    order = np.argsort(dataset.grid_indices)
    self._sorted_grid = dataset.grid_indices[order]
    self._sorted_pos = order

  def positions_of(self, grid_idx) -> np.ndarray:
    """Dataset positions of grid indices (-1 where the grid point is not in the split)."""
    grid_idx = np.asarray(grid_idx, np.int64)
    loc = np.clip(np.searchsorted(self._sorted_grid, grid_idx), 0, len(self._sorted_grid) - 1)
    found = self._sorted_grid[loc] == grid_idx
    return np.where(found, self._sorted_pos[loc], -1)

  def sample_positions(self, rng, n: int):
    p1 = rng.integers(0, len(self.dataset), n)
    if self.sampler is None:
      return p1, rng.integers(0, len(self.dataset), n)
    f1 = self.dataset.labels[p1]
    p2 = np.full(n, -1)
    todo = np.arange(n)
    for _ in range(self.max_tries):
      f2 = self.sampler(rng, f1[todo])
      p2[todo] = self.positions_of(datasets.factors_to_index(self.sizes, f2))
      todo = todo[p2[todo] < 0]
      if not len(todo):
        break
    p2[todo] = p1[todo]  # give up: identical pair (never seen in the tests)
    return p1, p2

  def batch(self, seed: int, step: int, n: int):
    p1, p2 = self.sample_positions(batching.step_rng(seed, step, stream="weak/positions"), n)
    imgs = self.dataset.images(np.concatenate([p1, p2]))
    return {"x1": imgs[:n], "x2": imgs[n:]}


@dataclasses.dataclass
class WeakModel:
  method: str
  representation_fn: Callable
  state: Any
  model: Any


def train_representation(
  method: str,
  train_dataset,
  *,
  num_steps: int,
  batch_size: int = 64,
  lr: float = 1e-4,
  seed: int = 0,
  beta: float = 1.0,
  gamma: float = 10.0,
  rate: float = 6.0,
  arch: str = "dislib",
  latent_dim: int = 10,
  workdir: Optional[str] = None,
  log_every: int = 100,
) -> WeakModel:
  """Train a representation with the rvl_jax.slowvae objective of ``method`` on the train split."""
  from rvl_jax.slowvae import training  # pylint: disable=import-outside-toplevel

  model, state = training.create_state(
    method,
    arch=arch,
    latent_dim=latent_dim,
    data_shape=train_dataset.image_shape,
    learning_rate=lr,
    seed=seed,
  )
  step = training.make_train_step(method, model, beta=beta, gamma=gamma, rate=rate)
  pairs = InSplitPairs(train_dataset, method)
  get_batch = lambda s: pairs.batch(seed, s, batch_size)
  res = loop.train_once(state, step, get_batch, num_steps, workdir, method, log_every=log_every)
  rep = training.make_representation_fn(method, model, res.state.params)
  return WeakModel(method, rep, res.state, model)


def embed(representation_fn, dataset, positions, batch: int = 512) -> np.ndarray:
  """Codes of the dataset images at ``positions``, rendered and encoded ``batch`` at a time."""
  positions = np.asarray(positions, np.int64)
  encode = lambda pos: representation_fn(dataset.images(pos))
  return np.asarray(
    batched_apply(encode, positions, min(batch, max(len(positions), 1))), np.float32
  )


def fit_readout(
  representation_fn,
  train_dataset,
  *,
  max_train: Optional[int] = 50_000,
  epochs: int = 8,
  seed: int = 0,
  data_seed: int = 0,
  workdir: Optional[str] = None,
):
  """Readout MLP on frozen codes of (a subset of) the train split; returns model_fn(images)."""
  pos = np.arange(len(train_dataset))
  if max_train is not None and max_train < len(pos):
    rng = prng.numpy_rng(data_seed, "readout/train_subset")
    pos = np.sort(rng.choice(len(pos), max_train, replace=False))
  codes = embed(representation_fn, train_dataset, pos)
  predict = readout_lib.fit(
    codes, train_dataset.targets(pos), epochs=epochs, seed=seed, workdir=workdir
  )
  return lambda images: predict(representation_fn(images))


def dci_on_train(representation_fn, train_dataset, n: int = 3000, seed: int = 0) -> dict:
  """DCI disentanglement of the code on train-split images (the paper's selection criterion)."""
  from rvl_jax import disentanglement  # pylint: disable=import-outside-toplevel

  rng = prng.numpy_rng(seed, "dci/points")
  pos = np.sort(rng.choice(len(train_dataset), min(n, len(train_dataset)), replace=False))
  codes = embed(representation_fn, train_dataset, pos)
  res = disentanglement.dci(codes, train_dataset.labels[pos])
  return {k: float(v) for k, v in res.items() if np.ndim(v) == 0}


def select_by_dci(candidates):
  """Index of the candidate (dicts with key 'dci') with the best DCI disentanglement."""
  return int(np.argmax([c["dci"] for c in candidates]))
