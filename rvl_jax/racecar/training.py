"""Pure train steps for Std / Ort / RR / lRR / RR1 training of racecar chains.

`make_train_step(reg)` returns `train_step(state, batch) -> (state, metrics)` for
`rvl_jax.core.loop.train` (the loop jits and shards it). batch = {'x': inputs, 'y': one-hot labels
(float [N, C]) or int labels [N]}.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple, Union

import jax
import jax.numpy as jnp
import optax

from rvl_jax.core import validation
from rvl_jax.racecar import losses as rr_losses
from rvl_jax.racecar import ortho, residual
from rvl_jax.racecar.layers import ChainOutput, ReverseConfig

METHODS = ("std", "ort", "ort_frob", "rr", "lrr", "rr1")
_VARIANT = {"rr": "full", "lrr": "layerwise", "rr1": "rr1"}


@dataclasses.dataclass(frozen=True)
class RegConfig:
  """Regulariser settings (the defaults every experiment starts from).

  The racecar loss is sum_m lambda_m ||d_m - d'_m||^2 (racecar paper, Sec. 3.3); Ort is the SRIP
  penalty beta * sum sigma(W^T W - I) of Bansal et al. 2018 (the racecar paper's Sec. 5.2
  baseline), 'ort_frob' its Frobenius-norm variant.

  Attributes:
    method: ``'std'`` (no regulariser), ``'ort'`` (SRIP), ``'ort_frob'`` (Frobenius), ``'rr'``
      (full reverse chain), ``'lrr'`` (layer-wise) or ``'rr1'`` (input term only).
    lam: Racecar lambda, one scalar for every layer or one value per layer.
    reduction: How each squared difference is reduced: ``'half_sum'`` (1/2 sum, the reference's
      ``tf.nn.l2_loss``), ``'sum'`` or ``'mean'``.
    input_weights: Optional per-input-dimension weights of the d_1 term (RR1 on input groups).
    output_activation: See :class:`ReverseConfig`.
    source: See :class:`ReverseConfig`.
    reverse_updates_bn_stats: See :class:`ReverseConfig`.
    stop_grad_targets: No gradient through the targets d_m of the racecar loss.
    ort_beta: SRIP / Frobenius coefficient beta.
    ort_power_iters: Power iterations per SRIP estimate of the spectral norm (at least 1).
    ort_squared: Penalise sigma^2 (the reference code) instead of sigma (the SRIP paper's eq.).
    ort_stop_grad_vectors: No gradient through SRIP's power-iteration vectors.
    ort_include: Substrings of the kernel paths to penalise (``None``: every kernel).
    double_softmax: Reference-code parity: the softmax output is fed to the cross-entropy as
      logits.

  Raises:
    ValueError: naming ``method``, for an unknown method.
  """

  method: str = "std"
  lam: Union[float, Tuple[float, ...]] = 1e-5
  reduction: str = "half_sum"
  input_weights: Optional[Tuple[float, ...]] = None
  output_activation: Optional[str] = None
  source: str = "activated"
  reverse_updates_bn_stats: bool = False
  stop_grad_targets: bool = False
  ort_beta: float = 0.1
  ort_power_iters: int = 1
  ort_squared: bool = True
  ort_stop_grad_vectors: bool = False
  ort_include: Optional[Tuple[str, ...]] = None
  double_softmax: bool = False

  def __post_init__(self):
    validation.check_in_choices("method", self.method, METHODS)

  @property
  def active(self) -> bool:
    """False when the regulariser contributes exactly nothing (std, or every lambda_m = 0, or beta = 0):
    then no reverse pass is built and the step is the Std step, bit for bit."""
    if self.method in _VARIANT:
      return any(
        v != 0
        for v in rr_losses.layer_lambdas(
          self.lam, 1 if jnp.ndim(self.lam) == 0 else len(self.lam), "full"
        )
      )
    if self.method in ("ort", "ort_frob"):
      return self.ort_beta != 0
    return False

  @property
  def reverse(self) -> Optional[ReverseConfig]:
    if self.method not in _VARIANT:
      return None
    return ReverseConfig(
      _VARIANT[self.method], self.output_activation, self.source, self.reverse_updates_bn_stats
    )


def cross_entropy(logits, y, double_softmax: bool = False):
  """Mean softmax cross-entropy with one-hot (float) or integer labels."""
  if double_softmax:
    logits = jax.nn.softmax(logits, -1)
  if y.ndim == logits.ndim:
    return jnp.mean(optax.softmax_cross_entropy(logits, y))
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y.astype(jnp.int32)))


def accuracy(logits, y):
  yl = jnp.argmax(y, -1) if y.ndim == logits.ndim else y
  return jnp.mean(jnp.argmax(logits, -1) == yl)


def apply_chain(state, params, x, train: bool, reverse: Optional[ReverseConfig]):
  """Runs the chain; returns (ChainOutput, new batch_stats)."""
  if state.batch_stats:
    variables = {"params": params, "batch_stats": state.batch_stats}
    if train:
      out, upd = state.apply_fn(variables, x, train=True, reverse=reverse, mutable=["batch_stats"])
      return out, upd["batch_stats"]
    return state.apply_fn(variables, x, train=False, reverse=reverse), state.batch_stats
  return state.apply_fn({"params": params}, x, train=train, reverse=reverse), state.batch_stats


def regularizer(reg: RegConfig, params, out: ChainOutput, key):
  """(penalty, metrics) of the configured regulariser."""
  if reg.method in _VARIANT:
    loss, terms = rr_losses.racecar_loss(
      out.ds,
      out.recons,
      reg.lam,
      _VARIANT[reg.method],
      reg.reduction,
      None if reg.input_weights is None else jnp.asarray(reg.input_weights, jnp.float32),
      reg.stop_grad_targets,
    )
    return loss, {"rr_loss": loss, "rr_term1": terms[0]}
  if reg.method == "ort":
    pen = ortho.srip_penalty(
      params,
      key,
      reg.ort_beta,
      reg.ort_include,
      power_iters=reg.ort_power_iters,
      squared=reg.ort_squared,
      stop_grad_vectors=reg.ort_stop_grad_vectors,
    )
    return pen, {"ort_loss": pen}
  if reg.method == "ort_frob":
    pen = ortho.frobenius_penalty(params, reg.ort_beta, reg.ort_include)
    return pen, {"ort_loss": pen}
  return 0.0, {}


def make_train_step(reg: RegConfig, task_loss: str = "softmax_ce", logits_from: str = "out"):
  """The pure train step of a racecar chain (`rvl_jax.core.loop.train` jits and shards it).

  Args:
    reg: the regulariser (Std / Ort / RR / lRR / RR1).
    task_loss: 'softmax_ce' or 'mse'.
    logits_from: 'out' (the chain/head output) or 'linear' (the last layer's biased linear output,
      for chains whose last constrained layer has a softmax activation).

  Returns:
    ``train_step(state, batch) -> (state, metrics)`` with batch = {'x', 'y'}.

  Raises:
    ValueError: naming ``task_loss`` (when the step is traced) for an unknown task loss.
  """
  reverse = reg.reverse if reg.active else None

  def train_step(state, batch):
    state, key = state.next_rng()

    def loss_fn(params):
      out, new_bs = apply_chain(state, params, batch["x"], True, reverse)
      pred = out.linear_out if logits_from == "linear" else out.out
      if task_loss == "softmax_ce":
        task = cross_entropy(pred, batch["y"], reg.double_softmax)
      elif task_loss == "mse":
        task = jnp.mean(jnp.square(pred - batch["y"]))
      else:
        raise ValueError(f"argument 'task_loss': expected 'softmax_ce' or 'mse', got {task_loss!r}")
      pen, mets = regularizer(reg, params, out, key) if reg.active else (0.0, {})
      return task + pen, (task, mets, pred, new_bs)

    (loss, (task, mets, logits, new_bs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params
    )
    state = state.apply_gradients(grads, batch_stats=new_bs)
    metrics = {"loss": loss, "task_loss": task, **mets}
    if task_loss == "softmax_ce":
      metrics["accuracy"] = accuracy(logits, batch["y"])
    return state, metrics

  return train_step


def make_predict(state, reverse: Optional[ReverseConfig] = None):
  """The jitted eval-mode prediction of a trained chain.

  Args:
    state: the train state.
    reverse: when given, the reverse pass to run as well.

  Returns:
    ``x -> output``, or ``x -> (output, d'_1)`` when ``reverse`` is given.
  """

  def fn(x):
    out, _ = apply_chain(state, state.params, x, False, reverse)
    return out.out if reverse is None else (out.out, out.recons[0])

  return jax.jit(fn)


def scan_steps(train_step):
  """Wraps a train step so that one loop step runs K optimizer steps in a `lax.scan` (e.g. one epoch).
  The batch leaves are [B, K, ...] (batch axis first, so the loop can shard it); the returned state's
  `step` advances by one per call (so loop resumption counts calls), metrics are averaged over K."""

  def step(state, batch):
    s0 = state.step
    seq = jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), batch)
    state, ms = jax.lax.scan(train_step, state, seq)
    return state.replace(step=s0 + 1), jax.tree_util.tree_map(jnp.mean, ms)

  return step


def auto_lambda(
  state, reg: RegConfig, batch, logits_from: str = "out", scale: float = 1.0
) -> float:
  """A racecar lambda from the losses at initialisation (our rule; the paper tunes lambda by hand).

  Chooses lambda such that ``lambda * L_racecar = scale * task loss`` on ``batch`` for the current
  parameters, so that both terms start at comparable size whatever the reduction and layer widths.

  Args:
    state: the state at the start of the regularised phase.
    reg: the regulariser (its variant and reduction are used; its lambda is ignored).
    batch: {'x', 'y'} a training batch.
    logits_from: 'out' or 'linear' (as in `make_train_step`).
    scale: the wanted ratio of the racecar term to the task loss.

  Returns:
    The lambda (a float).
  """
  probe = dataclasses.replace(reg, lam=1.0)
  out, _ = apply_chain(state, state.params, jnp.asarray(batch["x"]), True, probe.reverse)
  pred = out.linear_out if logits_from == "linear" else out.out
  task = float(cross_entropy(pred, jnp.asarray(batch["y"])))
  rr, _ = rr_losses.racecar_loss(out.ds, out.recons, 1.0, probe.reverse.variant, reg.reduction)
  return scale * task / max(float(rr), 1e-30)


def make_resnet_train_step(reg: RegConfig):
  """The pure train step of a `RacecarResNet` (layer-wise racecar over its units, or SRIP).

  Args:
    reg: the regulariser; 'rr' and 'lrr' both mean the layer-wise loss over every conv unit (a
      residual addition cannot be reversed as one chain), 'ort' the SRIP penalty, else Std.

  Returns:
    ``train_step(state, batch) -> (state, metrics)``.
  """
  layerwise = reg.method in ("rr", "lrr")

  def step(state, batch):
    state, key = state.next_rng()

    def loss_fn(params):
      (logits, pairs), upd = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats},
        batch["x"],
        train=True,
        racecar=layerwise,
        output_activation=reg.output_activation,
        mutable=["batch_stats"],
      )
      task = cross_entropy(logits, batch["y"])
      pen = 0.0
      if layerwise:
        pen = residual.layerwise_pairs_loss(pairs, reg.lam, reg.reduction)
      elif reg.method == "ort":
        pen = ortho.srip_penalty(params, key, reg.ort_beta)
      return task + pen, (task, logits, upd["batch_stats"])

    (loss, (task, logits, bs)), g = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(g, batch_stats=bs), {
      "loss": loss,
      "task_loss": task,
      "accuracy": accuracy(logits, batch["y"]),
    }

  return step
