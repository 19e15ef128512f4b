"""E4 - InfoGAN-style generator with RR1 on the latent codes (Xie & Thuerey, Sec. 4 and appendix B.2;
Fig. 1b, 18).

Generator input 74 = 10-way categorical c1 + c2, c3 ~ U(-1, 1) + 62 noise; generator FC 1024 -> FC 7*7*128
-> deconv 64 (4x4, s2) -> deconv 1 (4x4, s2) with BN+ReLU (a racecar chain; widths shrink in the CPU
default). Loss: non-saturating GAN only (no InfoGAN MI term) plus, for RR, the RR1 term of the generator's
full reverse pass restricted to the code dimensions with lambda(c1) = 1.33 lambda(c2) = 1.33 lambda(c3).
Reports how well the reverse pass recovers the codes and plots c1 x c2 / c1 x c3 traversals.
"""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import experiment, loop, prng, train_state
from rvl_jax.data import batching, mnist
from rvl_jax.racecar import analysis, losses
from rvl_jax.racecar.layers import LayerSpec, RacecarChain, ReverseConfig, dense_spec

ZDIM = 74


def generator(c) -> RacecarChain:
  h, s, ch = c.g_hidden, c.g_spatial_channels, c.g_deconv_channels
  return RacecarChain(
    (
      dense_spec(h, norm="bn"),
      dense_spec(7 * 7 * s, norm="bn"),
      LayerSpec("deconv", ch, (4, 4), (2, 2), "SAME", reshape_before=(7, 7, s), norm="bn"),
      LayerSpec("deconv", 1, (4, 4), (2, 2), "SAME", activation="sigmoid"),
    )
  )


class Discriminator(nn.Module):
  channels: tuple = (32, 64)
  hidden: int = 256

  @nn.compact
  def __call__(self, x):
    for ch in self.channels:
      x = nn.leaky_relu(nn.Conv(ch, (4, 4), (2, 2))(x), 0.2)
    x = nn.leaky_relu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)), 0.2)
    return nn.Dense(1)(x)[:, 0]


def sample_z(key, n):
  k1, k2, k3 = jax.random.split(key, 3)
  c1 = jax.nn.one_hot(jax.random.randint(k1, (n,), 0, 10), 10)
  c23 = jax.random.uniform(k2, (n, 2), minval=-1, maxval=1)
  noise = jax.random.uniform(k3, (n, ZDIM - 12), minval=-1, maxval=1)
  return jnp.concatenate([c1, c23, noise], 1)


def code_weights(c):
  return losses.group_weights(ZDIM, {(0, 10): c.c1_weight, (10, 11): 1.0, (11, 12): 1.0})


def make_step(c, G, D, method):
  rev = ReverseConfig("rr1") if method == "rr1" else None
  w = jnp.asarray(code_weights(c))

  def step(state, batch):
    state, key = state.next_rng()
    z = sample_z(key, batch["x"].shape[0])

    def g_loss(pg, pd):
      out, upd = G.apply(
        {"params": pg, "batch_stats": state.batch_stats},
        z,
        train=True,
        reverse=rev,
        mutable=["batch_stats"],
      )
      fake = out.out
      lg = jnp.mean(jax.nn.softplus(-D.apply({"params": pd}, fake)))
      rr = 0.0
      if rev is not None:
        rr, _ = losses.racecar_loss(out.ds, out.recons, c.lam, "rr1", c.reduction, w)
      return lg + rr, (lg, rr, fake, upd["batch_stats"])

    (gl, (lg, rr, fake, bs)), gg = jax.value_and_grad(g_loss, has_aux=True)(
      state.params["g"], state.params["d"]
    )

    def d_loss(pd):
      real = D.apply({"params": pd}, batch["x"])
      fk = D.apply({"params": pd}, jax.lax.stop_gradient(fake))
      return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fk))

    ld, gd = jax.value_and_grad(d_loss)(state.params["d"])
    state = state.apply_gradients({"g": gg, "d": gd}, batch_stats=bs)
    return state, {"g_loss": lg, "d_loss": ld, "rr1_loss": rr}

  return step


def code_recovery(G, state, key, n=512):
  z = sample_z(key, n)
  out = G.apply(
    {"params": state.params["g"], "batch_stats": state.batch_stats},
    z,
    train=False,
    reverse=ReverseConfig("rr1"),
  )
  rec = np.asarray(out.recons[0])
  z = np.asarray(z)
  acc = float(np.mean(rec[:, :10].argmax(1) == z[:, :10].argmax(1)))
  cors = [float(np.corrcoef(rec[:, 10 + i], z[:, 10 + i])[0, 1]) for i in range(2)]
  return {"c1_recovery_acc": acc, "c2_recovery_corr": cors[0], "c3_recovery_corr": cors[1]}


def traversal(G, state, which, path, title, seed: int = 0):
  rows = []
  noise = prng.numpy_rng(seed, "traversal/noise").uniform(-1, 1, ZDIM - 12)
  for d in range(10):
    for v in np.linspace(-1, 1, 8):
      z = np.zeros(ZDIM, np.float32)
      z[d] = 1
      z[10 + which] = v
      z[12:] = noise
      rows.append(z)
  ims = G.apply(
    {"params": state.params["g"], "batch_stats": state.batch_stats},
    jnp.asarray(np.stack(rows)),
    train=False,
  ).out
  analysis.plot_images(np.asarray(ims)[:, :, :, 0], path, title=title)


def train_and_evaluate(c, workdir: str) -> dict:
  m = mnist.load_mnist(c.data_source, None, 0.2, c.seed)
  x = m.train_images[: c.max_train] if c.max_train else m.train_images
  G, D = generator(c), Discriminator(tuple(c.d_channels), c.d_hidden)
  results = {"data_source": m.source}
  for method in c.methods:
    key = prng.stream_key(c.seed, "model")  # the same initialisation for every method
    kg, kd = jax.random.split(prng.fold_in_name(key, "init"))
    vg = G.init(kg, jnp.zeros((2, ZDIM)), train=False, reverse=ReverseConfig("rr1"))
    vd = D.init(kd, jnp.zeros((2, 28, 28, 1)))
    st = train_state.TrainState.create(
      apply_fn=G.apply,
      params={"g": vg["params"], "d": vd["params"]},
      tx=optax.adam(c.learning_rate, b1=0.5),
      rng=prng.fold_in_name(key, "train"),
      batch_stats=vg["batch_stats"],
    )

    def get_batch(step):
      rng = batching.step_rng(c.seed, step, prng.name_hash("batches"))
      idx = rng.integers(0, len(x), c.batch_size)
      return {"x": x[idx]}

    r = loop.train(
      state=st,
      train_step=make_step(c, G, D, method),
      get_batch=get_batch,
      num_steps=c.num_steps,
      workdir=os.path.join(workdir, method),
      log_every=c.log_every,
      checkpoint_every=c.checkpoint_every,
      desc=f"infogan-{method}",
    )
    rec = code_recovery(G, r.state, prng.stream_key(c.seed, "eval/codes"))
    results.update({f"{method}/{k}": v for k, v in rec.items()})
    results[f"{method}/g_loss"] = r.metrics.get("g_loss", float("nan"))
    pd = experiment.plots_dir(workdir)
    traversal(
      G,
      r.state,
      0,
      os.path.join(pd, f"{method}_c1_x_c2.png"),
      f"{method}: rows c1, columns c2",
      c.seed,
    )
    traversal(
      G,
      r.state,
      1,
      os.path.join(pd, f"{method}_c1_x_c3.png"),
      f"{method}: rows c1, columns c3",
      c.seed,
    )
  return results
