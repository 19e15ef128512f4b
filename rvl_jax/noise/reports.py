"""Reports of noise-trained models: per-model JSON + markdown in the layout of the result files
released with Rusak et al. 2020 (clean top-1/top-5, per-corruption top-1/top-5/CE, full and
without-noise means), and the MNIST study's summary table and figures."""

from __future__ import annotations

import os
from typing import Any, List, Mapping, Optional, Sequence

import numpy as np

from rvl_jax.core import io as rio
from rvl_jax.noise.corruptions import mnist_c

# The per-seed metrics of the study's summary table and their column headers.
SUMMARY_COLUMNS = {
  "clean_top1": "clean top-1",
  "mnist_c_mean": "MNIST-C mean",
  "eps_star_gaussian": "eps*_GN",
  "eps_star_uniform": "eps*_UN",
  "eps_star_adversarial": "eps*_AN",
  "eps_star_erase": "eps*_erase",
}


def _fmt(v, nd=2):
  return "" if v is None else f"{v:.{nd}f}"


def model_report_markdown(name: str, summary: Mapping, title: Optional[str] = None) -> str:
  """Markdown table: clean top-1/top-5, per-corruption top-1/top-5/CE, full and w/o-noise means.

  Args:
    name: the model's name (the heading unless ``title`` is given).
    summary: an ``evaluation.summarize_corruption_table`` result.
    title: optional heading.

  Returns:
    The markdown text.
  """
  rows = summary.get("per_corruption", {})
  lines = [f"### {title or name}", ""]
  head = "| clean top-1 | clean top-5 | corr. top-1 | corr. top-5 | mCE | w/o-noise top-1 | w/o-noise top-5 |"
  lines += [head, "|" + "---|" * 7]
  lines.append(
    "| "
    + " | ".join(
      _fmt(summary.get(k))
      for k in (
        "clean_top1",
        "clean_top5",
        "full_top1",
        "full_top5",
        "mCE",
        "without_noise_top1",
        "without_noise_top5",
      )
    )
    + " |"
  )
  lines += ["", "| corruption | top-1 | top-5 | CE |", "|---|---|---|---|"]
  for c, r in rows.items():
    lines.append(f"| {c} | {_fmt(r.get('top1'))} | {_fmt(r.get('top5'))} | {_fmt(r.get('ce'))} |")
  return "\n".join(lines) + "\n"


def write_model_report(
  directory: str, name: str, summary: Mapping, extra: Optional[Mapping] = None
) -> str:
  """Writes ``<directory>/<name>.json`` and ``.md`` atomically.

  Args:
    directory: output folder (created).
    name: file stem.
    summary: an ``evaluation.summarize_corruption_table`` result.
    extra: further JSON entries (not in the markdown).

  Returns:
    The markdown path.
  """
  os.makedirs(directory, exist_ok=True)
  payload = dict(summary)
  if extra:
    payload.update(extra)
  rio.write_json(os.path.join(directory, f"{name}.json"), payload)
  md = model_report_markdown(name, summary)
  path = os.path.join(directory, f"{name}.md")
  with rio.atomic_write(path, "w") as f:
    f.write(md)
  return path


def _arms_with_rows(results: Mapping[str, Sequence]) -> List[str]:
  return [a for a in results if results[a]]


def study_markdown(results: Mapping[str, Sequence], agg: Mapping[str, Any], header: str) -> str:
  """The MNIST study's summary: eps* and MNIST-C tables, adversarial accuracy, checks.

  Args:
    results: ``{arm: [row per seed]}`` (``rvl_jax.noise.study.run_arms``).
    agg: ``rvl_jax.noise.study.aggregate_study`` output.
    header: a first line describing the run (seeds, model, schedule).

  Returns:
    The markdown text.
  """
  arms = _arms_with_rows(results)
  lines = [
    header,
    "",
    "| arm | " + " | ".join(SUMMARY_COLUMNS.values()) + " |",
    "|---" * (len(SUMMARY_COLUMNS) + 1) + "|",
  ]
  for a in arms:

    def cell(k, a=a):
      m = agg.get(f"{a}/{k}_mean")
      return "" if m is None else f"{m:.2f} ± {agg[f'{a}/{k}_std']:.2f}"

    lines.append(f"| {a} | " + " | ".join(cell(k) for k in SUMMARY_COLUMNS) + " |")
  lines += [
    "",
    "| arm | " + " | ".join(c.replace("_", " ") for c in mnist_c.ORDER) + " |",
    "|---" * (len(mnist_c.ORDER) + 1) + "|",
  ]
  for a in arms:
    lines.append(
      f"| {a} | " + " | ".join(f"{agg[f'{a}/mnist_c/{c}_mean']:.1f}" for c in mnist_c.ORDER) + " |"
    )
  adv = [a for a in arms if f"{a}/adversarial_linf_mean" in agg]
  if adv:
    lines += ["", "| arm | L-inf PGD acc (eps 0.1) | L2 acc (eps 1.5) |", "|---|---|---|"]
    for a in adv:
      lines.append(
        f"| {a} | {agg[f'{a}/adversarial_linf_mean']:.1f} | {agg[f'{a}/adversarial_l2_mean']:.1f} |"
      )
  checks = {k: v for k, v in agg.items() if k.startswith(("A7", "A8"))}
  if checks:
    lines += ["", "| check | value |", "|---|---|"]
    lines += [
      f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in checks.items()
    ]
  return "\n".join(lines) + "\n"


def _pyplot():
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  return plt


def plot_study(results: Mapping[str, Sequence], agg: Mapping[str, Any], directory: str) -> None:
  """Writes ``mnist_c_per_corruption.png`` and (with eps* results) ``eps_star.png``.

  Args:
    results: ``{arm: [row per seed]}``.
    agg: ``rvl_jax.noise.study.aggregate_study`` output.
    directory: the plots folder.

  Returns:
    None.
  """
  plt = _pyplot()
  arms = _arms_with_rows(results)
  fig, ax = plt.subplots(figsize=(12, 4))
  w = 0.8 / max(len(arms), 1)
  for i, arm in enumerate(arms):
    vals = [agg[f"{arm}/mnist_c/{c}_mean"] for c in mnist_c.ORDER]
    ax.bar(np.arange(len(vals)) + i * w, vals, w, label=arm)
  ax.set_xticks(np.arange(len(mnist_c.ORDER)) + 0.4 - w / 2)
  ax.set_xticklabels(mnist_c.ORDER, rotation=45, ha="right")
  ax.set_ylabel("top-1 accuracy (%)")
  ax.set_title("MNIST-C accuracy per corruption (mean over seeds)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  rio.save_figure(fig, os.path.join(directory, "mnist_c_per_corruption.png"))
  eps_arms = [a for a in arms if f"{a}/eps_star_gaussian_mean" in agg]
  if eps_arms:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, k in enumerate(("gaussian", "uniform", "adversarial")):
      ax.bar(
        np.arange(len(eps_arms)) + i * 0.27,
        [agg[f"{a}/eps_star_{k}_mean"] for a in eps_arms],
        0.27,
        yerr=[agg[f"{a}/eps_star_{k}_std"] for a in eps_arms],
        label=f"eps* {k}",
      )
    ax.set_xticks(np.arange(len(eps_arms)) + 0.27)
    ax.set_xticklabels(eps_arms)
    ax.set_ylabel("median L2 distance")
    ax.legend(fontsize=8)
    fig.tight_layout()
    rio.save_figure(fig, os.path.join(directory, "eps_star.png"))


def plot_sigma_sweep(
  sweep: Mapping[str, Any], sigmas: Sequence[float], marks: Sequence[float], path: str
) -> None:
  """MNIST-C accuracy (with and without the noise corruptions) against the GNT sigma.

  Args:
    sweep: ``rvl_jax.noise.study.aggregate_sweep`` output.
    sigmas: the swept sigmas, in plotting order.
    marks: sigmas drawn as vertical lines (the ImageNet-C Gaussian severities).
    path: the .png to write.

  Returns:
    None.
  """
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(sigmas, [sweep[f"sigma_{s:g}/mnist_c_mean"] for s in sigmas], "o-", label="MNIST-C mean")
  ax.plot(
    sigmas, [sweep[f"sigma_{s:g}/mnist_c_without_noise"] for s in sigmas], "s--", label="w/o noise"
  )
  for s in marks:
    ax.axvline(s, color="gray", lw=0.5, ls=":")
  ax.set_xlabel("GNT sigma")
  ax.set_ylabel("accuracy (%)")
  ax.legend()
  fig.tight_layout()
  rio.save_figure(fig, path)
