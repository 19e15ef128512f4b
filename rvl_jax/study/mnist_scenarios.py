"""The MNIST family's scenarios: ``scenario(model, data, seed, settings) -> {metric: value}``.

* ``clean``: test accuracy.
* ``autoattack``: robust accuracy under AutoAttack's APGD-CE + APGD-T (Croce & Hein 2020) at
  reduced iterations, L-inf and L2; NaN for models without a useful input gradient.
* ``decision_battery``: the ABS paper's decision-based attacks (Schott et al., ICLR 2019,
  section 5: additive Gaussian noise, Pointwise, optionally Boundary) at a reduced budget; the
  per-sample minimal L2 adversarial over the battery, its median and the accuracy at L2 = 1.5.
  It applies to every model, differentiable or not.
* ``mnist_c``: accuracy on the 15 MNIST-C corruptions (Mu & Gilmer 2019), per corruption and mean.
* ``affine``: accuracy on test digits transformed inside the training range (interpolation) and
  beyond it in one factor (rotation, scale, translation: extrapolation).
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from rvl_jax.attacks import evaluate as attack_eval
from rvl_jax.attacks import suite
from rvl_jax.attacks.autoattack import autoattack_report
from rvl_jax.core import prng
from rvl_jax.noise.corruptions import mnist_c
from rvl_jax.study import affine
from rvl_jax.study.interface import StudyModel
from rvl_jax.study.mnist_zoo import MnistData, MnistSettings


def _accuracy(model: StudyModel, images, labels) -> float:
  return float(np.mean(model.outputs(images).argmax(-1) == labels))


def clean(model: StudyModel, data: MnistData, seed: int, s: MnistSettings) -> Dict[str, float]:
  del seed, s
  return {"accuracy": _accuracy(model, data.test_images, data.test_labels)}


def autoattack(model: StudyModel, data: MnistData, seed: int, s: MnistSettings) -> Dict[str, float]:
  if not model.differentiable:
    return {"linf_robust": float("nan"), "l2_robust": float("nan")}
  x, y = data.test_images[: s.n_adv], data.test_labels[: s.n_adv]
  attacks = [
    ("apgd-ce", {"n_iter": s.aa_n_iter}),
    ("apgd-t", {"n_iter": s.aa_n_iter, "n_target_classes": s.aa_target_classes}),
  ]
  out = {}
  for norm, eps in (("linf", s.aa_eps_linf), ("l2", s.aa_eps_l2)):
    rep = autoattack_report(
      model.predict,
      x,
      y,
      prng.stream_key(seed, f"study/aa/{norm}"),
      norm=norm,
      eps=eps,
      version="custom",
      attacks=attacks,
      batch_size=model.batch_size,
      show_progress=False,
    )
    out[f"{norm}_robust"] = rep.final_robust_accuracy
  return out


def decision_battery(
  model: StudyModel, data: MnistData, seed: int, s: MnistSettings
) -> Dict[str, float]:
  configs = {
    "gaussian": {},
    "pointwise_l2": {"restarts": 1, "max_steps": s.battery_pointwise_steps},
  }
  if s.battery_boundary_iterations:
    configs["boundary"] = {"iterations": s.battery_boundary_iterations}
  target = suite.Model(
    name=model.name,
    logits_fn=model.predict,
    differentiable=False,
    binary=model.binary,
    batch_size=min(model.batch_size, s.n_adv),
  )
  records = suite.run_attacks(
    target,
    data.test_images[: s.n_adv],
    data.test_labels[: s.n_adv],
    prng.stream_key(seed, "study/battery"),
    configs,
    log=lambda _: None,
  )
  d = attack_eval.per_sample_min({k: r["dist"]["l2"] for k, r in records.items()})
  return {
    "median_l2": attack_eval.median_distance(d),
    "accuracy_l2_1.5": attack_eval.accuracy_at(d, 1.5),
  }


def corrupted_test_sets(data: MnistData, seed: int) -> Dict[str, np.ndarray]:
  """The 15 MNIST-C corruptions of the seed's test digits (computed once per data object)."""
  if "mnist_c" not in data.memo:
    data.memo["mnist_c"] = {
      name: np.asarray(fn(prng.stream_key(seed, f"study/mnist_c/{name}"), data.test_images))
      for name, fn in mnist_c.CORRUPTIONS.items()
    }
  return data.memo["mnist_c"]


def corruptions(
  model: StudyModel, data: MnistData, seed: int, s: MnistSettings
) -> Dict[str, float]:
  del s
  acc = {
    name: _accuracy(model, x, data.test_labels)
    for name, x in corrupted_test_sets(data, seed).items()
  }
  return {"mean": float(np.mean(list(acc.values()))), **acc}


def affine_test_sets(data: MnistData, seed: int, s: MnistSettings) -> Dict[str, np.ndarray]:
  key = ("affine", s.ranges)
  if key not in data.memo:
    sets = {"interpolation": ""}
    sets.update({f"extrapolation_{f}": f for f in affine.FACTORS})
    data.memo[key] = {
      name: affine.transform(
        data.test_images, prng.numpy_rng(seed, f"study/affine/{name}"), s.ranges, outside
      )
      for name, outside in sets.items()
    }
  return data.memo[key]


def affine_split(
  model: StudyModel, data: MnistData, seed: int, s: MnistSettings
) -> Dict[str, float]:
  acc = {
    name: _accuracy(model, x, data.test_labels)
    for name, x in affine_test_sets(data, seed, s).items()
  }
  acc["extrapolation_mean"] = float(
    np.mean([v for k, v in acc.items() if k.startswith("extrapolation_")])
  )
  return acc


SCENARIOS: Dict[str, Callable] = {
  "clean": clean,
  "autoattack": autoattack,
  "decision_battery": decision_battery,
  "mnist_c": corruptions,
  "affine": affine_split,
}
