"""Training and evaluation throughput of the benchmark's supervised models on 64x64 inputs.

Prints, per model: compile time of the train step, training steps/s at batch 64 (the
benchmark's protocol: sum-over-factors MSE, Adam), compile time of the evaluation forward
pass and evaluation images/s (batch 512), plus the procedural dSprites rendering rate; and
ratios against the CNN measured in the same run.

    python -m experiments.speed.benchmark_train_step --models=cnn,resnet50 --steps=20
"""

from __future__ import annotations

import time

import jax
import numpy as np
from absl import app, flags

from rvl_jax.benchmark import data, models
from rvl_jax.benchmark import train as btrain

flags.DEFINE_string("models", "cnn,resnet50", "comma-separated benchmark model names")
flags.DEFINE_integer("channels", 1, "1 (dSprites) or 3")
flags.DEFINE_integer("steps", 20, "timed training steps per model")
flags.DEFINE_integer("eval_batches", 3, "timed evaluation batches of 512 per model")
flags.DEFINE_string("json", "", "optional path for the figures as JSON")


def bench_model(name, channels, n_factors, steps, eval_batches, batch=64, eval_batch=512, seed=0):
  model = models.make_model(name, n_factors)
  state = btrain.init_state(model, (64, 64, channels), seed=seed, lr=models.DEFAULT_LR[name])
  rng = np.random.default_rng(seed)
  x = rng.random((batch, 64, 64, channels), dtype=np.float32)
  y = rng.random((batch, n_factors), dtype=np.float32)
  step = jax.jit(btrain.supervised_train_step, donate_argnums=(0,))
  t0 = time.perf_counter()
  state, m = step(state, {"image": x, "target": y})
  jax.block_until_ready(m)
  compile_train = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(steps):
    state, m = step(state, {"image": x, "target": y})
  jax.block_until_ready(m)
  steps_per_s = steps / (time.perf_counter() - t0)
  fwd = jax.jit(lambda v, im: state.apply_fn(v, im, train=False))
  xe = rng.random((eval_batch, 64, 64, channels), dtype=np.float32)
  variables = state.variables()
  t0 = time.perf_counter()
  jax.block_until_ready(fwd(variables, xe))
  compile_eval = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(eval_batches):
    out = fwd(variables, xe)
  jax.block_until_ready(out)
  images_per_s = eval_batches * eval_batch / (time.perf_counter() - t0)
  n_params = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(state.params))
  return dict(
    model=name,
    params=n_params,
    train_compile_s=compile_train,
    train_steps_per_s=steps_per_s,
    eval_compile_s=compile_eval,
    eval_images_per_s=images_per_s,
  )


def main(argv):
  del argv
  args = flags.FLAGS
  print(f"devices: {jax.devices()}")
  ds = data.make_dataset("dsprites", "random", "train")
  ds.images(np.arange(64))
  t0 = time.perf_counter()
  for i in range(10):
    ds.images(np.arange(64) + 64 * i)
  render_rate = 640 / (time.perf_counter() - t0)
  print(
    f"procedural dSprites rendering: {render_rate:,.0f} images/s ({64 / render_rate * 1e3:.1f} ms per batch of 64)"
  )
  rows = []
  for name in args.models.split(","):
    r = bench_model(name, args.channels, 5, args.steps, args.eval_batches)
    rows.append(r)
    print(
      f"{name:>12}: {r['params']:>10,d} params | train step (batch 64): compile {r['train_compile_s']:.1f} s, "
      f"{r['train_steps_per_s']:.2f} steps/s | eval (batch 512): compile {r['eval_compile_s']:.1f} s, "
      f"{r['eval_images_per_s']:,.0f} images/s"
    )
  base = next((r for r in rows if r["model"] == "cnn"), rows[0])
  for r in rows:
    if r is not base:
      print(
        f"{r['model']} vs {base['model']}: train {r['train_steps_per_s'] / base['train_steps_per_s']:.3f}x, "
        f"eval {r['eval_images_per_s'] / base['eval_images_per_s']:.3f}x"
      )
  if args.json:
    from rvl_jax.core import io as rio

    rio.write_json(args.json, {"render_images_per_s": render_rate, "models": rows})


if __name__ == "__main__":
  app.run(main)
