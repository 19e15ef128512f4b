"""CE / mCE with the AlexNet normalisation, recomputed from the per-corruption tables of the
result files released with Rusak et al. 2020."""

import numpy as np
import pytest

from rvl_jax.noise import evaluation, reports

# Per-corruption top-1 (mean of 5 severities) of the released result files, in IMAGENET_C_ORDER.
TOP1 = {
  "vanilla": [
    29.29,
    27.03,
    23.81,
    38.75,
    26.79,
    38.67,
    36.24,
    32.53,
    38.14,
    45.83,
    68.02,
    39.06,
    45.25,
    44.79,
    53.41,
  ],
  "speckle": [
    54.93,
    58.07,
    49.03,
    42.55,
    31.63,
    39.86,
    36.48,
    34.05,
    41.21,
    45.55,
    67.98,
    40.59,
    46.96,
    48.67,
    57.90,
  ],
  "gnt05": [
    59.21,
    59.28,
    56.76,
    46.66,
    37.79,
    43.61,
    41.23,
    35.30,
    43.75,
    43.61,
    67.83,
    39.32,
    49.60,
    54.83,
    61.89,
  ],
  "gnt_mult": [
    66.96,
    65.43,
    63.62,
    43.07,
    32.74,
    40.51,
    37.20,
    33.73,
    42.05,
    45.39,
    68.45,
    40.95,
    47.96,
    50.49,
    59.86,
  ],
  "ant1x1": [
    64.77,
    65.73,
    63.95,
    47.02,
    36.98,
    43.30,
    40.56,
    36.71,
    45.50,
    44.20,
    69.66,
    42.12,
    48.89,
    54.65,
    62.36,
  ],
  "ant1x1_sin": [
    64.45,
    64.99,
    63.45,
    46.47,
    37.54,
    45.84,
    39.25,
    42.07,
    46.86,
    48.98,
    68.91,
    46.51,
    50.23,
    57.41,
    60.09,
  ],
}
MCE = {
  "vanilla": 76.70,
  "speckle": 68.33,
  "gnt05": 64.50,
  "gnt_mult": 64.97,
  "ant1x1": 62.51,
  "ant1x1_sin": 61.20,
}
FULL = {
  "vanilla": 39.17,
  "speckle": 46.36,
  "gnt05": 49.38,
  "gnt_mult": 49.23,
  "ant1x1": 51.09,
  "ant1x1_sin": 52.20,
}
WO_NOISE = {
  "vanilla": 42.29,
  "speckle": 44.45,
  "gnt05": 47.12,
  "gnt_mult": 45.20,
  "ant1x1": 47.66,
  "ant1x1_sin": 49.18,
}
VANILLA_CE = [
  79.77,
  81.58,
  82.58,
  74.71,
  88.61,
  78.03,
  79.86,
  77.83,
  74.84,
  66.11,
  56.64,
  71.43,
  84.75,
  76.92,
  76.82,
]
VANILLA_TOP5 = [
  46.74,
  44.11,
  40.67,
  61.08,
  44.94,
  58.84,
  58.24,
  53.00,
  58.78,
  69.02,
  87.87,
  58.73,
  65.83,
  66.36,
  75.72,
]


@pytest.mark.parametrize("model", sorted(MCE))
def test_mce_full_and_without_noise(model):
  top1 = dict(zip(evaluation.IMAGENET_C_ORDER, TOP1[model]))
  s = evaluation.summarize_corruption_table(top1)
  assert abs(s["mCE"] - MCE[model]) <= 0.01
  assert abs(s["full_top1"] - FULL[model]) <= 0.01
  assert abs(s["without_noise_top1"] - WO_NOISE[model]) <= 0.01


def test_per_corruption_ce_and_top5_vanilla():
  top1 = dict(zip(evaluation.IMAGENET_C_ORDER, TOP1["vanilla"]))
  top5 = dict(zip(evaluation.IMAGENET_C_ORDER, VANILLA_TOP5))
  s = evaluation.summarize_corruption_table(top1, top5, clean_top1=76.13, clean_top5=92.86)
  ce = [s["per_corruption"][c]["ce"] for c in evaluation.IMAGENET_C_ORDER]
  np.testing.assert_allclose(ce, VANILLA_CE, atol=0.01)
  assert abs(s["full_top5"] - 59.33) <= 0.01
  assert abs(s["without_noise_top5"] - 63.20) <= 0.01


def test_per_severity_lists_equal_means():
  top1 = {
    c: [v + d for d in (4, 2, 0, -2, -4)]
    for c, v in zip(evaluation.IMAGENET_C_ORDER, TOP1["vanilla"])
  }
  s = evaluation.summarize_corruption_table(top1)
  assert abs(s["mCE"] - 76.70) <= 0.01
  assert len(s["per_corruption"]["fog"]["top1_per_severity"]) == 5


def test_vanilla_normalised_ce_and_missing():
  top1 = dict(zip(evaluation.IMAGENET_C_ORDER, TOP1["ant1x1"]))
  base = evaluation.baseline_errors_from(dict(zip(evaluation.IMAGENET_C_ORDER, TOP1["vanilla"])))
  s = evaluation.summarize_corruption_table(top1, baseline_errors=base)
  assert s["mCE"] < 100
  own = evaluation.summarize_corruption_table(
    dict(zip(evaluation.IMAGENET_C_ORDER, TOP1["vanilla"])), baseline_errors=base
  )
  assert abs(own["mCE"] - 100) < 1e-9
  with pytest.raises(ValueError, match="missing"):
    evaluation.mean_corruption_error({"fog": 40.0}, corruptions=["fog", "snow"])


def test_report_files(tmp_path):
  top1 = dict(zip(evaluation.IMAGENET_C_ORDER, TOP1["vanilla"]))
  s = evaluation.summarize_corruption_table(top1, clean_top1=76.13)
  md = reports.write_model_report(str(tmp_path), "vanilla", s)
  text = open(md).read()
  assert "76.70" in text and "gaussian_noise" in text
  assert (tmp_path / "vanilla.json").exists()
