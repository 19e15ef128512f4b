"""Helpers shared by the AutoAttack benchmarks and the torchattacks cross-check test (no flags,
so any script may import them)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

# ----------------------------------------------------------------------------- flags


def define_weights_dir(help_text: str):
  """--weights_dir (defined once per process), by default the directory of released ABS weights
  that the ABS robustness config reads."""
  from absl import flags

  from experiments.abs.configs.robustness import DEFAULT_WEIGHTS_DIR
  from rvl_jax.core import experiment

  return experiment.define_flag(flags.DEFINE_string, "weights_dir", DEFAULT_WEIGHTS_DIR, help_text)


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

  xa, _, _ = attacks.iterative_attack(
    logits_fn,
    x[:1],
    y[:1],
    jax.random.PRNGKey(0),
    1.0,
    norm="l2",
    step=100.0,
    n_iter=1,
    random_start=False,
  )
  radius = float(jnp.sqrt(jnp.sum(jnp.square(xa - x[:1]))))
  return eps if radius <= 1.01 else eps / float(np.sqrt(np.prod(x.shape[1:])))


def pgd_robust(logits_fn, x, y, norm: str, eps: float, seed: int):
  """Robust accuracy under PGD (L-inf: 40 x eps/30; L2: 50 x 0.025 eps), random start."""
  from rvl_jax import attacks

  key = jax.random.PRNGKey(seed)
  t0 = time.time()
  if norm == "linf":
    xa, fooled, _ = attacks.iterative_attack(
      logits_fn, x, y, key, eps, norm="linf", step=eps / 30.0, n_iter=40
    )
  else:
    e = l2_eps_for_iterative(logits_fn, x, y, eps)
    xa, fooled, _ = attacks.iterative_attack(
      logits_fn, x, y, key, e, norm="l2", step=0.025 * e, n_iter=50
    )
  correct = ~np.asarray(attacks.is_adversarial(logits_fn(x), y))
  return float(np.mean(correct & ~np.asarray(fooled))), time.time() - t0


def _timed(run):
  """run() with its wall and CPU seconds: (result, wall, cpu)."""
  t0, c0 = time.time(), time.process_time()
  result = run()
  return result, time.time() - t0, time.process_time() - c0


def ours(logits_fn, x, y, norm: str, eps: float, seed: int, warmup: bool, batch_size: int):
  from rvl_jax.attacks.autoattack import autoattack_report

  run = lambda: autoattack_report(
    logits_fn,
    x,
    y,
    jax.random.PRNGKey(seed),
    norm=norm,
    eps=eps,
    version="standard",
    batch_size=batch_size,
  )
  rep, seconds, cpu_seconds = _timed(run)
  out = dict(
    robust_accuracy=rep.final_robust_accuracy,
    clean_accuracy=rep.clean_accuracy,
    after_each=rep.robust_accuracy,
    seconds_incl_compile=seconds,
  )
  if warmup:  # the timed figures become those of a second, already compiled run
    rep, seconds, cpu_seconds = _timed(run)
    out["robust_accuracy_second_run"] = rep.final_robust_accuracy
  out.update(seconds=seconds, cpu_seconds=cpu_seconds, seconds_each=rep.seconds)
  out["images_per_s"] = len(x) / seconds
  return out


def torchattacks_run(model, x, y, norm: str, eps: float, budget: str, seed: int):
  import torch
  import torchattacks as ta

  tn = "Linf" if norm == "linf" else "L2"
  torch.manual_seed(seed)
  if budget == "shipped":
    atk = ta.AutoAttack(model, norm=tn, eps=eps, version="standard", n_classes=10, seed=seed)
  else:
    atk = ta.MultiAttack(
      [
        ta.APGD(model, norm=tn, eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed),
        ta.APGDT(model, norm=tn, eps=eps, steps=100, n_restarts=1, n_classes=10, seed=seed),
        ta.FAB(
          model,
          norm=tn,
          eps=eps,
          steps=100,
          n_restarts=1,
          multi_targeted=True,
          n_classes=10,
          seed=seed,
        ),
        ta.Square(model, norm=tn, eps=eps, n_queries=5000, n_restarts=1, seed=seed),
      ]
    )
  xt = torch.as_tensor(np.transpose(np.asarray(x), (0, 3, 1, 2)).copy())
  yt = torch.as_tensor(np.asarray(y, np.int64))
  t0, c0 = time.time(), time.process_time()
  adv = atk(xt, yt)
  seconds, cpu = time.time() - t0, time.process_time() - c0
  with torch.no_grad():
    robust = (model(adv).argmax(1) == yt) & (model(xt).argmax(1) == yt)
    delta = (adv - xt).reshape(len(xt), -1)
    dist = delta.abs().max(1)[0] if norm == "linf" else delta.norm(dim=1)
  return dict(
    robust_accuracy=float(robust.float().mean()),
    seconds=seconds,
    cpu_seconds=cpu,
    images_per_s=len(x) / seconds,
    max_distance=float(dist.max()),
  )
