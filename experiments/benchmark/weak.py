"""Representation-learning rows: train beta-VAE / Ada-GVAE / SlowVAE / PCL on the train split
(objectives from rvl_jax.slowvae), select the hyper-parameter by DCI on the train split,
fit the frozen-code readout MLP and evaluate it on the test split."""

from __future__ import annotations

import os

from experiments.benchmark import train as benchmark_train
from rvl_jax import benchmark as bench
from rvl_jax.benchmark import weak


def train_and_evaluate(config, workdir: str) -> dict:
  train_ds = bench.make_dataset(
    config.dataset, config.split, "train", data_dir=config.data_dir or None, source=config.source
  )
  values = [float(v) for v in str(config.sweep_values).split(",") if v.strip()]
  candidates = []
  for v in values:
    kw = {config.sweep_param: v} if config.sweep_param else {}
    wm = weak.train_representation(
      config.method,
      train_ds,
      num_steps=config.num_steps,
      batch_size=config.batch_size,
      lr=config.lr,
      seed=config.seed,
      workdir=os.path.join(workdir, f"{config.method}_{config.sweep_param}{v}"),
      log_every=config.log_every,
      **kw,
    )
    d = weak.dci_on_train(wm.representation_fn, train_ds, n=config.dci_points)
    candidates.append({"value": v, "dci": d["disentanglement"], "model": wm})
  best = candidates[weak.select_by_dci(candidates)]
  model_fn = weak.fit_readout(
    best["model"].representation_fn,
    train_ds,
    max_train=config.readout_train,
    epochs=config.readout_epochs,
    seed=config.seed,
  )
  res = dict(
    benchmark_train.run_keys(config, config.method),
    selected_value=best["value"],
    selected_dci=best["dci"],
  )
  for c in candidates:
    res[f"dci/{config.sweep_param}{c['value']}"] = c["dci"]
  for mode, n in (("test", config.eval_test), ("train", config.eval_train)):
    loader = bench.load_dataset(
      config.dataset,
      config.split,
      mode,
      data_dir=config.data_dir or None,
      batch_size=512,
      shuffle=False,
      seed=config.eval_seed,
      max_samples=n or None,
      source=config.source,
    )
    res.update({f"{mode}/{k}": v for k, v in bench.evaluate_model(model_fn, loader).items()})
  return res
