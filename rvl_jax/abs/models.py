"""ABS / Binary ABS classifiers and the public ``logits_fn`` constructors.

Interface shared with the attack and noise suites: a classifier is a callable
``logits_fn(x) -> (N, 10)`` with x float32 (N, 28, 28, 1) in [0, 1].
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.abs import inference as inf
from rvl_jax.abs import weights as weights_lib
from rvl_jax.core import batched, validation


def check_mnist_images(name: str, x) -> np.ndarray:
  """Validates a batch of MNIST-shaped images and returns it as float32 (N, 28, 28, 1)."""
  x = np.asarray(x) if not isinstance(x, jax.Array) else x
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4 or tuple(x.shape[1:]) != (28, 28, 1):
    raise ValueError(f"argument '{name}': expected shape (N, 28, 28, 1), got {tuple(x.shape)}")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"argument '{name}': expected a floating dtype in [0, 1], got {x.dtype}")
  if x.size and not isinstance(x, jax.core.Tracer):
    lo, hi = float(jnp.min(x)), float(jnp.max(x))
    if lo < -1e-6 or hi > 1 + 1e-6:
      raise ValueError(f"argument '{name}': expected values in [0, 1], got range [{lo}, {hi}]")
  return x.astype(jnp.float32)


# The ABSOptions fields that are keyword arguments of ``inference.latent_search``.
_SEARCH_FIELDS = ("n_iter", "lr", "clip", "clip_mode", "beta", "class_mode", "micro_batch")


@dataclasses.dataclass
class ABSOptions:
  """ABS inference options: the authors' reference settings (Schott et al. 2019, Sec. 3).

  Attributes:
    n_samples: latent sample bank size (the paper evaluates 8000 random latents per class).
    fraction_to_dismiss: the bank keeps the ``n_samples`` smallest-norm draws of
      ``n_samples / (1 - fraction_to_dismiss)`` Gaussian draws, as the reference code.
    bank: 'gaussian' (the reference's bank) or 'grid'.
    bank_seed: NumPy seed of the reference's bank (fixed by the released model, not by a run).
    n_iter: Adam steps of the latent refinement (50 in the paper).
    lr: Adam learning rate of the refinement.
    clip: latent clipping radius.
    clip_mode: 'reference' (the reference code's clipping) or 'correct'.
    beta: KL weight of the score (eq. 2 with beta).
    binary: Binary ABS (input binarization and class scalings ``gamma``).
    gamma: class scalings; default ``BINARY_ABS_GAMMA`` if binary.
    alpha: confidence-softmax scale (eq. 8).
    eta: confidence-softmax offset (eq. 8).
    batch_size: images per inference call.
    class_mode: 'map' (lax.map over classes), 'unroll' or 'vmap'.
    micro_batch: latent search on chunks of this many images (0 = whole batch).
    data_parallel: ``infer`` splits the search over all local devices (if > 1).
  """

  n_samples: int = 8000
  fraction_to_dismiss: float = 0.1
  bank: str = "gaussian"  # or 'grid'
  bank_seed: int = 1234
  n_iter: int = 50
  lr: float = 0.05
  clip: float = 5.0
  clip_mode: str = "reference"  # or 'correct'
  beta: float = 1.0
  binary: bool = False
  gamma: Optional[Sequence[float]] = None  # class scalings; default BINARY_ABS_GAMMA if binary
  alpha: float = inf.ABS_ALPHA
  eta: float = inf.ABS_ETA
  batch_size: int = 100
  class_mode: str = "map"  # 'map' (default: lax.map over classes), 'unroll' or 'vmap'
  micro_batch: int = 32  # latent search on chunks of this many images (0 = whole batch)
  data_parallel: bool = True  # ``infer`` splits the search over all local devices (if > 1)

  def search_kwargs(self, **overrides) -> dict:
    """The keyword arguments of ``inference.latent_search`` that these options set.

    Args:
      **overrides: further or replaced keywords (e.g. ``beta``, ``return_recon``).

    Returns:
      n_iter, lr, clip, clip_mode, beta, class_mode and micro_batch, updated by ``overrides``.
    """
    return {**{name: getattr(self, name) for name in _SEARCH_FIELDS}, **overrides}


class ABS:
  """Analysis-by-synthesis classifier built from ten class-conditional VAE decoders (Schott et
  al. 2019, Sec. 3): a class's score is the negative ELBO of its best latent (a sample bank,
  then Adam steps in latent space); logits are the negative scores.

  Args:
    vae_variables: ten Flax variable dicts of ``nets.VAE`` (or of the decoder alone), class
      order 0..9. The sample bank is decoded lazily on first use.
    options: ``ABSOptions`` (defaults: the paper's settings).
    **overrides: ``ABSOptions`` fields replacing those of ``options``.
  """

  def __init__(self, vae_variables, options: Optional[ABSOptions] = None, **overrides):
    opts = dataclasses.replace(options or ABSOptions(), **overrides)
    self.options = opts
    if opts.binary and opts.gamma is None:
      opts.gamma = inf.BINARY_ABS_GAMMA
    self.params = inf.stack_fused([inf.fuse_decoder(v) for v in vae_variables])
    self.num_classes = int(self.params.b0.shape[0])
    self._bank = None
    self._placed = {}  # (mesh devices, axis names, split) -> operands placed on that mesh

  # -- bank -------------------------------------------------------------
  @property
  def bank(self):
    """(latents (S, L), images (C, S, 784), squared norms (C, S)), built once."""
    if self._bank is None:
      o = self.options
      validation.check_in_choices("bank", o.bank, ("gaussian", "grid"))
      if o.bank == "gaussian":
        z = inf.gaussian_bank(o.n_samples, o.fraction_to_dismiss, o.bank_seed)
      else:
        z = inf.grid_bank(o.n_samples)
      # Decoded eagerly even when first needed inside a trace (an attack's jit): a traced bank
      # would be cached as a leaked tracer, and XLA would constant-fold the whole decoding.
      with jax.ensure_compile_time_eval():
        z = jnp.asarray(z)
        imgs = inf.decode_bank(self.params, z)
        self._bank = (z, imgs, jnp.sum(imgs**2, axis=-1))
    return self._bank

  def with_options(self, **overrides) -> "ABS":
    """A copy sharing parameters (and the bank, if the bank options are unchanged)."""
    new = object.__new__(ABS)
    new.options = dataclasses.replace(self.options, **overrides)
    if new.options.binary and new.options.gamma is None:
      new.options.gamma = inf.BINARY_ABS_GAMMA
    new.params, new.num_classes = self.params, self.num_classes
    same = all(
      getattr(new.options, k) == getattr(self.options, k)
      for k in ("n_samples", "fraction_to_dismiss", "bank", "bank_seed")
    )
    new._bank = self._bank if same else None
    new._placed = self._placed if same else {}
    return new

  def _operands(self, mesh=None, split="images"):
    """(params, bank latents, bank images, bank squared norms), placed on ``mesh`` with the
    shardings of ``split`` the first time (the decoded bank is 251 MB: re-distributing it at
    every call would cost more than a small batch's search)."""
    z, imgs, sq = self.bank
    if mesh is None:
      return self.params, z, imgs, sq
    key = (tuple(d.id for d in mesh.devices.flat), mesh.axis_names, split)
    if key not in self._placed:
      self._placed[key] = jax.device_put(
        (self.params, z, imgs, sq), inf.search_shardings(mesh, split)[:4]
      )
    return self._placed[key]

  # -- inference --------------------------------------------------------
  def apply(self, x, *, n_iter=None, beta=None, return_recon=False, mesh=None):
    """Traceable latent search on ONE batch x (B, 28, 28, 1) (binarized if options.binary).

    With a device ``mesh`` the classes (when the devices divide them evenly) or the images are
    split over it (``inference.choose_split``, ``inference.sharded_latent_search``).

    Returns dict(scores (B, 10), latents (B, 10, 8)[, recon (B, 10, 784)], logits (B, 10)).
    """
    o = self.options
    xf = x.reshape(x.shape[0], -1)
    if o.binary:
      xf = inf.binarize(xf)
    kw = o.search_kwargs(
      n_iter=o.n_iter if n_iter is None else n_iter,
      beta=o.beta if beta is None else beta,
      return_recon=return_recon,
    )
    if mesh is None:
      out = inf.latent_search(*self._operands(), xf, **kw)
    else:
      split = inf.choose_split(self.num_classes, mesh.size)
      out = inf.sharded_latent_search(mesh, *self._operands(mesh, split), xf, split=split, **kw)
    gamma = jnp.asarray(o.gamma if o.binary else np.ones(self.num_classes), jnp.float32)
    out["logits"] = -gamma * out["scores"]
    return out

  def infer(self, x, *, n_iter=None, beta=None, return_recon=False, batch_size=None):
    """Batched (bounded memory, one compile) inference for any number of images; NumPy outputs."""
    x = check_mnist_images("x", x)
    bs = batch_size or self.options.batch_size
    bs = max(1, min(bs, x.shape[0]))
    devices = jax.local_devices()
    mesh = None
    if self.options.data_parallel and len(devices) > 1:
      from rvl_jax.core import sharding  # pylint: disable=g-import-not-at-top

      mesh = sharding.make_mesh(devices)
      if inf.choose_split(self.num_classes, mesh.size) == "images":
        bs = -(-bs // mesh.size) * mesh.size  # a multiple of the device count
    fn = lambda xb: self.apply(xb, n_iter=n_iter, beta=beta, return_recon=return_recon, mesh=mesh)
    return batched.batched_apply(fn, x, bs)

  def logits(self, x):
    """(N, 10) logits = -gamma * e* (un-scaled by alpha, as in the reference); NumPy."""
    return self.infer(x)["logits"]

  def __call__(self, x):
    """``logits_fn`` interface. Concrete inputs of any size run in padded batches of
    ``options.batch_size`` (bounded memory, one compile); inside ``jax.jit`` (tracers)
    the whole batch is searched in one traced call."""
    if isinstance(x, jax.core.Tracer):
      return self.apply(x.reshape(x.shape[0], 28, 28, 1))["logits"]
    return jnp.asarray(self.logits(x))

  def abs_fn(self, x):
    """(logits (N, 10), reconstructions G_c(z*_c) (N, 10, 28, 28, 1)) for Latent Descent."""
    if isinstance(x, jax.core.Tracer):
      out = self.apply(x.reshape(x.shape[0], 28, 28, 1), return_recon=True)
    else:
      out = self.infer(x, return_recon=True)
    return (
      jnp.asarray(out["logits"]),
      jnp.asarray(out["recon"]).reshape(x.shape[0], self.num_classes, 28, 28, 1),
    )

  def predict(self, x):
    """Predicted classes (N,) of images x (N, 28, 28, 1); NumPy."""
    return np.argmax(self.logits(x), axis=-1)

  def probabilities(self, x):
    """Calibrated confidence softmax with (alpha, eta)."""
    return inf.confidence_softmax(self.logits(x), self.options.alpha, self.options.eta)


def load_reference_abs(weights_dir: str, binary: bool = False, **options) -> ABS:
  """ABS (or Binary ABS with binary=True) with the released weights in ``weights_dir``.

  Args:
    weights_dir: holds ``abs_vae_class{c}.npz`` or the released ``ABS_{c}.net`` files (or is a
      checkout of the authors' repository).
    binary: Binary ABS (input binarization and the class scalings).
    **options: ``ABSOptions`` fields.

  Returns:
    The ``ABS`` model, a ``logits_fn``: ``model(x) -> (N, 10)``.
  """
  return ABS(weights_lib.load_abs_vaes(weights_dir), binary=binary, **options)
