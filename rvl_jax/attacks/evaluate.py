"""Robustness evaluation (Schott et al. 2019, Sec. 7, Table 1, Fig. 2): per-sample minima,
medians, accuracy at epsilon, curves, galleries and the Table-1-shaped report.

Distances are numpy arrays of shape (N,): 0 for misclassified clean samples, +inf where no
attack succeeded.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

MODELS = ("cnn", "binary_cnn", "nn", "madry", "binary_abs", "abs")
MODEL_TITLES = {
  "cnn": "CNN",
  "binary_cnn": "Binary CNN",
  "nn": "Nearest Neighbour",
  "madry": "Madry et al.",
  "binary_abs": "Binary ABS",
  "abs": "ABS",
}
EPSILONS = {"l2": 1.5, "linf": 0.3, "l0": 12.0}
METRIC_TITLES = {"l2": "L2", "linf": "L-inf", "l0": "L0"}

# Rows of Table 1 per metric: (attack key, row title).
ROWS = {
  "l2": (
    ("transfer", "Transfer Attacks"),
    ("gaussian", "Gaussian Noise"),
    ("boundary", "Boundary Attack"),
    ("pointwise_l2", "Pointwise Attack"),
    ("fgm", "FGM"),
    ("fgm_ge", "FGM w/ GE"),
    ("deepfool_l2", "DeepFool"),
    ("deepfool_l2_ge", "DeepFool w/ GE"),
    ("bim_l2", "L2 BIM"),
    ("bim_l2_ge", "L2 BIM w/ GE"),
    ("latent_descent", "Latent Descent"),
  ),
  "linf": (
    ("transfer", "Transfer Attacks"),
    ("fgsm", "FGSM"),
    ("fgsm_ge", "FGSM w/ GE"),
    ("deepfool_linf", "L-inf DeepFool"),
    ("deepfool_linf_ge", "L-inf DeepFool w/ GE"),
    ("bim_linf", "BIM"),
    ("bim_linf_ge", "BIM w/ GE"),
    ("mim", "MIM"),
    ("mim_ge", "MIM w/ GE"),
  ),
  "l0": (("salt_pepper", "Salt&Pepper Noise"), ("pointwise_10x", "Pointwise Attack 10x")),
}

_I = math.inf
# Paper Table 1 (median distance, accuracy at eps in %); None = not applicable.
PAPER_TABLE1 = {
  "clean": dict(cnn=99.1, binary_cnn=98.5, nn=96.9, madry=98.8, binary_abs=99.0, abs=99.0),
  "l2": {
    "transfer": [(1.1, 14), (1.4, 38), (5.4, 90), (3.7, 94), (2.5, 86), (4.6, 94)],
    "gaussian": [(5.2, 96), (3.4, 92), (_I, 91), (5.4, 96), (5.6, 89), (10.9, 98)],
    "boundary": [(1.2, 21), (3.3, 84), (2.9, 73), (1.4, 37), (6.0, 91), (2.6, 83)],
    "pointwise_l2": [(3.4, 91), (1.9, 71), (3.5, 89), (1.9, 71), (3.1, 86), (4.6, 94)],
    "fgm": [(1.4, 48), (1.4, 50), None, (_I, 96), None, None],
    "fgm_ge": [(1.4, 42), (2.8, 51), (3.7, 79), (_I, 88), (1.9, 68), (3.5, 89)],
    "deepfool_l2": [(1.2, 18), (1.0, 11), None, (9.0, 91), None, None],
    "deepfool_l2_ge": [(1.3, 30), (0.9, 5), (1.6, 55), (5.1, 90), (1.4, 41), (2.4, 83)],
    "bim_l2": [(1.1, 13), (1.0, 11), None, (4.8, 88), None, None],
    "bim_l2_ge": [(1.1, 37), (_I, 50), (1.7, 62), (3.4, 88), (1.6, 63), (3.1, 87)],
    "latent_descent": [None, None, None, None, (2.6, 97), (2.7, 85)],
    "all": [(1.1, 8), (0.9, 3), (1.5, 53), (1.4, 35), (1.3, 39), (2.3, 80)],
  },
  "linf": {
    "transfer": [(0.08, 0), (0.44, 85), (0.42, 78), (0.39, 92), (0.49, 88), (0.34, 73)],
    "fgsm": [(0.10, 4), (0.43, 77), None, (0.45, 93), None, None],
    "fgsm_ge": [(0.10, 21), (0.42, 71), (0.38, 68), (0.47, 89), (0.49, 85), (0.27, 34)],
    "deepfool_linf": [(0.08, 0), (0.38, 74), None, (0.42, 90), None, None],
    "deepfool_linf_ge": [(0.09, 0), (0.37, 67), (0.21, 26), (0.53, 90), (0.46, 78), (0.27, 39)],
    "bim_linf": [(0.08, 0), (0.36, 70), None, (0.36, 90), None, None],
    "bim_linf_ge": [(0.08, 37), (_I, 70), (0.25, 43), (0.46, 89), (0.49, 86), (0.25, 13)],
    "mim": [(0.08, 0), (0.37, 71), None, (0.34, 90), None, None],
    "mim_ge": [(0.09, 36), (_I, 69), (0.19, 26), (0.36, 89), (0.46, 85), (0.26, 17)],
    "all": [(0.08, 0), (0.34, 64), (0.19, 22), (0.34, 88), (0.44, 77), (0.23, 8)],
  },
  "l0": {
    "salt_pepper": [(44.0, 91), (44.0, 88), (161.0, 88), (13.5, 56), (146.0, 94), (165.0, 94)],
    "pointwise_10x": [(9.0, 19), (11.0, 39), (10.0, 34), (4.0, 0), (22.0, 77), (16.5, 69)],
    "all": [(9.0, 19), (11.0, 38), (10.0, 34), (4.0, 0), (21.5, 77), (16.5, 69)],
  },
}


def per_sample_min(dists: Mapping[str, np.ndarray]) -> np.ndarray:
  """Per-sample minimum over attacks ("All ... attacks")."""
  arrs = [np.asarray(d, np.float64) for d in dists.values()]
  if not arrs:
    raise ValueError("argument 'dists': expected at least one attack's distances, got none")
  return np.min(np.stack(arrs), axis=0)


def median_distance(d) -> float:
  """Median of per-sample distances (+inf if more than half the attacks failed)."""
  d = np.sort(np.asarray(d, np.float64))
  n = d.size
  if n == 0:
    return float("nan")
  if n % 2:
    return float(d[n // 2])
  a, b = d[n // 2 - 1], d[n // 2]
  return float(b) if math.isinf(b) else float(0.5 * (a + b))


def accuracy_at(d, eps: float) -> float:
  """Fraction of samples whose minimal adversarial distance exceeds eps (strict)."""
  return float(np.mean(np.asarray(d, np.float64) > eps))


def accuracy_curve(d, eps_grid) -> np.ndarray:
  d = np.asarray(d, np.float64)
  return np.array([np.mean(d > e) for e in np.asarray(eps_grid)], np.float64)


def summarize(d, metric: str) -> Dict[str, float]:
  return {"median": median_distance(d), "accuracy": accuracy_at(d, EPSILONS[metric])}


def default_eps_grid(metric: str, n: int = 200) -> np.ndarray:
  hi = {"l2": 10.0, "linf": 1.0, "l0": 200.0}[metric]
  return np.linspace(0.0, hi, n)


def _fmt_dist(v: float, metric: str) -> str:
  if v is None or (isinstance(v, float) and math.isnan(v)):
    return "nan"
  if math.isinf(v):
    return "∞"
  if metric == "linf":
    return f"{v:.2f}"
  return f"{v:.1f}"


def _cell(entry, metric):
  if entry is None:
    return "–"
  med, acc = entry
  return f"{_fmt_dist(med, metric)}/{acc:.0f}%"


def table1(
  results: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
  clean_accuracy: Mapping[str, float],
  models: Sequence[str] = MODELS,
  with_paper: bool = True,
  notes: Optional[Mapping[str, str]] = None,
  robust_accuracy_rows: Optional[Mapping[str, Mapping[str, Mapping[str, float]]]] = None,
):
  """Table-1-shaped report.

  Args:
    results: model -> metric -> attack key -> per-sample distances (numpy (N,)). The "all" row
      is computed as the per-sample minimum over the attacks present for that metric.
    clean_accuracy: model -> clean accuracy in [0, 1].
    models: column order.
    with_paper: add the paper's value beside each measured cell ("measured (paper)").
    robust_accuracy_rows: metric -> row title -> model -> robust accuracy at that metric's eps
      from a fixed-epsilon attack (e.g. AutoAttack), shown as "–/acc%" after the "all" row and
      stored under ``summary['robust_accuracy'][metric][title]``.

  Returns:
    (markdown string, JSON-able dict {metric: {attack: {model: {median, accuracy}}}}).
  """
  models = [m for m in models if m in results]
  out = {"clean_accuracy": {m: float(clean_accuracy.get(m, float("nan"))) for m in models}}
  header = "| row | " + " | ".join(MODEL_TITLES.get(m, m) for m in models) + " |"
  lines = [header, "|" + "---|" * (len(models) + 1)]
  paper_idx = {m: i for i, m in enumerate(MODELS)}

  def paper_cell(metric, key, m):
    if not with_paper or m not in paper_idx:
      return ""
    row = PAPER_TABLE1[metric].get(key)
    if row is None:
      return ""
    return f" ({_cell(row[paper_idx[m]], metric)})"

  cells = []
  for m in models:
    p = f" ({PAPER_TABLE1['clean'][m]:.1f}%)" if with_paper and m in paper_idx else ""
    cells.append(f"{100 * out['clean_accuracy'][m]:.1f}%{p}")
  lines.append("| Clean accuracy | " + " | ".join(cells) + " |")
  for metric in ("l2", "linf", "l0"):
    out[metric] = {}
    lines.append(f"| **{METRIC_TITLES[metric]} (ε = {EPSILONS[metric]:g})** |" + " |" * len(models))
    for key, title in ROWS[metric] + (("all", f"All {METRIC_TITLES[metric]} attacks"),):
      row_cells, any_present = [], False
      for m in models:
        per_attack = results[m].get(metric, {})
        if key == "all":
          d = per_sample_min(per_attack) if per_attack else None
        else:
          d = per_attack.get(key)
        if d is None:
          row_cells.append("–" + paper_cell(metric, key, m))
          continue
        any_present = True
        s = summarize(d, metric)
        out[metric].setdefault(key, {})[m] = s
        cell = _cell((s["median"], 100 * s["accuracy"]), metric)
        row_cells.append(cell + paper_cell(metric, key, m))
      if any_present:
        t = f"**{title}**" if key == "all" else title
        lines.append(f"| {t} | " + " | ".join(row_cells) + " |")
    for title, per_model in (robust_accuracy_rows or {}).get(metric, {}).items():
      out.setdefault("robust_accuracy", {}).setdefault(metric, {})[title] = {
        m: float(a) for m, a in per_model.items() if m in models
      }
      row_cells = [f"–/{100 * per_model[m]:.0f}%" if m in per_model else "–" for m in models]
      lines.append(f"| {title} | " + " | ".join(row_cells) + " |")
  md = "\n".join(lines)
  if with_paper:
    md += "\n\nCells: measured median distance / accuracy at ε (paper Table 1 in parentheses)."
  if notes:
    md += "\n" + "\n".join(f"* {k}: {v}" for k, v in notes.items())
  return md, out


# Claim -> (metric, models compared); None = every model of the table.
CLAIM_SCOPE = {
  "abs_largest_median_l2": ("l2", None),
  "binary_abs_largest_median_linf": ("linf", None),
  "abs_variants_beat_cnn_on_l0": ("l0", ("abs", "binary_abs", "cnn")),
  "madry_below_cnn_on_l0": ("l0", ("madry", "cnn")),
}
UNEQUAL = "UNEQUAL"


def budget_differences(
  plans: Mapping[str, Mapping[str, Mapping]],
  models: Sequence[str],
  metric: str,
  applicable,
  attack_metrics: Mapping[str, str],
):
  """Attacks of ``metric`` that two of ``models`` did not get with the same budget.

  Args:
    plans: model -> attack key -> keyword parameters the attack ran with (absent: not run).
    applicable: ``applicable(model, key) -> bool`` (e.g. true-gradient attacks need gradients).
    attack_metrics: attack key -> its metrics ('l2', 'linf', 'l0' or e.g. 'l2+linf').

  Returns:
    A list of "key: model=params, ..." strings, one per attack whose budget differs between
    models it applies to (empty: the comparison is between equal attack sets and budgets).
  """
  out = []
  models = [m for m in models if m in plans]
  for key, metrics in attack_metrics.items():
    if metric not in metrics.split("+"):
      continue
    ms = [m for m in models if applicable(m, key)]
    budgets = {m: plans[m].get(key) for m in ms}
    canon = {
      m: None if b is None else sorted((k, repr(v)) for k, v in dict(b).items())
      for m, b in budgets.items()
    }
    if len({repr(v) for v in canon.values()}) > 1:
      desc = ", ".join(f"{m}={'not run' if b is None else dict(b)}" for m, b in budgets.items())
      out.append(f"{key}: {desc}")
  return out


def claims_with_budgets(summary: Mapping, plans, applicable, attack_metrics):
  """:func:`qualitative_claims`, with every claim whose models did not get the same attacks
  and budgets in its metric reported as ``UNEQUAL`` instead of True/False.

  Returns (claims, reasons): reasons maps each UNEQUAL claim to its :func:`budget_differences`
  and the value the check would have given with the unequal budgets.
  """
  claims = qualitative_claims(summary)
  models = list(plans)
  reasons = {}
  for claim, (metric, scope) in CLAIM_SCOPE.items():
    diffs = budget_differences(plans, scope or models, metric, applicable, attack_metrics)
    if diffs and claims.get(claim) is not None:
      reasons[claim] = {"would_be": claims[claim], "differences": diffs}
      claims[claim] = UNEQUAL
  return claims, reasons


def qualitative_claims(summary: Mapping) -> Dict[str, Optional[bool]]:
  """Checks the qualitative claims of Schott et al. 2019 (Sec. 7) on a :func:`table1` JSON summary.

  Returns claim -> True/False (None where the models needed are missing).
  """

  def med(metric, m):
    try:
      return summary[metric]["all"][m]["median"]
    except KeyError:
      return None

  claims = {}
  l2 = {m: med("l2", m) for m in MODELS}
  linf = {m: med("linf", m) for m in MODELS}
  l0 = {m: med("l0", m) for m in MODELS}
  have = lambda d: {k: v for k, v in d.items() if v is not None}
  claims["abs_largest_median_l2"] = (
    None
    if l2["abs"] is None or len(have(l2)) < 2
    else all(l2["abs"] >= v for v in have(l2).values())
  )
  claims["binary_abs_largest_median_linf"] = (
    None
    if linf["binary_abs"] is None or len(have(linf)) < 2
    else all(linf["binary_abs"] >= v for v in have(linf).values())
  )
  claims["abs_variants_beat_cnn_on_l0"] = (
    None
    if None in (l0["abs"], l0["binary_abs"], l0["cnn"])
    else (l0["abs"] > l0["cnn"] and l0["binary_abs"] > l0["cnn"])
  )
  claims["madry_below_cnn_on_l0"] = (
    None if None in (l0["madry"], l0["cnn"]) else l0["madry"] < l0["cnn"]
  )
  # The all-attacks minimum is at least as small as every single attack (per sample).
  ok = True
  for metric in ("l2", "linf", "l0"):
    for key, per_model in summary.get(metric, {}).items():
      if key == "all":
        continue
      for m, s in per_model.items():
        allm = summary[metric].get("all", {}).get(m)
        if allm is not None and allm["median"] > s["median"] + 1e-9:
          ok = False
  claims["all_attacks_min_not_worse_than_single"] = ok
  return claims


# ----------------------------------------------------------------------------- figures


def plot_accuracy_curves(curves: Mapping[str, Mapping[str, np.ndarray]], title: str = ""):
  """curves: metric -> model -> per-sample minimal distances. Returns a matplotlib figure."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  metrics = [m for m in ("l0", "l2", "linf") if m in curves]
  fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
  for ax, metric in zip(axes[0], metrics):
    grid = default_eps_grid(metric)
    for model, d in curves[metric].items():
      ax.step(
        grid, 100 * accuracy_curve(d, grid), where="post", label=MODEL_TITLES.get(model, model)
      )
    ax.axvline(EPSILONS[metric], color="gray", ls=":", lw=1)
    ax.set_xlabel(f"{METRIC_TITLES[metric]} distance ε")
    ax.set_ylabel("accuracy at ε (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=7)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return fig


def quantile_gallery(x0, x_adv, dist, *, per_bin: int = 4, seed: int = 0, title: str = ""):
  """Error-quantile gallery (paper Figs. 5-7): adversarials within the 0-25, 25-50, 50-75 and
  75-100 % quantiles of the finite, non-zero per-sample minimal distances (clean above each)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  dist = np.asarray(dist, np.float64)
  ok = np.where(np.isfinite(dist) & (dist > 0))[0]
  rng = np.random.default_rng(seed)
  fig, axes = plt.subplots(2 * 4, per_bin, figsize=(1.3 * per_bin, 1.3 * 8), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  if ok.size:
    qs = np.quantile(dist[ok], [0, 0.25, 0.5, 0.75, 1.0])
    for b in range(4):
      sel = ok[(dist[ok] >= qs[b]) & (dist[ok] <= qs[b + 1])]
      pick = rng.permutation(sel)[:per_bin]
      for j, i in enumerate(pick):
        axes[2 * b][j].imshow(np.asarray(x0[i]).squeeze(), cmap="gray", vmin=0, vmax=1)
        axes[2 * b + 1][j].imshow(np.asarray(x_adv[i]).squeeze(), cmap="gray", vmin=0, vmax=1)
        axes[2 * b + 1][j].set_title(f"{dist[i]:.3g}", fontsize=7)
      axes[2 * b][0].text(-8, 14, f"{25 * b}-{25 * (b + 1)}%", fontsize=7, rotation=90, va="center")
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return fig


def per_class_gallery(x0, x_adv, y, dist, *, seed: int = 0, title: str = ""):
  """Minimal adversarial for one random correctly classified, attacked image per class
  (paper Fig. 3): clean row above, adversarial row below (distance in the title)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  y = np.asarray(y)
  dist = np.asarray(dist, np.float64)
  rng = np.random.default_rng(seed)
  classes = np.unique(y)
  fig, axes = plt.subplots(2, len(classes), figsize=(1.2 * len(classes), 2.8), squeeze=False)
  for j, c in enumerate(classes):
    for ax in axes[:, j]:
      ax.axis("off")
    cand = np.where((y == c) & np.isfinite(dist) & (dist > 0))[0]
    if cand.size == 0:
      continue
    i = rng.choice(cand)
    axes[0][j].imshow(np.asarray(x0[i]).squeeze(), cmap="gray", vmin=0, vmax=1)
    axes[1][j].imshow(np.asarray(x_adv[i]).squeeze(), cmap="gray", vmin=0, vmax=1)
    axes[1][j].set_title(f"{dist[i]:.2f}", fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  return fig
