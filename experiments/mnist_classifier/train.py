"""The worked example every system's experiment copies: config -> data -> model -> loop -> results.

    results = train_and_evaluate(config, workdir)

1. data: `rvl_jax.data.load_mnist` (tfds when prepared, else the bundled real 5,000 digits);
2. model + optax optimizer in a `TrainState`;
3. a pure `train_step(state, batch) -> (state, metrics)`; the loop jits and shards it;
4. `get_batch(step)`: a deterministic function of the step (resumable);
5. `loop.train` (checkpoints, metrics, progress, NaN stop), evaluation with `batched_apply`;
6. plots into workdir/plots, a flat results dict (written to results.json by `experiment.launch`).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optax

from rvl_jax.core import batched, experiment, loop, metrics, nets, train_state
from rvl_jax.core import io as rio
from rvl_jax.data import batching, mnist


def create_state(config, rng: jax.Array) -> train_state.TrainState:
  model = nets.ConvNet(channels=tuple(config.channels), hidden=config.hidden)
  params = model.init(rng, jnp.zeros((1, 28, 28, 1), jnp.float32))["params"]
  return train_state.TrainState.create(
    apply_fn=model.apply, params=params, tx=optax.adam(config.learning_rate), rng=rng
  )


def train_step(state: train_state.TrainState, batch):
  def loss_fn(params):
    logits = state.apply_fn({"params": params}, batch["image"])
    return metrics.cross_entropy(logits, batch["label"]), logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  return state.apply_gradients(grads), {
    "loss": loss,
    "accuracy": metrics.accuracy(logits, batch["label"]),
  }


def predict(state: train_state.TrainState, images: np.ndarray, batch_size: int) -> np.ndarray:
  logits_fn = jax.jit(lambda x: state.apply_fn({"params": state.params}, x))
  return batched.batched_apply(logits_fn, images, batch_size)


def train_and_evaluate(config, workdir: str) -> dict:
  data = mnist.load_mnist(
    config.data_source, config.data_dir or None, config.test_fraction, config.seed
  )
  state = create_state(config, jax.random.PRNGKey(config.seed))
  n = len(data.train_labels)

  def get_batch(step: int):
    idx = batching.sample_batch_indices(config.seed, step, n, config.batch_size)
    return {"image": data.train_images[idx], "label": data.train_labels[idx]}

  def eval_fn(state, step):
    del step
    logits = predict(state, data.test_images, config.eval_batch_size)
    return {"test_accuracy": float(np.mean(logits.argmax(-1) == data.test_labels))}

  result = loop.train(
    state=state,
    train_step=train_step,
    get_batch=get_batch,
    num_steps=config.num_steps,
    workdir=workdir,
    eval_fn=eval_fn,
    eval_every=config.eval_every,
    log_every=config.log_every,
    checkpoint_every=config.checkpoint_every,
    desc="mnist",
  )
  logits = predict(result.state, data.test_images, config.eval_batch_size)
  plot_training(result.history, os.path.join(experiment.plots_dir(workdir), "training.png"))
  plot_predictions(
    data.test_images[:16],
    logits[:16].argmax(-1),
    data.test_labels[:16],
    os.path.join(experiment.plots_dir(workdir), "predictions.png"),
  )
  return {
    "test_accuracy": float(np.mean(logits.argmax(-1) == data.test_labels)),
    "train_loss": result.metrics.get("loss", float("nan")),
    "num_train": n,
    "num_test": len(data.test_labels),
    "data_source": data.source,
    "steps": config.num_steps,
    "steps_per_second": result.steps_per_second,
    "compile_seconds": result.compile_seconds,
  }


def plot_training(history, path: str) -> str:
  rows = [r for r in history if "loss" in r]
  fig, ax = plt.subplots(figsize=(5, 3))
  ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train loss")
  evals = [r for r in history if "eval/test_accuracy" in r]
  if evals:
    ax2 = ax.twinx()
    ax2.plot(
      [r["step"] for r in evals],
      [r["eval/test_accuracy"] for r in evals],
      "o-",
      color="C1",
      label="test accuracy",
    )
    ax2.set_ylabel("test accuracy")
  ax.set_xlabel("step")
  ax.set_ylabel("loss")
  ax.set_title("MNIST classifier")
  return rio.save_figure(fig, path)


def plot_predictions(images, predicted, labels, path: str) -> str:
  fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
  for ax, image, p, y in zip(axes.ravel(), images, predicted, labels):
    ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{p}" + ("" if p == y else f" ({y})"), color="k" if p == y else "r", fontsize=9)
    ax.axis("off")
  return rio.save_figure(fig, path)
