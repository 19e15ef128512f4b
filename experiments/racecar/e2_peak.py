"""E2 - peak test (Xie & Thuerey, Sec. 3 and appendix A.3; Fig. 3b, 14-16): Std / Ort / RR on the peak data with the three architectures
of Fig. 15: (a) 784->2 linear, (b) 784->2 + BN + ReLU, (c) the reference code's 784->128->2 with BN+ReLU
on both layers (default). Reports the top-k subspace capture of the clean peak stamps, top-1 |cos| with
the training images (LPIPS substitutes), all singular values, test accuracy and d'_1 reconstructions.
The SVD analysis uses the parameters at ``analysis_step`` (4900 of 5000, as the reference's script)."""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from rvl_jax.core import experiment, prng, seeds
from rvl_jax.racecar import analysis, data, protocol
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, dense_spec
from rvl_jax.racecar.training import RegConfig, apply_chain

ARCHS = {
  "a": (dense_spec(2, activation=None),),
  "b": (dense_spec(2, activation="relu", norm="bn"),),
  "c": (dense_spec(128, activation="relu", norm="bn"), dense_spec(2, activation="relu", norm="bn")),
}


def load_data(c):
  if c.data_file:
    d = np.load(c.data_file)
    return data.peak_from_arrays(d["images"], d["labels"], d["index"]), "file"
  return data.peak_dataset(seed=c.data_seed, length_range=tuple(c.stroke_length)), "generated"


def train_and_evaluate(c, workdir: str) -> dict:
  d, source = load_data(c)
  x = d["train_images"].reshape(len(d["train_images"]), -1) * c.input_scale
  xt = d["test_images"].reshape(len(d["test_images"]), -1) * c.input_scale
  results = {"data_source": source, "similarity_note": analysis.SUBSTITUTE_NOTE}
  pd = experiment.plots_dir(workdir)
  analysis.plot_images(
    d["train_images"][::10], os.path.join(pd, "peak_data.png"), title="peak training data"
  )
  for arch in c.archs:
    model = RacecarChain(ARCHS[arch])
    for method in c.methods:
      for seed in c.seeds:
        tag = seeds.seed_key(f"{arch}_{method}", seed)
        reg = RegConfig(method, **c.reg)
        st = protocol.create_state(
          model,
          x,
          prng.stream_key(seed, "model"),
          protocol.make_optimizer(c.optimizer, c.learning_rate),
          reverse=ReverseConfig(),
        )
        batches = protocol.full_batch(x, d["train_labels"])
        svd_step = min(c.analysis_step or c.num_steps, c.num_steps)
        loop_args = {"log_every": c.log_every, "checkpoint_every": c.checkpoint_every}
        st = protocol.run_phase(st, reg, batches, svd_step, workdir, tag, **loop_args).state
        k = np.asarray(st.params["layer1"]["kernel"])  # first layer at the analysis step
        if svd_step < c.num_steps:
          st = protocol.run_phase(st, reg, batches, c.num_steps, workdir, tag, **loop_args).state
        vecs, sig = analysis.first_layer_svd(k)
        kk = min(c.top_k, len(sig))
        cap = [analysis.subspace_capture(vecs[:kk], t) for t in d["templates"]]
        mc = analysis.max_cos(vecs[:1], x)[0]
        o, _ = apply_chain(st, st.params, jnp.asarray(xt), False, ReverseConfig())
        acc = float(np.mean(np.argmax(np.asarray(o.out), -1) == np.argmax(d["test_labels"], -1)))
        rec = np.asarray(o.recons[0])
        results[tag] = {
          "capture_peak0": cap[0],
          "capture_peak1": cap[1],
          "top1_max_cos": float(mc),
          "sigma_top5": sig[:5].tolist(),
          "test_accuracy": acc,
          "recon_rel_error": analysis.relative_error(rec, xt),
        }
        if seed == c.seeds[0]:
          analysis.plot_vectors(
            vecs,
            sig,
            os.path.join(pd, f"{arch}_{method}_singular_vectors.png"),
            max_show=min(10, len(sig)),
            title=f"E2 ({arch}) {method}: top singular vectors",
          )
          analysis.plot_images(
            np.concatenate([xt[:3], xt[-3:], rec[:3], rec[-3:]]).reshape(-1, 28, 28),
            os.path.join(pd, f"{arch}_{method}_reconstruction.png"),
            ["d1"] * 6 + ["d'1"] * 6,
            f"E2 ({arch}) {method}: test d1 / d'1",
          )
      rows = [results[seeds.seed_key(f"{arch}_{method}", s)] for s in c.seeds]
      caps = np.array([[r["capture_peak0"], r["capture_peak1"]] for r in rows])
      results[f"{arch}/{method}/capture_min_mean"] = float(caps.min(1).mean())
      results[f"{arch}/{method}/capture_mean"] = caps.mean(0).tolist()
      results[f"{arch}/{method}/capture_std"] = caps.std(0).tolist()
      results[f"{arch}/{method}/top1_max_cos_mean"] = float(
        np.mean([r["top1_max_cos"] for r in rows])
      )
      results[f"{arch}/{method}/test_accuracy_mean"] = float(
        np.mean([r["test_accuracy"] for r in rows])
      )
      results[f"{arch}/{method}/recon_rel_error_mean"] = float(
        np.mean([r["recon_rel_error"] for r in rows])
      )
    if {"rr", "std", "ort"} <= set(c.methods):
      rr = np.array(results[f"{arch}/rr/capture_mean"])
      base = np.maximum(
        np.array(results[f"{arch}/std/capture_mean"]), np.array(results[f"{arch}/ort/capture_mean"])
      )
      results[f"{arch}/rr_over_best_baseline_min"] = float((rr / base).min())
  return results
