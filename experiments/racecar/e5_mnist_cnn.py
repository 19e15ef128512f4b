"""E5 - MNIST CNN classification and n-MNIST-like transfer (the racecar paper, Sec. 5), two-stage protocol.

Stage 1 (with regulariser, `*_mni`): Std / Ort / RR on MNIST with the 3-conv CNN (all conv layers in the
full racecar loss with BN shift-by-one and max-pool <-> UP, output ReLU on d'_1; the FC head excluded).
Stage 2 (no regulariser): fine-tune on MNIST (`*_MNI`) and on the n-MNIST-like motion-blurred digits
(`*_n-MNI`); baseline `Std_n-MNI-fs` trained from scratch. Also reports s/step of stage 1 and the
reverse-pass reconstructions d'_1 (Fig. 19) with their relative error on 64 test digits, twice: in
eval mode (BN normalises the reverse tensors with the FORWARD tensors' running statistics, which the
loss never saw) and with BN on the batch's own statistics, as in training (`_batch_stats`; plotted).
"""

from __future__ import annotations

import dataclasses
import os

import jax.numpy as jnp
import numpy as np

from rvl_jax.core import experiment, prng, seeds
from rvl_jax.data import mnist
from rvl_jax.racecar import analysis, data, models, protocol
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig, apply_chain, auto_lambda


def train_and_evaluate(c, workdir: str) -> dict:
  m = mnist.load_mnist(c.data_source, c.data_dir or None, c.test_fraction, c.seed)
  xtr, ytr_i = m.train_images, m.train_labels
  if c.max_train:
    xtr, ytr_i = xtr[: c.max_train], ytr_i[: c.max_train]
  xte = m.test_images
  ytr, yte = np.eye(10, dtype=np.float32)[ytr_i], np.eye(10, dtype=np.float32)[m.test_labels]
  btr = data.motion_blur(xtr, c.blur_length, c.blur_angle)
  bte = data.motion_blur(xte, c.blur_length, c.blur_angle)
  model = models.mnist_cnn(tuple(c.channels))
  tx = protocol.make_optimizer(c.optimizer, c.learning_rate)
  loop_args = {"log_every": c.log_every, "checkpoint_every": c.checkpoint_every}
  pd = experiment.plots_dir(workdir)
  results = {
    "data_source": m.source,
    "num_train": len(xtr),
    "num_test": len(xte),
    "n_mnist_note": "n-MNIST-like motion blur (approximate parameters), not the real n-MNIST",
  }
  analysis.plot_images(
    np.concatenate([xte[:5], bte[:5]]),
    os.path.join(pd, "mnist_vs_nmnist_like.png"),
    title="MNIST (top) and n-MNIST-like (bottom)",
  )
  std = RegConfig("std")
  recon_rows, recon_titles = [], []
  for method in c.methods:
    for seed in c.seeds:
      reg = RegConfig(method, **c.reg)
      st = protocol.create_state(
        model, xtr[:2], prng.stream_key(seed, "model"), tx, reverse=ReverseConfig()
      )
      get = protocol.minibatches(xtr, ytr, c.batch_size, seed, "mni")
      if method in ("rr", "lrr", "rr1") and c.lam_auto:
        lam = auto_lambda(st, reg, get(0), scale=c.lam_auto_scale)
        reg = dataclasses.replace(reg, lam=lam)
        results[f"{seeds.seed_key(method, seed)}/lambda"] = lam
      name = seeds.seed_key(f"{method}_mni", seed)
      r = protocol.run_phase(st, reg, get, c.num_steps, workdir, name, **loop_args)
      results[f"{name}/sec_per_step"] = protocol.sec_per_step(r)
      results[f"{name}/test_acc"] = protocol.evaluate(r.state, xte, yte)
      st1 = r.state
      rev = ReverseConfig(output_activation=reg.output_activation)
      o, _ = apply_chain(st1, st1.params, jnp.asarray(xte[:64]), False, rev)
      results[f"{name}/recon_rel_error"] = analysis.relative_error(o.recons[0], xte[:64])
      # as the loss sees it: BN on the 64 digits' own batch statistics (running ones untouched)
      ob, _ = apply_chain(st1, st1.params, jnp.asarray(xte[:64]), True, rev)
      results[f"{name}/recon_rel_error_batch_stats"] = analysis.relative_error(
        ob.recons[0], xte[:64]
      )
      if seed == c.seeds[0]:
        recon_rows.append(np.asarray(ob.recons[0][:6]))
        recon_titles += [f"{method}"] * 6
      for task, (xa, ya, xb, yb) in (
        ("MNI", (xtr, ytr, xte, yte)),
        ("n-MNI", (btr, ytr, bte, yte)),
      ):
        name = seeds.seed_key(f"{method}_{task}", seed)
        r2 = protocol.run_phase(
          protocol.restart(st1),
          std,
          protocol.minibatches(xa, ya, c.batch_size, seed, task),
          c.finetune_steps,
          workdir,
          name,
          **loop_args,
        )
        results[f"{name}/test_acc"] = protocol.evaluate(r2.state, xb, yb)
  for seed in c.seeds:
    name = seeds.seed_key("std_n-MNI-fs", seed)
    st = protocol.create_state(model, xtr[:2], prng.stream_key(seed, "model/std_n-MNI-fs"), tx)
    r = protocol.run_phase(
      st,
      std,
      protocol.minibatches(btr, ytr, c.batch_size, seed, "n-MNI"),
      c.num_steps + c.finetune_steps,
      workdir,
      name,
      **loop_args,
    )
    results[f"{name}/test_acc"] = protocol.evaluate(r.state, bte, yte)
  results.update(seeds.aggregate_over_seeds(results))
  if "std" in c.methods and "rr" in c.methods:
    results["rr_over_std_sec_per_step"] = (
      results["rr_mni/sec_per_step_mean"] / results["std_mni/sec_per_step_mean"]
    )
  analysis.plot_images(
    np.concatenate([xte[:6]] + recon_rows),
    os.path.join(pd, "reconstructions_d1.png"),
    ["d1"] * 6 + recon_titles,
    "E5: test digits and the reverse-pass d'_1 per method",
  )
  return results
