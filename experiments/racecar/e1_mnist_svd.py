"""E1 - MNIST two-image SVD test (Xie & Thuerey, Sec. 3 and appendix A.3; Fig. 3a, 11, 13).

One dense layer 784 -> 10 trained on two raw (0-255) digits with Std, Ort (SRIP) and RR; then the SVD of
the first-layer kernel over ALL singular vectors with their sigma, the LPIPS-substitute similarities
(|cos|, subspace capture; labelled as substitutes), and the reverse-pass reconstruction d'_1.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from rvl_jax.core import experiment, prng
from rvl_jax.racecar import analysis, data, protocol
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, dense_spec
from rvl_jax.racecar.training import RegConfig, apply_chain


def load_pair(c, pair):
  if c.data_file:
    d = np.load(c.data_file)
    names = [str(n) for n in d["names"]]
    a, b = pair if pair is not None else (0, 1)
    get = lambda s: d["images"][names.index(s)].astype(np.float32)
    return {
      "train_images": np.stack([get(f"{a}.png"), get(f"{b}.png")]),
      "test_images": np.stack([get(f"{a}_test.png"), get(f"{b}_test.png")]),
      "train_labels": np.array([a, b]),
      "test_labels": np.array([a, b]),
    }
  return data.mnist_pair(None if pair is None or pair < 0 else int(pair))


def run_pair(c, workdir, tag, pair):
  d = load_pair(c, pair)
  x = d["train_images"].reshape(2, -1) * c.input_scale
  y = np.eye(10, dtype=np.float32)[d["train_labels"]]
  model = RacecarChain((dense_spec(10, activation=None),))
  out = {}
  for method in c.methods:
    st = protocol.create_state(
      model,
      x,
      prng.stream_key(c.seed, "model"),
      protocol.make_optimizer(c.optimizer, c.learning_rate),
      reverse=ReverseConfig(),
    )
    res = protocol.run_phase(
      st,
      RegConfig(method, **c.reg),
      protocol.full_batch(x, y),
      c.num_steps,
      workdir,
      f"{tag}_{method}",
      log_every=c.log_every,
      checkpoint_every=c.checkpoint_every,
    )
    st = res.state
    k = np.asarray(st.params["layer1"]["kernel"])
    rep = analysis.svd_report(k, x, k=2, near_one_tol=c.near_one_tol)
    o, _ = apply_chain(st, st.params, jnp.asarray(x), False, ReverseConfig())
    rec = np.asarray(o.recons[0])
    vecs, sig = analysis.first_layer_svd(k)
    pd = experiment.plots_dir(workdir)
    analysis.plot_vectors(
      vecs,
      sig,
      os.path.join(pd, f"{tag}_{method}_singular_vectors.png"),
      max_show=10,
      title=f"E1 {method}: all 10 right singular vectors of M1 (sigma)",
    )
    analysis.plot_images(
      np.concatenate([x, rec]).reshape(-1, 28, 28),
      os.path.join(pd, f"{tag}_{method}_reconstruction.png"),
      ["d1", "d1", "d'1", "d'1"],
      f"E1 {method}: reverse pass d'_1",
    )
    out[method] = {
      "sigma": rep["sigma"].tolist(),
      "num_sigma_near_one": rep["num_sigma_near_one"],
      "best_cos_per_image_near_one": rep["best_cos_per_image_near_one"].tolist(),
      "best_cos_per_image_all": rep["best_cos_per_image_all"].tolist(),
      "max_cos_all_vectors": float(rep["max_cos_all"].max()),
      "recon_rel_error": analysis.relative_error(rec, x),
      "train_accuracy": float(np.mean(np.argmax(np.asarray(o.out), -1) == d["train_labels"])),
    }
  return out


def train_and_evaluate(c, workdir: str) -> dict:
  results = {"similarity_note": analysis.SUBSTITUTE_NOTE}
  per = {m: [] for m in c.methods}
  for i, pair in enumerate(c.pairs):
    tag = f"pair{i}"
    r = run_pair(c, workdir, tag, None if pair is None else pair)
    results[tag] = r
    for m in c.methods:
      per[m].append(r[m])
  for m in c.methods:
    rows = per[m]
    results[f"{m}/best_cos_near_one_min"] = float(
      np.min([min(r["best_cos_per_image_near_one"]) for r in rows])
    )
    results[f"{m}/best_cos_near_one_mean"] = float(
      np.mean([np.mean(r["best_cos_per_image_near_one"]) for r in rows])
    )
    results[f"{m}/max_cos_all_vectors_max"] = float(
      np.max([r["max_cos_all_vectors"] for r in rows])
    )
    results[f"{m}/num_sigma_near_one_mean"] = float(
      np.mean([r["num_sigma_near_one"] for r in rows])
    )
    results[f"{m}/recon_rel_error_mean"] = float(np.mean([r["recon_rel_error"] for r in rows]))
    results[f"{m}/recon_rel_error_max"] = float(np.max([r["recon_rel_error"] for r in rows]))
  return results
