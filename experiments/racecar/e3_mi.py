"""E3 - MI planes and the fine-tune A / transfer B protocol on the 12-bit sphere task (Xie & Thuerey,
Sec. 4 and appendix B.1; Fig. 4, 5, 17; Tab. 1, 2, 26).

Phase 1 (task A, with regulariser): Std_A, Ort_A, RR_A (full), RR1_A, lRR_A on a 12-10-7-5-4-3-2 tanh MLP
with a softmax output (the reverse pass starts from the output probabilities by default). MI planes of
the 6 layers on all 4096 patterns (30 bins). Phase 2 (no regulariser): fine-tune every model on A
(-> *_AA) and on B = swapped labels (-> *_AB); Std_B is trained from scratch on B.
"""

from __future__ import annotations

import dataclasses
import os

import jax.numpy as jnp
import numpy as np

from rvl_jax.core import experiment, prng
from rvl_jax.racecar import data, mi, models, protocol
from rvl_jax.racecar.layers import ReverseConfig
from rvl_jax.racecar.training import RegConfig, apply_chain, auto_lambda


def layer_activations(state, x):
  out, _ = apply_chain(state, state.params, jnp.asarray(x), False, None)
  return [np.asarray(d) for d in out.ds[1:]]


def accuracy(state, x, y):
  acts = layer_activations(state, x)
  return float(np.mean(np.argmax(acts[-1], -1) == np.argmax(y, -1)))


def train_and_evaluate(c, workdir: str) -> dict:
  d = data.sphere_task(split_seed=c.split_seed)
  x, ya, yb = d["x"], d["y_onehot"], d["y_onehot_b"]
  tr, te = d["train_idx"], d["test_idx"]
  model = models.mi_mlp(tuple(c.widths), c.activation)
  tx = protocol.make_optimizer(c.optimizer, c.learning_rate)
  loop_args = {
    "log_every": c.log_every,
    "checkpoint_every": c.checkpoint_every,
    "logits_from": "linear",
    "epoch_scan": True,
  }
  pd = experiment.plots_dir(workdir)
  results = {"H_Y": mi.entropy_bits(d["y"])}
  names = {"std": "Std", "ort": "Ort", "rr": "RR", "rr1": "RR1", "lrr": "lRR"}
  per_seed = []
  for seed in c.seeds:
    planes, res = {}, {}
    states = {}
    for method in c.methods:
      reg = RegConfig(method, **c.reg)
      st = protocol.create_state(
        model, x[:2], prng.stream_key(seed, "model"), tx, reverse=ReverseConfig()
      )
      if method in ("rr", "rr1", "lrr") and c.lam_auto:
        # lambda * L_racecar = lam_auto_scale * task loss at initialisation
        lam = auto_lambda(
          st,
          reg,
          {"x": x[tr][: c.batch_size], "y": ya[tr][: c.batch_size]},
          logits_from="linear",
          scale=c.lam_auto_scale,
        )
        reg = dataclasses.replace(reg, lam=lam)
        res[f"{method}_A/lam"] = lam
      r = protocol.run_phase(
        st,
        reg,
        protocol.epoch_stacks(x[tr], ya[tr], c.batch_size, seed, "A"),
        c.epochs,
        workdir,
        f"s{seed}_{method}_A",
        **loop_args,
      )
      states[method] = r.state
      ix, iy = mi.mi_plane(layer_activations(r.state, x), d["y"])
      planes[f"{names[method]}_A"] = (ix, iy)
      res[f"{method}_A/I_XD"] = ix.tolist()
      res[f"{method}_A/I_DY"] = iy.tolist()
      res[f"{method}_A/test_acc"] = accuracy(r.state, x[te], ya[te])
    mi.plot_mi_planes(
      planes,
      os.path.join(pd, f"mi_plane_A_s{seed}.png"),
      f"MI planes, task A (seed {seed})",
      results["H_Y"],
    )
    if c.finetune_epochs > 0:
      std = RegConfig("std")
      for method in c.methods:
        for task, yy in (("A", ya), ("B", yb)):
          r = protocol.run_phase(
            protocol.restart(states[method]),
            std,
            protocol.epoch_stacks(x[tr], yy[tr], c.batch_size, seed, task),
            c.finetune_epochs,
            workdir,
            f"s{seed}_{method}_A{task}",
            **loop_args,
          )
          res[f"{method}_A{task}/test_acc"] = accuracy(r.state, x[te], yy[te])
      st = protocol.create_state(model, x[:2], prng.stream_key(seed, "model/std_B"), tx)
      r = protocol.run_phase(
        st,
        std,
        protocol.epoch_stacks(x[tr], yb[tr], c.batch_size, seed, "B"),
        c.epochs + c.finetune_epochs,
        workdir,
        f"s{seed}_std_B",
        **loop_args,
      )
      res["std_B/test_acc"] = accuracy(r.state, x[te], yb[te])
    results[f"seed{seed}"] = res
    per_seed.append(res)
  for key in per_seed[0]:
    vals = np.array([r[key] for r in per_seed], np.float64)
    results[f"{key}_mean"] = vals.mean(0).tolist()
    results[f"{key}_std"] = vals.std(0).tolist()
  mean_planes = {
    f"{names[m]}_A": (np.array(results[f"{m}_A/I_XD_mean"]), np.array(results[f"{m}_A/I_DY_mean"]))
    for m in c.methods
  }
  mi.plot_mi_planes(
    mean_planes,
    os.path.join(pd, "mi_plane_A_mean.png"),
    f"MI planes, task A (mean of {len(c.seeds)} seeds)",
    results["H_Y"],
  )
  if c.finetune_epochs > 0:
    ab = {m: results[f"{m}_AB/test_acc_mean"] for m in c.methods}
    ab["std_B"] = results["std_B/test_acc_mean"]
    results["best_transfer_model"] = max(ab, key=ab.get)
    results["rr_AB_is_best"] = bool(results["best_transfer_model"] == "rr")
    _plot_transfer(results, c, os.path.join(pd, "transfer_B.png"))
  if "rr" in c.methods:
    results["rr_A/I_XD_in_2_7"] = bool(all(2 <= v <= 7 for v in results["rr_A/I_XD_mean"]))
    results["rr_A/I_DY_below_0.8"] = bool(all(v < 0.8 for v in results["rr_A/I_DY_mean"]))
  return results


def _plot_transfer(results, c, path):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from rvl_jax.core.io import save_figure

  keys = [f"{m}_AB" for m in c.methods] + ["std_B"]
  means = [results[f"{k}/test_acc_mean"] for k in keys]
  stds = [results[f"{k}/test_acc_std"] for k in keys]
  fig, ax = plt.subplots(figsize=(5, 3))
  ax.bar(range(len(keys)), means, yerr=stds, color=["C%d" % i for i in range(len(keys))])
  ax.set_xticks(range(len(keys)))
  ax.set_xticklabels(keys, fontsize=8)
  ax.set_ylim(min(means) - 0.05, 1.0)
  ax.set_ylabel("test accuracy on B")
  ax.set_title(f"transfer to B ({len(c.seeds)} seeds)")
  save_figure(fig, path)
