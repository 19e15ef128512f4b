"""The factor family's scenarios: ``scenario(model, data, seed, settings) -> {metric: value}``.

* ``split_<name>``: R^2 on the test set of the benchmark split the model trained on (random,
  composition, interpolation, extrapolation; Schott et al., ICLR 2022, section 3), overall and
  per factor. On the interpolation and extrapolation splits also the OOD-factor and ID-factor R^2
  on the test images with exactly one factor value outside the training range (Schott et al.
  2022, section 5.2, Fig. 5: ``r2_ood``, ``r2_id``, per factor, and the subset's size
  ``n_one_ood``).
* ``corruptions``: R^2 on random-split test images under the 15 MNIST-C corruptions (Mu &
  Gilmer 2019; defined about the image centre, so they apply to 64x64 images), mean and per
  corruption.
* ``pgd_mse``: R^2 on test images after L-inf PGD (Madry et al. 2018) that maximises the
  squared error of the regression, at radius ``pgd_eps``.
* ``disentanglement``: MCC, MIG (Chen et al. 2018) and DCI (Eastwood & Williams 2018) of the
  model's representation against the factors (Klindt et al., ICLR 2021, section 6).
"""

from __future__ import annotations

from typing import Callable, Dict

import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax import disentanglement as dis
from rvl_jax.benchmark import analysis as bench_analysis
from rvl_jax.benchmark import datasets as bench_datasets
from rvl_jax.benchmark import metrics as bench_metrics
from rvl_jax.core import prng
from rvl_jax.noise.corruptions import mnist_c
from rvl_jax.study.factor_zoo import SPLITS, FactorData, FactorSettings
from rvl_jax.study.interface import StudyModel


def r2_scores(model: StudyModel, data: FactorData, images, targets) -> Dict[str, float]:
  return _r2_of(model.outputs(images), data, targets)


def _r2_of(predictions, data: FactorData, targets) -> Dict[str, float]:
  scores = bench_metrics.score_dict(
    targets, predictions, data.train.factor_names, data.train.variance
  )
  return {
    "r2": scores["rsquared"],
    **{f"r2_{f}": scores[f"rsquared_{f}"] for f in data.train.factor_names},
  }


# splits whose test images have factor values outside the training range (one-OOD subset)
ID_OOD_SPLITS = ("interpolation", "extrapolation")


def id_ood_scores(predictions, data: FactorData) -> Dict[str, float]:
  """OOD-factor and ID-factor R^2 of predictions on ``data``'s test images (Schott et al. 2022,
  section 5.2, through ``benchmark.analysis.modularity``), keyed ``r2_ood``, ``r2_id``,
  ``r2_ood_<factor>``, ``r2_id_<factor>`` and ``n_one_ood``."""
  grid = bench_datasets.factors_to_index(data.train.factor_sizes, data.test_labels)
  mod = bench_analysis.modularity(data.train.name, data.split, grid, predictions)
  out = {"r2_ood": mod["ood_rsquared"], "r2_id": mod["id_rsquared"]}
  for f in data.train.factor_names:
    for kind in ("ood", "id"):
      if f"{kind}_rsquared_{f}" in mod:
        out[f"r2_{kind}_{f}"] = mod[f"{kind}_rsquared_{f}"]
  out["n_one_ood"] = float(mod["n_one_ood"])
  return out


def _split(name: str):
  def scenario(model, data: FactorData, seed, s):
    del seed, s
    if data.split != name:
      raise ValueError(f"argument 'data': expected the {name!r} split, got {data.split!r}")
    if name not in ID_OOD_SPLITS:
      return r2_scores(model, data, data.test_images, data.test_targets)
    predictions = model.outputs(data.test_images)
    return {**_r2_of(predictions, data, data.test_targets), **id_ood_scores(predictions, data)}

  return scenario


def corruptions(
  model: StudyModel, data: FactorData, seed: int, s: FactorSettings
) -> Dict[str, float]:
  x, t = data.test_images[: s.n_corrupt], data.test_targets[: s.n_corrupt]
  key = ("corrupted", s.n_corrupt)
  if key not in data.memo:
    data.memo[key] = {
      name: np.asarray(fn(prng.stream_key(seed, f"study/factor/corrupt/{name}"), x))
      for name, fn in mnist_c.CORRUPTIONS.items()
    }
  r2 = {name: r2_scores(model, data, xc, t)["r2"] for name, xc in data.memo[key].items()}
  return {"r2_mean": float(np.mean(list(r2.values()))), **{f"r2_{k}": v for k, v in r2.items()}}


def pgd_regression(predict: Callable, x, targets, key, *, eps: float, steps: int, step_size: float):
  """L-inf PGD with a random start that maximises the summed squared error of a regression."""

  def loss(xa):
    return jnp.sum((predict(xa) - targets) ** 2)

  grad = jax.grad(loss)
  xa = jnp.clip(x + jax.random.uniform(key, x.shape, minval=-eps, maxval=eps), 0.0, 1.0)

  def body(_, xa):
    xa = xa + step_size * jnp.sign(grad(xa))
    return jnp.clip(jnp.clip(xa, x - eps, x + eps), 0.0, 1.0)

  return jax.lax.fori_loop(0, steps, body, xa)


def pgd_mse(model: StudyModel, data: FactorData, seed: int, s: FactorSettings) -> Dict[str, float]:
  x = jnp.asarray(data.test_images[: s.n_pgd])
  t = jnp.asarray(data.test_targets[: s.n_pgd], jnp.float32)
  if not model.differentiable:
    return {"r2": float("nan")}
  attack = jax.jit(
    lambda xb, tb, k: pgd_regression(
      model.predict,
      xb,
      tb,
      k,
      eps=s.pgd_eps,
      steps=s.pgd_steps,
      step_size=2.5 * s.pgd_eps / s.pgd_steps,
    )
  )
  key = prng.stream_key(seed, "study/factor/pgd")
  adv = np.concatenate(
    [
      np.asarray(attack(x[i : i + 100], t[i : i + 100], jax.random.fold_in(key, i)))
      for i in range(0, len(x), 100)
    ]
  )
  return {"r2": r2_scores(model, data, adv, np.asarray(t))["r2"]}


def disentanglement(
  model: StudyModel, data: FactorData, seed: int, s: FactorSettings
) -> Dict[str, float]:
  n = min(s.n_disentangle, len(data.test_images))
  codes = model.features(data.test_images[:n])
  codes = codes[:, np.std(codes, 0) > 1e-8]  # dead units carry no information
  factors = data.test_labels[:n]
  out = {
    "mcc": dis.mean_corr_coef(codes, factors, key=seed)["score"],
    "mig": dis.mig(codes, factors)["score"] if codes.shape[1] >= 2 else float("nan"),
  }
  out["dci"] = dis.dci(codes, factors, n_estimators=20, estimator="hist_gbt", key=seed)["score"]
  return out


SCENARIOS: Dict[str, Callable] = {
  **{f"split_{name}": _split(name) for name in SPLITS},
  "corruptions": corruptions,
  "pgd_mse": pgd_mse,
  "disentanglement": disentanglement,
}
