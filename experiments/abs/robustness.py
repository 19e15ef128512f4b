"""Robustness evaluation of ABS, Binary ABS and the baselines (ABS spec 8-9, Table 1 protocol).

    python -m experiments.abs.main --config=experiments/abs/configs/robustness.py:smoke --workdir=DIR

Writes into DIR: ``table1.md`` / ``table1.json`` (measured median / accuracy-at-eps beside the
paper's), ``distances/<model>.npz`` (per-sample distances of every attack, the adversarials of
the all-attacks minimum), ``plots/accuracy_vs_distortion.png``, quantile and per-class galleries
per model, ``plots/distal.png``, and ``results.json`` (flat keys). Models already evaluated in
DIR are loaded instead of re-attacked (resume).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from rvl_jax import attacks
from rvl_jax.attacks import distal_attack as adistal
from rvl_jax.attacks import evaluate, suite
from rvl_jax.attacks import transfer_attack as transfer
from rvl_jax.core import batched
from rvl_jax.core import experiment
from rvl_jax.core import io as rio
from rvl_jax.data import mnist

ABS_MODELS = ("abs", "binary_abs")
DIFFERENTIABLE = ("cnn", "binary_cnn", "madry")  # models with true (or STE) gradients


def applicable(name: str, key: str) -> bool:
  """Whether attack ``key`` applies to model ``name`` (as suite.applicable, by model name)."""
  kind = suite.ATTACKS[key][1]
  if kind == "grad":
    return name in DIFFERENTIABLE
  if kind == "abs":
    return name in ABS_MODELS
  return True


def attack_plan(config, name: str) -> Dict[str, dict]:
  """The attacks (key -> parameters) model ``name`` gets under ``config``."""
  attacks = config.abs_attacks if name in ABS_MODELS else config.attacks
  return {k: dict(v) for k, v in dict(attacks).items()
          if applicable(name, k)
          and (not k.endswith("_ge") or (name in config.ge_models and k in config.ge_attacks))}


def budget_table(plans) -> str:
  """Markdown: every attack's parameters and the columns that got a different budget."""
  keys = sorted({k for p in plans.values() for k in p}, key=list(suite.ATTACKS).index)
  lines = ["| attack | budget (parameters; defaults otherwise) | columns | different |",
           "|---|---|---|---|"]
  for k in keys:
    runs = {m: p[k] for m, p in plans.items() if k in p}
    common = max(runs.values(), key=lambda b: sum(v == b for v in runs.values()))
    other = [f"{m}: {b}" for m, b in runs.items() if b != common]
    missing = [m for m in plans if k not in plans[m] and applicable(m, k)]
    other += [f"{m}: not run" for m in missing]
    lines.append(f"| {k} | {common or 'defaults'} | {', '.join(runs)} | "
                 f"{'; '.join(other) or '–'} |")
  return "\n".join(lines)


def autoattack_accuracy(config, model: suite.Model, x, y, key) -> Dict[str, float]:
  """Robust accuracy under AutoAttack (``config.autoattack_version``, budgets overridden by
  ``config.autoattack_options``) at the Table-1 radii (L2 1.5, L-inf 0.3)."""
  options = {k: dict(v) for k, v in config.get("autoattack_options", {}).items()} or None
  out = {}
  for metric in ("l2", "linf"):
    _, robust = attacks.autoattack(model.logits_fn, jnp.asarray(x), jnp.asarray(y),
                                   jax.random.fold_in(key, len(out)), norm=metric,
                                   eps=evaluate.EPSILONS[metric],
                                   version=config.autoattack_version, options=options,
                                   batch_size=model.batch_size, show_progress=False)
    out[metric] = float(np.mean(np.asarray(robust)))
  return out


def _log(msg):
  logging.info(msg)
  print(msg, flush=True)


def balanced_subset(images, labels, n, num_classes=10):
  """The first ceil(n / 10) images of every class (in split order), interleaved, first n."""
  per = -(-n // num_classes)
  idx = [np.where(labels == c)[0][:per] for c in range(num_classes)]
  order = [i for group in zip(*idx) for i in group]
  order = np.asarray(order[:n])
  return images[order], labels[order].astype(np.int32)


def nearest_neighbour(ref_images, ref_labels, num_classes=10):
  """Traceable 1-NN logits: logit_c = -min L2 distance to the class-c reference images."""
  ref = jnp.asarray(ref_images.reshape(len(ref_images), -1))
  onehot = jnp.asarray(ref_labels[None, :] == np.arange(num_classes)[:, None])
  rsq = jnp.sum(ref ** 2, -1)

  def logits_fn(x):
    xf = x.reshape(x.shape[0], -1)
    d2 = jnp.sum(xf ** 2, -1)[:, None] + rsq[None] - 2.0 * xf @ ref.T
    d2 = jnp.maximum(d2, 0.0)
    per_class = jnp.min(jnp.where(onehot[None], d2[:, None, :], jnp.inf), axis=-1)
    return -jnp.sqrt(per_class)

  return logits_fn


def _madry(config, data, workdir):
  from rvl_jax.abs import baselines
  path = config.madry_params or os.path.join(workdir, "madry_params.npz")
  if os.path.exists(path):
    flat = dict(np.load(path))
    params = {}
    for k, v in flat.items():
      node = params
      parts = k.split("/")
      for p in parts[:-1]:
        node = node.setdefault(p, {})
      node[parts[-1]] = v
    _log(f"madry: loaded params from {path}")
    fn = baselines.madry_logits_fn(params)
  else:
    t0 = time.time()
    params, fn = baselines.train_madry(
        data.train_images, data.train_labels, num_steps=config.madry_steps,
        lr=config.madry_lr, pgd_steps=config.madry_pgd_steps,
        pgd_step_size=config.madry_pgd_step_size, seed=4557077,
        eps_warmup_steps=config.get("madry_eps_warmup_steps", 0),
        workdir=os.path.join(workdir, "madry_train"))
    rio.save_npz(path, **rio.flatten_dict(jax.device_get(params)))
    _log(f"madry: trained {config.madry_steps} steps in {time.time() - t0:.0f}s")
  eval_path = os.path.join(workdir, "madry_eval.json")
  if not os.path.exists(eval_path) and config.get("madry_eval_images", 0):
    # Spec 10.4: clean accuracy on the held-out split and PGD-40 (step 0.01, random start)
    # accuracy at eps 0.3 on its first images.
    t0 = time.time()
    n = min(config.madry_eval_images, len(data.test_labels))
    xe, ye = balanced_subset(data.test_images, data.test_labels, n)
    logits = batched.batched_apply(fn, data.test_images, 500)
    stats = {
        "clean_accuracy_heldout": float(np.mean(logits.argmax(-1) == data.test_labels)),
        "heldout_images": int(len(data.test_labels)),
        "pgd40_accuracy": float(baselines.pgd_accuracy(fn, xe, ye, eps=0.3, steps=40,
                                                       step_size=0.01, batch_size=100)),
        "pgd40_images": int(n),
    }
    rio.write_json(eval_path, stats)
    _log(f"madry: {stats} ({time.time() - t0:.0f}s)")
  return fn


def build_model(config, data, workdir, name) -> suite.Model:
  """The suite.Model for ``name`` ('_substitute' = the transfer CNN)."""
  from rvl_jax.abs import baselines, models as abs_models
  wd = config.weights_dir
  if name == "_substitute":
    return suite.Model("transfer_cnn", baselines.load_reference_cnn(wd, "transfer_cnn"))
  if name == "cnn":
    return suite.Model("cnn", baselines.load_reference_cnn(wd, "vanilla_cnn"),
                       batch_size=config.batch_size)
  if name == "binary_cnn":
    return suite.Model("binary_cnn", baselines.load_reference_cnn(wd, "binary_cnn"),
                       binary=True, batch_size=config.batch_size)
  if name == "nn":
    return suite.Model("nn", nearest_neighbour(data.train_images, data.train_labels),
                       differentiable=False, batch_size=config.batch_size)
  if name == "madry":
    return suite.Model("madry", _madry(config, data, workdir), batch_size=config.batch_size)
  if name in ABS_MODELS:
    m = abs_models.load_reference_abs(wd, binary=(name == "binary_abs"),
                                      n_iter=config.abs_query_n_iter,
                                      n_samples=config.abs_bank_size)
    jax.block_until_ready(m.bank)  # decode the latent bank eagerly (never inside a trace)
    return suite.Model(name, m, differentiable=False, binary=(name == "binary_abs"),
                       abs_fn=m.abs_fn, batch_size=config.abs_batch_size)
  raise ValueError(f"argument 'config.models': unknown model {name!r}; expected one of "
                   "cnn, binary_cnn, nn, madry, binary_abs, abs")


def _clean_predictions(config, model: suite.Model, xs):
  if model.name in ABS_MODELS:
    full = model.logits_fn.with_options(n_iter=config.abs_verify_n_iter)
    return np.argmax(np.asarray(full(xs)), 1)
  return np.argmax(np.asarray(model.logits_fn(jnp.asarray(xs))), 1)


def _verify_abs(config, model, records, x, y):
  """Re-classifies every final adversarial with the full ABS (n_iter = abs_verify_n_iter);
  adversarials that do not survive are dropped (distance +inf). Returns survival counts."""
  if config.abs_verify_n_iter == config.abs_query_n_iter:
    return {}
  full = model.logits_fn.with_options(n_iter=config.abs_verify_n_iter)
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
      keep = survived | zero_ok
      rec["dist"][metric] = np.where(keep, d, np.inf)
      stats[f"{key}/{metric}"] = (int(survived.sum()), int(cand.sum()))
  return stats


def _save_records(path, records, x, y, pred=None, verify=None):
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


def _load_records(path):
  z = np.load(path, allow_pickle=False)
  records = {}
  for k in z.files:
    if k.startswith("metric/"):
      key = k.split("/", 1)[1]
      metric = str(z[k])
      rec = {"metric": metric, "dist": {}, "best": {}, "queries": z[f"queries/{key}"],
             "seconds": float(z[f"seconds/{key}"])}
      for m in metric.split("+"):
        rec["dist"][m] = z[f"dist/{key}/{m}"]
        rec["best"][m] = z[f"best/{key}/{m}"]
      records[key] = rec
  pred = z["pred"] if "pred" in z.files else None
  verify = {k.split("/", 1)[1]: tuple(int(v) for v in z[k]) for k in z.files
            if k.startswith("verify/")}
  return records, z["x"], z["y"], pred, verify


def _min_adversarials(records, metric):
  """Per-sample minimum over the attacks of ``metric`` and the matching adversarials."""
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


def train_and_evaluate(config, workdir: str) -> dict:
  t_start = time.time()
  data = mnist.load_mnist(config.data_source, config.data_dir or None, config.test_fraction,
                          config.seed)
  x, y = balanced_subset(data.test_images, data.test_labels, config.num_images)
  _log(f"robustness: {len(y)} evaluation images from {data.source} (held-out split)")
  key = jax.random.PRNGKey(config.seed)
  dist_dir = os.path.join(workdir, "distances")
  os.makedirs(dist_dir, exist_ok=True)
  plots = experiment.plots_dir(workdir)
  models = {}

  def get_model(name):
    if name not in models:
      models[name] = build_model(config, data, workdir, name)
    return models[name]

  # Substitute perturbations are computed once (when first needed) and reused for every target.
  directions = {}
  n_dir = len(y) if set(config.models) - set(ABS_MODELS) else min(config.abs_num_images, len(y))

  def get_directions(n):
    if not directions:
      t0 = time.time()
      dir_path = os.path.join(dist_dir, "transfer_directions.npz")
      if os.path.exists(dir_path):  # cached by an earlier (interrupted) run
        cached = dict(np.load(dir_path))
        images = cached.pop("_images", None)
        if (images is not None and images.shape[0] >= n_dir
            and np.array_equal(images[:n_dir], x[:n_dir])):
          directions.update(cached)
        else:
          _log(f"transfer: {dir_path} holds directions for other images; computing them again")
      if not directions:
        directions.update({k: np.asarray(v) for k, v in transfer.substitute_directions(
            get_model("_substitute").logits_fn, x[:n_dir], y[:n_dir]).items()})
        rio.save_npz(dir_path, _images=np.asarray(x[:n_dir]), **directions)
      _log(f"transfer: substitute directions in {time.time() - t0:.1f}s")
    return {k: v[:n] for k, v in directions.items()}

  results = {"num_images": len(y), "data_source": data.source}
  recompute = set(config.get("recompute_attacks", ()))
  unknown = recompute - set(config.attacks) - set(config.abs_attacks)
  if unknown:
    raise ValueError(f"argument 'config.recompute_attacks': {sorted(unknown)} are not in "
                     f"config.attacks or config.abs_attacks")
  per_model, clean_acc, verify_stats, plans, aa_rows = {}, {}, {}, {}, {}
  for i, name in enumerate(config.models):
    is_abs = name in ABS_MODELS
    n = min(config.abs_num_images, len(y)) if is_abs else len(y)
    xs, ys = x[:n], y[:n]
    path = os.path.join(dist_dir, f"{name}.npz")
    attacks = attack_plan(config, name)
    plans[name] = attacks

    def run(selected, model, i=i, xs=xs, ys=ys, n=n, name=name, is_abs=is_abs):
      dirs = get_directions(n) if "transfer" in selected else {}
      recs = suite.run_attacks(model, xs, ys, jax.random.fold_in(key, i), selected,
                               ge_steps=tuple(config.ge_steps), directions=dirs, log=_log)
      if is_abs:
        stats = _verify_abs(config, model, recs, xs, ys)
        _log(f"[{name}] re-verified with n_iter={config.abs_verify_n_iter}: {stats}")
        verify_stats.setdefault(name, {}).update(stats)
      return recs

    cached = _load_records(path) if os.path.exists(path) else None
    if cached is not None and not (np.array_equal(cached[1], xs) and np.array_equal(cached[2], ys)):
      _log(f"[{name}] {path} holds distances for other images; attacking again")
      cached = None
    if cached is not None:
      records, _, _, pred, extra = cached
      _log(f"[{name}] loaded from {path}")
      if extra:
        verify_stats[name] = extra
      # recompute_attacks (e.g. a larger budget for one attack) and attacks added to the config
      # that apply to this model (the model is built only when an attack is missing)
      redo = {k: v for k, v in attacks.items() if k in recompute or (
          k not in records and suite.applicable(get_model(name), k))}
      if redo:
        t0 = time.time()
        records.update(run(redo, get_model(name)))
        _log(f"[{name}] (re)computed {sorted(redo)} in {time.time() - t0:.0f}s")
      save = bool(redo)
      if pred is None:
        pred, save = _clean_predictions(config, get_model(name), xs), True
      if save:
        _save_records(path, records, xs, ys, pred, verify_stats.get(name))
    else:
      model = get_model(name)
      t0 = time.time()
      records = run(attacks, model)
      pred = _clean_predictions(config, model, xs)
      _save_records(path, records, xs, ys, pred, verify_stats.get(name))
      results[f"seconds/{name}"] = time.time() - t0
    clean_acc[name] = float(np.mean(pred == ys))
    per_model[name] = records
    results[f"images/{name}"] = n
    if config.get("autoattack", False) and name in DIFFERENTIABLE:
      aa_path = os.path.join(dist_dir, f"autoattack_{name}.json")
      # The cached row is reused only for the same images, version and budgets.
      aa_setting = {"images_sha": hashlib.sha256(np.ascontiguousarray(xs)).hexdigest(),
                    "version": config.autoattack_version,
                    "options": rio.to_jsonable(config.get("autoattack_options", {}))}
      acc = rio.read_json(aa_path) if os.path.exists(aa_path) else {}
      if acc.get("setting") != aa_setting:
        t0 = time.time()
        acc = autoattack_accuracy(config, get_model(name), xs, ys, jax.random.fold_in(key, 1000 + i))
        acc.update(seconds=time.time() - t0, setting=aa_setting)
        rio.write_json(aa_path, acc)
      _log(f"[{name}] AutoAttack ({config.autoattack_version}) robust accuracy: {acc}")
      for metric in ("l2", "linf"):
        aa_rows.setdefault(metric, {}).setdefault(
            f"AutoAttack ({config.autoattack_version})", {})[name] = acc[metric]

  by_metric = {name: suite.distances_by_metric(recs) for name, recs in per_model.items()}
  md, summary = evaluate.table1(by_metric, clean_acc, models=list(config.models),
                                robust_accuracy_rows=aa_rows)
  attack_metrics = {k: v[0] for k, v in suite.ATTACKS.items()}
  claims, unequal = evaluate.claims_with_budgets(summary, plans, applicable, attack_metrics)
  scale = (f"Scale: {len(y)} held-out images ({data.source}) for the CNN/NN/Madry columns, "
           f"{min(config.abs_num_images, len(y))} for the ABS columns "
           f"(ABS queries with n_iter={config.abs_query_n_iter}, adversarials re-verified "
           f"with n_iter={config.abs_verify_n_iter}).")
  claim_lines = [f"* {c}: **{v}**" + (f" (with these unequal budgets it would be {unequal[c]['would_be']};"
                                      f" {'; '.join(unequal[c]['differences'])})"
                                      if c in unequal else "")
                 for c, v in claims.items()]
  md = (md + "\n\n" + scale + "\n\nAttack budgets per column:\n\n" + budget_table(plans)
        + "\n\nQualitative claims of the paper (UNEQUAL: the columns compared did not get the "
        "same attacks and budgets):\n\n" + "\n".join(claim_lines))
  rio.write_json(os.path.join(workdir, "table1.json"),
                 {"summary": summary, "claims": claims, "claims_unequal": unequal,
                  "budgets": plans, "verify": verify_stats, "clean_accuracy": clean_acc})
  with rio.atomic_write(os.path.join(workdir, "table1.md"), "w") as f:
    f.write(md + "\n")

  # Figures: accuracy-vs-distortion curves; galleries.
  curves = {m: {} for m in ("l0", "l2", "linf")}
  for name, recs in per_model.items():
    for metric in curves:
      d, bx = _min_adversarials(recs, metric)
      if d is None:
        continue
      curves[metric][name] = d
      n = len(d)
      if metric == "l2" or metric == "linf" or metric == "l0":
        fig = evaluate.quantile_gallery(x[:n], bx, d, title=f"{name}: {metric} quantiles")
        rio.save_figure(fig, os.path.join(plots, f"gallery_{name}_{metric}.png"))
      if metric == "l2":
        fig = evaluate.per_class_gallery(x[:n], bx, y[:n], d, title=f"{name}: minimal L2")
        rio.save_figure(fig, os.path.join(plots, f"per_class_{name}_l2.png"))
  fig = evaluate.plot_accuracy_curves(curves, title="accuracy vs distortion (all attacks)")
  rio.save_figure(fig, os.path.join(plots, "accuracy_vs_distortion.png"))

  if config.distal:
    results.update(_distal(config, get_model, plots))

  for metric, rows in summary.get("robust_accuracy", {}).items():
    for title, per in rows.items():
      for name, acc in per.items():
        results[f"{metric}/autoattack/{name}/robust_accuracy"] = acc
  for metric, rows in summary.items():
    if metric in ("clean_accuracy", "robust_accuracy"):
      continue
    for attack, per in rows.items():
      for name, s in per.items():
        results[f"{metric}/{attack}/{name}/median"] = s["median"]
        results[f"{metric}/{attack}/{name}/accuracy"] = s["accuracy"]
  for name, a in clean_acc.items():
    results[f"clean_accuracy/{name}"] = a
  for c, v in claims.items():
    results[f"claims/{c}"] = v
  madry_eval = os.path.join(workdir, "madry_eval.json")
  if "madry" in config.models and os.path.exists(madry_eval):
    for k, v in rio.read_json(madry_eval).items():
      results[f"madry/{k}"] = v
  results["wall_seconds"] = time.time() - t_start
  _log(md)
  return results


def _distal(config, get_model, plots):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  out = {}
  names = [m for m in config.distal_models if m in config.models]
  if not names:
    return out
  fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names), 2.4), squeeze=False)
  for j, name in enumerate(names):
    alpha, eta = adistal.CALIBRATION[name]
    t0 = time.time()
    res = adistal.distal(get_model(name).logits_fn, jax.random.PRNGKey(config.seed), n=1, target=1,
                         alpha=alpha, eta=eta, max_iter=config.distal_iters, gradient="ge",
                         ge_step=1.0, ge_probe_batch=config.ge_probe_batch)
    p = float(res["prob"][0])
    out[f"distal/{name}/prob"] = p
    out[f"distal/{name}/iterations"] = int(res["iterations"][0])
    out[f"distal/{name}/reached"] = bool(res["reached"][0])
    _log(f"[{name}] distal: p(1)={p:.3f} after {int(res['iterations'][0])} iterations "
         f"({time.time() - t0:.0f}s)")
    axes[0][j].imshow(np.asarray(res["x"][0]).squeeze(), cmap="gray", vmin=0, vmax=1)
    axes[0][j].set_title(f"{name}: p(1)={p:.2f}", fontsize=8)
    axes[0][j].axis("off")
  fig.tight_layout()
  rio.save_figure(fig, os.path.join(plots, "distal.png"))
  return out
