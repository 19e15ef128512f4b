"""Train one supervised model on one split and evaluate it (results.json, predictions, plots)."""

from __future__ import annotations

import os
import time

import numpy as np

from rvl_jax import benchmark as bench
from rvl_jax.benchmark import analysis, models, report
from rvl_jax.benchmark import train as btrain
from rvl_jax.core import experiment, prng
from rvl_jax.core import io as rio


def _init_variables(config, model, image_shape):
  if not config.init_weights:
    return None
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  variables = model.init(prng.stream_key(config.seed, "init"), jnp.zeros((1,) + tuple(image_shape)))
  weights = dict(np.load(config.init_weights))
  if config.model.startswith("resnet"):
    return {"params": models.load_bit_npz(config.init_weights, variables["params"])}
  if config.model == "densenet121":
    return models.load_torchvision_densenet(weights, variables)
  if config.model == "cnn":
    return {"params": models.load_torch_cnn(weights, variables["params"])}
  raise ValueError(f"config.init_weights: no weight loader for model {config.model!r}")


def evaluate(config, predict_fn, mode):
  n = config.eval_test if mode == "test" else config.eval_train
  loader = bench.load_dataset(
    config.dataset,
    config.split,
    mode,
    data_dir=config.data_dir or None,
    batch_size=config.eval_batch,
    shuffle=False,
    seed=config.eval_seed,
    max_samples=(n or None),
    source=config.source,
    split_seed=config.split_seed,
    celeb_variant=config.celeb_variant,
  )
  return bench.evaluate_model(predict_fn, loader, return_predictions=True)


def split_analyses(config, grid_indices, predictions) -> dict:
  """The analyses of Schott et al. 2022, Sec. 5.2-5.3 for one run (on interpolation / extrapolation
  splits)."""
  if config.split not in ("interpolation", "extrapolation"):
    return {}
  kw = dict(seed=config.split_seed) if config.split == "random" else {}
  out = {
    f"modularity/{k}": v
    for k, v in analysis.modularity(
      config.dataset, config.split, grid_indices, predictions, **kw
    ).items()
  }
  ratios = analysis.mean_ratios(config.dataset, config.split, grid_indices, predictions)
  out.update({f"towards_mean/{k}": v for k, v in analysis.ratio_summary(ratios).items()})
  e = analysis.ood_errors(config.dataset, config.split, grid_indices, predictions)
  out["errors/rho_e_yood"] = analysis.pearson(e["error"], e["truth"])
  out["errors/rho_e_yood_minus_mean"] = analysis.pearson(e["error"], e["truth"] - e["train_mean"])
  return out


def run_keys(config, model: str) -> dict:
  """What names a benchmark run in its results (the sweep's tables group runs by these)."""
  return dict(
    dataset=config.dataset,
    split=config.split,
    model=model,
    seed=config.seed,
    iterations=config.num_steps,
  )


def train_and_evaluate(config, workdir: str) -> dict:
  t_start = time.time()
  train_ds = bench.make_dataset(
    config.dataset,
    config.split,
    "train",
    data_dir=config.data_dir or None,
    source=config.source,
    split_seed=config.split_seed,
    celeb_variant=config.celeb_variant,
  )
  n_factors = len(train_ds.factor_sizes)
  model = models.make_model(config.model, n_factors)
  lr = config.lr or models.DEFAULT_LR[config.model]
  init_vars = _init_variables(config, model, train_ds.image_shape)
  batches = None
  if config.input_pipeline and train_ds.source in ("split_files", "grid"):
    batches = btrain.make_batches(
      train_ds,
      config.batch_size,
      config.seed,
      config.augment,
      config.worker_count,
      config.num_threads,
    )
  result = btrain.supervised(
    model,
    train_ds,
    num_steps=config.num_steps,
    batch_size=config.batch_size,
    lr=lr,
    seed=config.seed,
    workdir=os.path.join(workdir, "train"),
    log_every=config.log_every,
    checkpoint_every=config.checkpoint_every,
    init_variables=init_vars,
    augment=config.augment,
    desc=f"{config.model}/{config.dataset}/{config.split}/s{config.seed}",
    batches=batches,
  )
  if batches is not None:
    batches.close()
  predict_fn = btrain.make_predict_fn(result.state, batch_size=config.eval_batch)
  t_eval = time.time()
  test_scores, test_pred = evaluate(config, predict_fn, "test")
  train_scores, train_pred = evaluate(config, predict_fn, "train")
  eval_seconds = time.time() - t_eval
  res = dict(
    run_keys(config, config.model),
    lr=lr,
    source=train_ds.source,
    n_train=len(train_ds),
    n_eval_test=len(test_pred["predictions"]),
    n_eval_train=len(train_pred["predictions"]),
  )
  res.update({f"test/{k}": v for k, v in test_scores.items()})
  res.update({f"train/{k}": v for k, v in train_scores.items()})
  res.update(split_analyses(config, test_pred["grid_indices"], test_pred["predictions"]))
  tr = result.train_result
  res.update(
    train_seconds=result.seconds,
    steps_per_second=tr.steps_per_second,
    compile_seconds=tr.compile_seconds,
    eval_seconds=eval_seconds,
    final_train_loss=tr.metrics.get("loss", float("nan")),
  )
  if config.save_predictions:
    rio.save_npz(
      os.path.join(workdir, "predictions.npz"),
      test_indices=test_pred["grid_indices"],
      test_predictions=test_pred["predictions"],
      train_indices=train_pred["grid_indices"],
      train_predictions=train_pred["predictions"],
    )
  if config.plots:
    pdir = experiment.plots_dir(workdir)
    title = f"{config.model} on {config.dataset} {config.split} (seed {config.seed})"
    rio.save_figure(
      report.plot_per_factor(res, train_ds.factor_names, title=title),
      os.path.join(pdir, "r2_per_factor.png"),
    )
    if config.split in ("interpolation", "extrapolation"):
      ood = analysis.ood_errors(
        config.dataset, config.split, test_pred["grid_indices"], test_pred["predictions"]
      )
      rio.save_figure(
        report.plot_extrapolation_scatter(ood, train_ds.factor_names, title),
        os.path.join(pdir, "ood_scatter.png"),
      )
      ratios = analysis.mean_ratios(
        config.dataset, config.split, test_pred["grid_indices"], test_pred["predictions"]
      )
      rio.save_figure(report.plot_ratio_hist(ratios, title), os.path.join(pdir, "mean_ratios.png"))
  res["total_seconds"] = time.time() - t_start
  return res
