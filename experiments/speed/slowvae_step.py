"""SlowVAE training-step throughput: rvl_jax vs. the authors' PyTorch step (same run, same CPU).

    python -m experiments.speed.slowvae_step [--batch_pairs=64] [--steps=20]
        [--reference_dir=/path/to/slow_disentanglement]   # optional, needs torch

Times one full optimisation step (encoder + decoder forward/backward of the 64x64 convolutional
network of the paper's appendix on 2 x batch_pairs images, the reference-form SlowVAE loss, Adam)
on fixed random binary images (data loading excluded), prints compile time, steps/s and, with --reference_dir, the
authors' step (their BetaVAE_H network and Solver loss functions, torch.optim.Adam) and the ratio.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import types

import numpy as np
from absl import app, flags

flags.DEFINE_integer("batch_pairs", 64, "pairs per step (2x images)")
flags.DEFINE_integer("steps", 10, "timed steps per round")
flags.DEFINE_integer("warmup", 3, "untimed steps after compilation")
flags.DEFINE_integer("rounds", 3, "alternating rounds (medians reported)")
flags.DEFINE_string("reference_dir", "", "checkout of bethgelab/slow_disentanglement")
flags.DEFINE_integer("torch_threads", 0, "0 = torch default")


def setup_jax(batch_pairs: int, warmup: int, seed: int = 0, channels: int = 1):
  """Returns (compile seconds, run(n) -> (steps/s, loss))."""
  import jax

  from rvl_jax.core import sharding
  from rvl_jax.slowvae import training

  model, state = training.create_state("slowvae", data_shape=(64, 64, channels), seed=seed)
  step = training.make_train_step("slowvae", model)
  mesh = sharding.make_mesh()
  repl = sharding.replicated_sharding(mesh)
  step_fn = jax.jit(step, out_shardings=(repl, repl), donate_argnums=(0,))
  rng = np.random.default_rng(seed)
  x = (rng.random((2, batch_pairs, 64, 64, channels)) < 0.1).astype(np.float32)
  batch = sharding.shard_batch({"x1": x[0], "x2": x[1]}, mesh)
  state = sharding.replicate(state, mesh)
  t0 = time.perf_counter()
  state, m = step_fn(state, batch)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t0
  holder = {"state": state}

  def run(n):
    st = holder["state"]
    t0 = time.perf_counter()
    for _ in range(n):
      st, m = step_fn(st, batch)
    jax.block_until_ready(m)
    holder["state"] = st
    return n / (time.perf_counter() - t0), float(m["loss"])

  run(warmup)
  return compile_s, run


def _stub_optional_modules():
  """The authors' solver imports plotting/IO helpers unused by a training step."""
  for name in ("torchvision", "torchvision.utils", "imageio"):
    try:
      importlib.import_module(name)
    except ImportError:
      mod = types.ModuleType(name)
      mod.save_image = mod.make_grid = lambda *a, **k: None
      sys.modules[name] = mod


def setup_reference(
  reference_dir: str, batch_pairs: int, warmup: int, threads: int, channels: int = 1
):
  """Returns run(n) -> (steps/s, loss) for the authors' step."""
  import torch

  if threads:
    torch.set_num_threads(threads)
  sys.path.insert(0, os.path.abspath(reference_dir))
  _stub_optional_modules()
  solver_mod = importlib.import_module("scripts.solver")
  args = types.SimpleNamespace(
    ckpt_dir="",
    output_dir="",
    dataset="dsprites",
    max_iter=1,
    z_dim=10,
    num_channel=channels,
    beta=1.0,
    gamma=10.0,
    rate_prior=6.0,
    lr=1e-4,
    beta1=0.9,
    beta2=0.999,
    ckpt_name=None,
    log_step=100,
    save_step=1000,
    cuda=False,
  )
  solver = solver_mod.Solver(args)
  net, opt = solver.net, solver.optim
  rng = np.random.default_rng(0)
  x = torch.from_numpy((rng.random((2 * batch_pairs, channels, 64, 64)) < 0.1).astype(np.float32))

  def step():  # the body of Solver.train for one batch (logging omitted)
    x_recon, mu, logvar = net(x)
    recon_loss = solver_mod.reconstruction_loss(x, x_recon, solver.decoder_dist)
    normal_entropy, cross_ent_normal, cross_ent_laplace = solver.compute_cross_ent_combined(
      mu, logvar
    )
    loss = (
      2 * recon_loss
      + solver.beta * (cross_ent_normal - normal_entropy)
      + solver.gamma * (cross_ent_laplace - normal_entropy)
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss)

  def run(n):
    t0 = time.perf_counter()
    for _ in range(n):
      loss = step()
    return n / (time.perf_counter() - t0), loss

  run(max(warmup, 1))
  return run


def main(argv):
  del argv
  a = flags.FLAGS
  import jax

  print(
    f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, batch {a.batch_pairs} "
    f"pairs ({2 * a.batch_pairs} images of 64x64x1), {a.steps} timed steps"
  )
  compile_s, run_jax = setup_jax(a.batch_pairs, a.warmup)
  print(f"rvl_jax   compile + first step {compile_s:7.2f} s")
  run_ref = None
  if a.reference_dir:
    try:
      import torch
    except ImportError:
      print("reference: torch is not installed (pip install torch) - skipped")
    else:
      run_ref = setup_reference(a.reference_dir, a.batch_pairs, a.warmup, a.torch_threads)
      print(f"reference: PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
  # Alternate the two in rounds (the machine may be shared): medians over rounds.
  jr, rr = [], []
  for r in range(a.rounds):
    rate, loss = run_jax(a.steps)
    jr.append(rate)
    line = f"round {r}: rvl_jax {rate:7.3f} steps/s (loss {loss:.1f})"
    if run_ref is not None:
      rrate, rloss = run_ref(a.steps)
      rr.append(rrate)
      line += f"   reference {rrate:7.3f} steps/s (loss {rloss:.1f})   ratio {rate / rrate:.2f}x"
    print(line, flush=True)
  jax_rate = float(np.median(jr))
  print(
    f"rvl_jax   {jax_rate:7.3f} steps/s ({1000 / jax_rate:7.1f} ms/step), compile {compile_s:.2f} s"
  )
  if rr:
    ref_rate = float(np.median(rr))
    print(f"reference {ref_rate:7.3f} steps/s ({1000 / ref_rate:7.1f} ms/step)")
    print(f"speed-up rvl_jax / reference: {jax_rate / ref_rate:.2f}x (goal >= 1.5x)")


if __name__ == "__main__":
  app.run(main)
