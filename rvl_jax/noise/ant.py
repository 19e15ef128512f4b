"""Adversarial Noise Training (Rusak et al. 2020, Sec. 3.2): generator/classifier alternation, replay, restarts.

* ``make_ant_train_step``: one pure iteration (generator step with the classifier frozen in
  inference mode, batch assembly [current noise | replay chunks | clean | extra stream], one
  classifier step) for ``rvl_jax.core.loop.train``.
* ``make_restart_step``: trains a brand-new generator against a frozen classifier.
* ``train_fresh_generator`` / ``run_ant``: host drivers (restart -> replace -> snapshot ->
  joint block), resumable through the loop's checkpoints.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import loop, train_state, validation
from rvl_jax.core import metrics as core_metrics
from rvl_jax.core.train_state import TrainState, as_raw_key
from rvl_jax.noise import generators as gen_lib
from rvl_jax.noise.models import apply_model
from rvl_jax.noise.projection import project_to_eps_sphere

# ----------------------------------------------------------------------------------------
# Batch layout


@dataclasses.dataclass(frozen=True)
class AntSplit:
  """Fractions of an ANT batch. Boundaries are ``round(B * cumulative_fraction)``.

  Positions [0, current) get current-generator noise, then ``num_replay_chunks`` chunks of
  ``replay_chunk`` each get noise of one stored snapshot, then clean images; the last
  ``round(B * extra_stream)`` positions are overwritten by an extra stream (e.g. Stylized
  ImageNet), if any.
  """

  current: float = 0.3
  replay_chunk: float = 0.1
  num_replay_chunks: int = 2
  extra_stream: float = 0.0

  def layout(self, batch_size: int, replay_active: bool = True) -> Dict[str, Any]:
    """Index ranges of the parts of a batch.

    Args:
      batch_size: images per batch.
      replay_active: False gives the replay chunks to the current generator (the epoch-0 rule).

    Returns:
      {'current': (0, a), 'replay': [(start, stop), ...], 'clean': (b, c), 'extra': (c, B)}.

    Raises:
      ValueError: the noisy parts and the extra stream overlap.
    """
    b = batch_size
    cur_end = int(round(b * self.current))
    chunks = []
    start = cur_end
    for j in range(1, self.num_replay_chunks + 1):
      stop = int(round(b * (self.current + j * self.replay_chunk)))
      chunks.append((start, stop))
      start = stop
    noise_end = start
    extra_start = b - int(round(b * self.extra_stream))
    if extra_start < noise_end:
      raise ValueError(
        f"argument 'split': noise ({noise_end}) and extra stream "
        f"({b - extra_start}) overlap for batch size {b}"
      )
    if not replay_active:
      cur_end, chunks = noise_end, []
    return {
      "current": (0, cur_end),
      "replay": chunks,
      "clean": (noise_end, extra_start),
      "extra": (extra_start, b),
    }

  def sizes(self, batch_size: int, replay_active: bool = True) -> Tuple[int, ...]:
    """Sizes of the parts of ``layout`` in order (current, replay chunks, clean[, extra]).

    Args:
      batch_size: images per batch.
      replay_active: as for ``layout``.

    Returns:
      The tuple of part sizes (they add up to ``batch_size``).
    """
    lay = self.layout(batch_size, replay_active)
    out = [lay["current"][1] - lay["current"][0]]
    out += [b - a for a, b in lay["replay"]]
    out.append(lay["clean"][1] - lay["clean"][0])
    if self.extra_stream:
      out.append(lay["extra"][1] - lay["extra"][0])
    return tuple(out)


DEFAULT_SPLIT = AntSplit()
NO_REPLAY_SPLIT = AntSplit(current=0.5, replay_chunk=0.0, num_replay_chunks=0)
# ANT + Stylized ImageNet: paper text (25 % clean, 30 % stylized, 45 % noise kept 3:2).
SIN_PAPER_SPLIT = AntSplit(current=0.27, replay_chunk=0.09, num_replay_chunks=2, extra_stream=0.30)
# Reference code: 70 ImageNet images, the last 15 overwritten by SIN.
SIN_REFERENCE_CODE_SPLIT = AntSplit(
  current=0.3, replay_chunk=0.1, num_replay_chunks=2, extra_stream=15 / 70
)
SPLIT_PRESETS = {
  "default": DEFAULT_SPLIT,
  "no_replay": NO_REPLAY_SPLIT,
  "sin_paper": SIN_PAPER_SPLIT,
  "reference_code": SIN_REFERENCE_CODE_SPLIT,
}


# ----------------------------------------------------------------------------------------
# States


class AntState(flax.struct.PyTreeNode):
  """Joint state: classifier (params/batch_stats/opt_state), current generator, replay pool."""

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array
  gen_params: Any
  gen_opt_state: Any
  buffer_params: Any  # stacked generator snapshots, leading axis = capacity
  buffer_eps: jax.Array  # (capacity,) epsilon stored with each snapshot
  buffer_count: jax.Array  # number of snapshots added so far

  # The key convention of every rvl_jax train state: (state with a new key, this step's key).
  next_rng = TrainState.next_rng


class RestartState(flax.struct.PyTreeNode):
  """A from-scratch generator trained against a frozen classifier (stored as constants)."""

  step: jax.Array
  gen_params: Any
  gen_opt_state: Any
  rng: jax.Array
  clf_params: Any
  clf_batch_stats: Any

  next_rng = TrainState.next_rng


def init_ant_state(
  *, params, batch_stats, classifier_tx, gen_params, gen_tx, rng, capacity: int = 512
) -> AntState:
  """The ANT state at step 0 (Rusak et al. 2020, Sec. 3.2): classifier, generator, empty pool.

  Args:
    params: classifier parameters.
    batch_stats: classifier BatchNorm statistics, or None for a model without them.
    classifier_tx: the classifier's optax optimiser (its state is initialised here).
    gen_params: the current noise generator's parameters.
    gen_tx: the generator's optax optimiser.
    rng: the state's PRNG key (typed or raw); every step draws from it with ``next_rng``.
    capacity: slots of the replay pool of generator snapshots.

  Returns:
    A new `AntState` with step 0 and no snapshot stored.
  """
  buffer = jax.tree_util.tree_map(lambda l: jnp.zeros((capacity,) + l.shape, l.dtype), gen_params)
  return AntState(
    **train_state.initial_fields(params, classifier_tx, rng, batch_stats),
    gen_params=gen_params,
    gen_opt_state=gen_tx.init(gen_params),
    buffer_params=buffer,
    buffer_eps=jnp.zeros((capacity,), jnp.float32),
    buffer_count=jnp.zeros((), jnp.int32),
  )


def add_snapshot(state: AntState, gen_params, eps) -> AntState:
  """Appends a generator snapshot to the replay pool (a ring buffer: the oldest is overwritten).

  Args:
    state: the ANT state.
    gen_params: the generator parameters to store.
    eps: the L2 radius its noise is projected to when replayed.

  Returns:
    The state with the snapshot stored and ``buffer_count`` increased by one.
  """
  capacity = state.buffer_eps.shape[0]
  idx = state.buffer_count % capacity
  buf = jax.tree_util.tree_map(
    lambda b, p: jnp.asarray(b).at[idx].set(p), state.buffer_params, gen_params
  )
  return state.replace(
    buffer_params=buf,
    buffer_eps=jnp.asarray(state.buffer_eps).at[idx].set(eps),
    buffer_count=state.buffer_count + 1,
  )


def replace_generator(state: AntState, gen_params, gen_tx) -> AntState:
  """Installs a (restarted) generator with a fresh optimiser state.

  Args:
    state: the ANT state.
    gen_params: the new generator's parameters.
    gen_tx: the generator's optax optimiser.

  Returns:
    The state with the new generator.
  """
  return state.replace(gen_params=gen_params, gen_opt_state=gen_tx.init(gen_params))


def get_snapshot(state: AntState, index: int):
  """The generator parameters stored in slot ``index`` of the replay pool.

  Args:
    state: the ANT state.
    index: the slot.

  Returns:
    The snapshot's parameters (a pytree).
  """
  return jax.tree_util.tree_map(lambda b: b[index], state.buffer_params)


def _bs(bs):
  return bs if bs else None


def choose_snapshots(key, count, capacity: int, num: int):
  """``num`` distinct pool slots drawn uniformly from the filled ones.

  Args:
    key: PRNG key.
    count: snapshots added so far (``state.buffer_count``).
    capacity: slots of the pool.
    num: how many slots to draw.

  Returns:
    (num,) distinct indices in [0, min(count, capacity)); while fewer than ``num`` slots are
    filled, the remaining indices point at empty slots.
  """
  valid = jnp.arange(capacity) < jnp.minimum(count, capacity)
  scores = jnp.where(valid, jax.random.uniform(key, (capacity,)), 2.0)
  return jnp.argsort(scores)[:num]


def perturb(gen_spec: gen_lib.GeneratorSpec, gen_params, key, images, eps):
  """Noise of a generator, projected onto the L2 sphere of radius ``eps`` around ``images``
  inside the [0, 1] box (Rusak et al. 2020, Sec. 3.2).

  Args:
    gen_spec: the generator's description.
    gen_params: its parameters.
    key: PRNG key of the generator's latent sample.
    images: (N, H, W, C) images in [0, 1].
    eps: the L2 radius per image.

  Returns:
    The perturbed images, same shape as ``images``.
  """
  delta = gen_lib.generate_noise(gen_spec, gen_params, key, images.shape)
  return project_to_eps_sphere(images, delta, eps)


def _generator_loss(model, gen_spec, eps, clf_params, clf_bs, x, y, key, task_loss):
  def loss(gp):
    xt = perturb(gen_spec, gp, key, x, eps)
    logits, _ = apply_model(model, clf_params, _bs(clf_bs), xt, train=False)
    return -task_loss(logits, y), logits

  return loss


def _task_loss(loss: Optional[Callable]) -> Callable:
  """The objective of both players: ``loss(outputs, batch['label'])``, the classifier's
  cross-entropy by default. Rusak et al. 2020 (Sec. 3.2) state ANT for a classifier; any
  differentiable loss of the model's outputs (e.g. the squared error of a regression) gives the
  same min-max game, with the generator maximising it."""
  return core_metrics.cross_entropy if loss is None else loss


# ----------------------------------------------------------------------------------------
# Steps


def make_ant_train_step(
  model,
  gen_spec: gen_lib.GeneratorSpec,
  gen_tx,
  classifier_tx,
  eps: float,
  *,
  split: AntSplit = DEFAULT_SPLIT,
  first_replay_step: int = 0,
  loss: Optional[Callable] = None,
) -> Callable:
  """One ANT iteration (Rusak et al. 2020, Sec. 3.2) as a pure step on an ``AntState``.

  The generator takes one step that raises the classifier's cross-entropy on its noise (the
  classifier in inference mode); the classifier then takes one step on a batch mixing noise of
  the updated generator, noise of stored snapshots and clean images. The step's keys come from
  ``state.next_rng()``.

  Args:
    model: flax classifier taking [0, 1] images and ``train``.
    gen_spec: generator description.
    gen_tx: generator optimiser (Adam 1e-4).
    classifier_tx: the classifier optimiser ``state.opt_state`` was created with.
    eps: L2 radius of the current generator's noise.
    split: batch layout; replay chunks are used only once ``step >= first_replay_step`` (the
      epoch-0 rule: before that the noisy part is all current-generator noise). A chunk whose
      snapshot does not exist yet stays clean.
    first_replay_step: the first step at which replay chunks are used.
    loss: ``(outputs, batch['label']) -> scalar`` minimised by the model and maximised by the
      generator (None: cross-entropy on class labels). With a custom loss the metrics are
      ``loss`` and ``gen_loss`` (no accuracies).

  Returns:
    ``train_step(state, batch) -> (state, metrics)`` for ``rvl_jax.core.loop.train``; ``batch``
    holds 'image' and 'label' (and 'extra_image' / 'extra_label' for a split with an extra
    stream); metrics: loss, accuracy, gen_ce, adv_noise_accuracy (loss and gen_loss with a custom ``loss``).
  """
  task_loss = _task_loss(loss)

  def train_step(state: AntState, batch):
    x, y = batch["image"], batch["label"]
    b = x.shape[0]
    state, key = state.next_rng()
    k_gen, k_cur, k_choice, k_rep = jax.random.split(key, 4)
    # 1. Generator step: maximise CE with the classifier in inference mode.
    loss_g = _generator_loss(
      model, gen_spec, eps, state.params, state.batch_stats, x, y, k_gen, task_loss
    )
    (neg_ce, adv_logits), g_grads = jax.value_and_grad(loss_g, has_aux=True)(state.gen_params)
    g_upd, gen_opt_state = gen_tx.update(g_grads, state.gen_opt_state, state.gen_params)
    gen_params = optax.apply_updates(state.gen_params, g_upd)
    # 2. Batch assembly (stop-gradient'ed perturbed parts).
    lay_on = split.layout(b, replay_active=True)
    lay_off = split.layout(b, replay_active=False)
    noise_end = lay_on["clean"][0]
    cur = perturb(gen_spec, gen_params, k_cur, x[:noise_end], eps)
    replay_active = state.step >= first_replay_step
    parts = [cur[: lay_on["current"][1]]]
    capacity = state.buffer_eps.shape[0]
    n_chunks = len(lay_on["replay"])
    if n_chunks:
      chosen = choose_snapshots(k_choice, state.buffer_count, capacity, n_chunks)
      keys = jax.random.split(k_rep, n_chunks)
      for j, (a, c) in enumerate(lay_on["replay"]):
        snap = jax.tree_util.tree_map(lambda l, i=chosen[j]: l[i], state.buffer_params)
        xr = perturb(gen_spec, snap, keys[j], x[a:c], state.buffer_eps[chosen[j]])
        valid = j < state.buffer_count
        part = jnp.where(valid, xr, x[a:c])
        parts.append(jnp.where(replay_active, part, cur[a:c]))
    del lay_off
    parts.append(x[noise_end:])
    x_mix = jax.lax.stop_gradient(jnp.concatenate(parts, axis=0))
    y_mix = y
    if split.extra_stream:
      e0 = lay_on["extra"][0]
      x_mix = jnp.concatenate([x_mix[:e0], batch["extra_image"][: b - e0]], axis=0)
      y_mix = jnp.concatenate([y[:e0], batch["extra_label"][: b - e0]], axis=0)

    # 3. Classifier step in training mode on the mixed batch.
    def loss_f(params):
      logits, new_bs = apply_model(model, params, _bs(state.batch_stats), x_mix, train=True)
      return task_loss(logits, y_mix), (logits, new_bs)

    (loss_value, (logits, new_bs)), grads = jax.value_and_grad(loss_f, has_aux=True)(state.params)
    updates, opt_state = classifier_tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    state = state.replace(
      step=state.step + 1,
      params=params,
      batch_stats=new_bs if new_bs is not None else state.batch_stats,
      opt_state=opt_state,
      gen_params=gen_params,
      gen_opt_state=gen_opt_state,
    )
    if loss is not None:
      return state, {"loss": loss_value, "gen_loss": -neg_ce}
    metrics = {
      "loss": loss_value,
      "accuracy": core_metrics.accuracy(logits, y_mix),
      "gen_ce": -neg_ce,
      "adv_noise_accuracy": core_metrics.accuracy(adv_logits, y),
    }
    return state, metrics

  return train_step


def make_restart_step(
  model, gen_spec: gen_lib.GeneratorSpec, gen_tx, eps: float, loss: Optional[Callable] = None
) -> Callable:
  """One step of a generator against the frozen classifier stored in a ``RestartState``.

  Args:
    model: flax classifier taking [0, 1] images and ``train``.
    gen_spec: generator description.
    gen_tx: generator optimiser.
    eps: L2 radius of the generator's noise.
    loss: as in :func:`make_ant_train_step` (None: cross-entropy).

  Returns:
    ``train_step(state, batch) -> (state, metrics)`` (metrics: gen_ce, fooling_rate; gen_loss
    with a custom ``loss``); the step's key comes from ``state.next_rng()``.
  """
  task_loss = _task_loss(loss)

  def train_step(state: RestartState, batch):
    state, key = state.next_rng()
    loss_g = _generator_loss(
      model,
      gen_spec,
      eps,
      state.clf_params,
      state.clf_batch_stats,
      batch["image"],
      batch["label"],
      key,
      task_loss,
    )
    (neg_ce, logits), grads = jax.value_and_grad(loss_g, has_aux=True)(state.gen_params)
    upd, opt_state = gen_tx.update(grads, state.gen_opt_state, state.gen_params)
    state = state.replace(
      step=state.step + 1,
      gen_params=optax.apply_updates(state.gen_params, upd),
      gen_opt_state=opt_state,
    )
    if loss is not None:
      return state, {"gen_loss": -neg_ce}
    return state, {
      "gen_ce": -neg_ce,
      "fooling_rate": 1.0 - core_metrics.accuracy(logits, batch["label"]),
    }

  return train_step


# ----------------------------------------------------------------------------------------
# Host drivers


def train_fresh_generator(
  *,
  model,
  clf_params,
  clf_batch_stats,
  gen_spec,
  eps: float,
  get_batch: Callable[[int], Any],
  num_steps: int,
  key,
  lr: float = 5e-4,
  workdir: Optional[str] = None,
  log_every: int = 50,
  desc: str = "restart",
  loss: Optional[Callable] = None,
) -> Tuple[Any, Dict[str, float]]:
  """From-scratch generator (custom init) trained for ``num_steps`` against a frozen classifier
  (the generator restarts of Rusak et al. 2020, Sec. 3.2).

  Args:
    model: flax classifier taking [0, 1] images and ``train``.
    clf_params: the classifier's parameters.
    clf_batch_stats: its BatchNorm statistics, or None.
    gen_spec: generator description.
    eps: L2 radius of the generator's noise.
    get_batch: ``step -> batch`` with 'image' and 'label'.
    num_steps: generator steps.
    key: PRNG key (initialisation and the run's key).
    lr: Adam learning rate.
    workdir: checkpoint folder (None: no checkpoints).
    log_every: steps between logged metrics.
    desc: progress label.
    loss: as in :func:`make_ant_train_step` (None: cross-entropy).

  Returns:
    (generator params, last logged metrics: gen_ce, fooling_rate; gen_loss with ``loss``).
  """
  k_init, k_run = jax.random.split(key)
  sample = get_batch(0)["image"]
  gp = gen_lib.init_generator(gen_spec, k_init, (1,) + tuple(np.shape(sample)[1:3]))
  tx = optax.adam(lr)
  state = RestartState(
    step=jnp.zeros((), jnp.int32),
    gen_params=gp,
    gen_opt_state=tx.init(gp),
    rng=as_raw_key(k_run),
    clf_params=clf_params,
    clf_batch_stats={} if clf_batch_stats is None else clf_batch_stats,
  )
  step_fn = make_restart_step(model, gen_spec, tx, eps, loss)
  every = min(log_every, max(num_steps, 1))
  res = loop.train_once(state, step_fn, get_batch, num_steps, workdir, desc, log_every=every)
  return res.state.gen_params, res.metrics


@dataclasses.dataclass
class AntConfig:
  """The ANT schedule of `run_ant` (Rusak et al. 2020, Sec. 3.2).

  Attributes:
    eps: L2 radius of the generators' noise.
    num_steps: joint (generator + classifier) steps in all.
    restart_every: joint steps between generator restarts (reference: 1 epoch).
    restart_steps: from-scratch generator steps per restart.
    restart_lr: Adam learning rate of a restarted generator.
    gen_lr: Adam learning rate of the generator during joint steps.
    split: batch layout.
    first_replay_step: first step that uses replay chunks (None: ``restart_every``).
    capacity: slots of the replay pool.
    log_every: steps between logged metrics.
  """

  eps: float
  num_steps: int
  restart_every: int  # joint steps between generator restarts (reference: 1 epoch)
  restart_steps: int = 1001  # from-scratch generator steps per restart
  restart_lr: float = 5e-4
  gen_lr: float = 1e-4
  split: AntSplit = DEFAULT_SPLIT
  first_replay_step: Optional[int] = None  # default: restart_every (epoch-0 rule)
  capacity: int = 512
  log_every: int = 50
  # (outputs, labels) -> scalar of both players (None: cross-entropy; see make_ant_train_step)
  loss: Optional[Callable] = None


def run_ant(
  *,
  model,
  params,
  batch_stats,
  classifier_tx,
  gen_spec: gen_lib.GeneratorSpec,
  config: AntConfig,
  get_batch: Callable[[int], Any],
  key,
  workdir: Optional[str] = None,
  eval_fn=None,
  desc: str = "ant",
) -> Tuple[AntState, List[Dict[str, float]]]:
  """Full ANT schedule (Rusak et al. 2020, Sec. 3.2): for every block, restart a generator from
  scratch against the frozen classifier, install it (fresh Adam), store it as a snapshot, then
  run ``restart_every`` joint steps. With ``workdir`` every phase checkpoints in its own folder,
  so a killed run resumes where it stopped.

  Args:
    model: flax classifier taking [0, 1] images and ``train``.
    params: the classifier's initial parameters.
    batch_stats: its BatchNorm statistics, or None.
    classifier_tx: the classifier's optax optimiser.
    gen_spec: generator description.
    config: the schedule (`AntConfig`).
    get_batch: ``step -> batch`` with 'image' and 'label' (and the extra stream, if any).
    key: PRNG key of the run.
    workdir: checkpoint folder (None: no checkpoints).
    eval_fn: evaluation called by the last block's training loop.
    desc: progress label.

  Returns:
    (the final `AntState`, the history of logged metrics).

  Raises:
    ValueError: ``config.num_steps`` or ``config.restart_every`` is not positive.
  """
  validation.check_positive_int("config.num_steps", config.num_steps)
  validation.check_positive_int("config.restart_every", config.restart_every)
  gen_tx = optax.adam(config.gen_lr)
  k_state, k_gen0, key = jax.random.split(key, 3)
  sample = get_batch(0)["image"]
  gp0 = gen_lib.init_generator(gen_spec, k_gen0, (1,) + tuple(np.shape(sample)[1:3]))
  state = init_ant_state(
    params=params,
    batch_stats=batch_stats,
    classifier_tx=classifier_tx,
    gen_params=gp0,
    gen_tx=gen_tx,
    rng=k_state,
    capacity=config.capacity,
  )
  first_replay = (
    config.restart_every if config.first_replay_step is None else config.first_replay_step
  )
  step_fn = make_ant_train_step(
    model,
    gen_spec,
    gen_tx,
    classifier_tx,
    config.eps,
    split=config.split,
    first_replay_step=first_replay,
    loss=config.loss,
  )
  history: List[Dict[str, float]] = []
  n_blocks = -(-config.num_steps // config.restart_every)
  for r in range(n_blocks):
    stop = min((r + 1) * config.restart_every, config.num_steps)
    sub = (lambda name: os.path.join(workdir, name)) if workdir else (lambda name: None)
    k_r = jax.random.fold_in(key, r)
    offset = r * config.restart_every

    def restart_batches(step, offset=offset):
      return get_batch(offset + step)

    gp, rmetrics = train_fresh_generator(
      model=model,
      clf_params=state.params,
      clf_batch_stats=state.batch_stats,
      gen_spec=gen_spec,
      eps=config.eps,
      get_batch=restart_batches,
      num_steps=config.restart_steps,
      key=k_r,
      lr=config.restart_lr,
      workdir=sub(f"restart_{r:03d}"),
      log_every=config.log_every,
      desc=f"{desc} restart {r}",
      loss=config.loss,
    )
    history.append({"step": offset, **{f"restart/{k}": v for k, v in rmetrics.items()}})
    state = replace_generator(state, gp, gen_tx)
    state = add_snapshot(state, gp, config.eps)
    res = loop.train(
      state=state,
      train_step=step_fn,
      get_batch=get_batch,
      num_steps=stop,
      workdir=sub(f"joint_{r:03d}"),
      log_every=config.log_every,
      checkpoint_every=max(stop, 1),
      desc=f"{desc} block {r}",
      eval_fn=eval_fn if r == n_blocks - 1 else None,
    )
    state = jax.device_get(res.state)
    history.extend(res.history)
  return state, history
