"""ANT mechanics (Rusak et al. 2020, Sec. 3-4): replay buffer, snapshot sampling, batch
assembly, generator and classifier steps; eps* search."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import loop
from rvl_jax.core import metrics as core_metrics
from rvl_jax.noise import ant, evaluation, gnt, models, training
from rvl_jax.noise import generators as G
from rvl_jax.noise.projection import project_to_eps_sphere


def _setup(b=20, capacity=4):
  model = models.MadryCNN(features=(4, 8), hidden=16)
  params, _ = models.init_model(model, jax.random.PRNGKey(0), (12, 12, 1))
  spec = G.ANT1x1(1)
  gp = G.init_generator(spec, jax.random.PRNGKey(1), (1, 12, 12))
  tx, gtx = optax.sgd(0.01, 0.9), optax.adam(1e-4)
  state = ant.init_ant_state(
    params=params,
    batch_stats=None,
    classifier_tx=tx,
    gen_params=gp,
    gen_tx=gtx,
    rng=jax.random.PRNGKey(2),
    capacity=capacity,
  )
  x = jax.random.uniform(jax.random.PRNGKey(3), (b, 12, 12, 1))
  batch = {"image": x, "label": jnp.arange(b) % 10}
  return model, spec, tx, gtx, state, batch


def test_ring_buffer_and_choice():
  model, spec, tx, gtx, state, _ = _setup(capacity=3)
  snaps = [G.init_generator(spec, jax.random.PRNGKey(10 + i), (1, 4, 4)) for i in range(4)]
  for i, s in enumerate(snaps):
    state = ant.add_snapshot(state, s, 5.0 + i)
  assert int(state.buffer_count) == 4
  # the 4th snapshot overwrote slot 0
  np.testing.assert_array_equal(
    np.asarray(ant.get_snapshot(state, 0)["conv0"]["kernel"]),
    np.asarray(snaps[3]["conv0"]["kernel"]),
  )
  assert float(state.buffer_eps[0]) == 8.0
  idx = np.asarray(ant.choose_snapshots(jax.random.PRNGKey(0), jnp.asarray(2), 8, 2))
  assert sorted(idx.tolist()) == [0, 1]
  for k in range(20):
    idx = np.asarray(ant.choose_snapshots(jax.random.PRNGKey(k), jnp.asarray(5), 8, 2))
    assert len(set(idx.tolist())) == 2 and max(idx) < 5


def _ce(model, params, x, y, train=False):
  return float(
    core_metrics.cross_entropy(models.apply_model(model, params, None, x, train=train)[0], y)
  )


def test_ant_step_generator_ascends_then_classifier_descends():
  """One ANT iteration: the generator step raises the frozen classifier's CE on the same latent;
  the classifier then trains on noise of the *updated* generator (and the clean rest) and lowers
  its loss on that batch."""
  model, spec, tx, _, state, batch = _setup()
  gtx = optax.adam(1e-2)  # large enough to see the generator's step in float32
  # kernels x30: the generator's MLP path matters (at the custom init it is ~1e-5 of the
  # latent, and noise of the pre- and post-step generator would be indistinguishable)
  gp = jax.tree_util.tree_map(lambda a: 30.0 * a, state.gen_params)
  state = state.replace(gen_params=gp, gen_opt_state=gtx.init(gp))
  new, metrics = jax.jit(ant.make_ant_train_step(model, spec, gtx, tx, 3.0, first_replay_step=0))(
    state, batch
  )
  x, y = batch["image"], batch["label"]
  _, key = state.next_rng()  # the step's key
  k_gen, k_cur, _, _ = jax.random.split(key, 4)

  def gen_ce(gp):
    return _ce(model, state.params, ant.perturb(spec, gp, k_gen, x, 3.0), y)

  before, after = gen_ce(state.gen_params), gen_ce(new.gen_params)
  np.testing.assert_allclose(float(metrics["gen_ce"]), before, rtol=1e-5)
  assert after > before + 1e-4, (before, after)
  # no snapshots yet: positions [0, 6) current noise, the rest clean (replay chunks stay clean)
  x_mix = jnp.concatenate([ant.perturb(spec, new.gen_params, k_cur, x[:10], 3.0)[:6], x[6:]])
  np.testing.assert_allclose(
    float(metrics["loss"]), _ce(model, state.params, x_mix, y, True), rtol=1e-5
  )
  assert _ce(model, new.params, x_mix, y, True) < float(metrics["loss"])


class _MeanBrightness(nn.Module):
  """Two-class linear classifier on the flattened image (weights set by the test)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(2)(x.reshape(x.shape[0], -1))


def test_adversarial_noise_beats_gaussian_noise_of_the_same_norm():
  """A classifier of mean brightness (class 1 iff mean > 0.5) on images of mean 0.35 / 0.65:
  zero-mean Gaussian noise projected to eps = 3 barely moves the mean, while a generator
  trained for 30 steps learns to shift it (the only thing pixel-independent noise can do to
  this classifier) and raises the CE several-fold. Both perturbations lie exactly on the eps
  sphere inside [0, 1]."""
  n_pix = 12 * 12
  model = _MeanBrightness()
  params = {
    "Dense_0": {
      "kernel": jnp.tile(jnp.array([[-20.0, 20.0]]) / n_pix, (n_pix, 1)),
      "bias": jnp.array([10.0, -10.0]),
    }
  }
  texture = 0.1 * jax.random.uniform(jax.random.PRNGKey(3), (16, 12, 12, 1))
  y = jnp.arange(16) % 2
  x = 0.3 + 0.3 * y[:, None, None, None] + texture
  spec = G.ANT1x1(1)
  data = {"image": np.asarray(x), "label": np.asarray(y)}
  gp, _ = ant.train_fresh_generator(
    model=model,
    clf_params=params,
    clf_batch_stats=None,
    gen_spec=spec,
    eps=3.0,
    get_batch=lambda s: data,
    num_steps=30,
    key=jax.random.PRNGKey(5),
    lr=1e-2,
  )
  key = jax.random.PRNGKey(9)
  adv = ant.perturb(spec, gp, key, x, 3.0)
  gauss = project_to_eps_sphere(x, jax.random.normal(key, x.shape), 3.0)
  for xt in (adv, gauss):
    norms = np.sqrt(((np.asarray(xt) - np.asarray(x)) ** 2).reshape(16, -1).sum(1))
    np.testing.assert_allclose(norms, 3.0, rtol=1e-5)
    assert float(xt.min()) >= 0.0 and float(xt.max()) <= 1.0
  ce_adv, ce_gauss = _ce(model, params, adv, y), _ce(model, params, gauss, y)
  assert ce_adv > 5 * ce_gauss and ce_adv > 0.3, (ce_adv, ce_gauss)


def test_batch_assembly_via_projection_norms():
  """Checks which positions get noise: current part and (once snapshots exist) replay chunks."""
  model, spec, tx, gtx, state, batch = _setup(b=20)
  seen = {}

  def spy_model(x, train=False):
    return x

  # Reconstruct the mixed batch by re-running the assembly logic with a classifier that records it.
  class Recorder(models.MadryCNN):
    def __call__(self, x, train: bool = False):
      if train:
        seen["x"] = x
      return super().__call__(x, train)

  rec = Recorder(features=(4, 8), hidden=16)
  del spy_model
  st = ant.add_snapshot(state, state.gen_params, 2.0)
  step = ant.make_ant_train_step(rec, spec, gtx, tx, 3.0, first_replay_step=0)
  step(st, batch)  # eager: the recorder sees concrete arrays
  x = np.asarray(batch["image"])
  mix = np.asarray(seen["x"])
  norms = np.sqrt(((mix - x) ** 2).reshape(20, -1).sum(1))
  np.testing.assert_allclose(norms[:6], 3.0, rtol=1e-3)  # current generator, eps 3
  np.testing.assert_allclose(norms[6:8], 2.0, rtol=1e-3)  # replay chunk with the snapshot's eps
  np.testing.assert_allclose(norms[8:10], 0.0, atol=1e-6)  # second chunk: only one snapshot exists
  np.testing.assert_allclose(norms[10:], 0.0, atol=1e-6)  # clean half
  # epoch-0 rule: before first_replay_step the whole noisy half is current noise
  step0 = ant.make_ant_train_step(rec, spec, gtx, tx, 3.0, first_replay_step=5)
  step0(st, batch)
  norms = np.sqrt(((np.asarray(seen["x"]) - x) ** 2).reshape(20, -1).sum(1))
  np.testing.assert_allclose(norms[:10], 3.0, rtol=1e-3)
  np.testing.assert_allclose(norms[10:], 0.0, atol=1e-6)


def test_run_ant_with_restarts_and_resume(tmp_path):
  model, spec, tx, gtx, state, batch = _setup(b=20)
  params = state.params
  data = {k: np.asarray(v) for k, v in batch.items()}
  cfg = ant.AntConfig(
    eps=2.0, num_steps=4, restart_every=2, restart_steps=2, capacity=4, log_every=2
  )
  run = functools.partial(
    ant.run_ant,
    model=model,
    params=params,
    batch_stats=None,
    classifier_tx=tx,
    gen_spec=spec,
    config=cfg,
    get_batch=lambda s: data,
    key=jax.random.PRNGKey(0),
    workdir=str(tmp_path),
  )
  final, hist = run()
  assert int(final.step) == 4 and int(final.buffer_count) == 2
  # one snapshot per restart, stored with the run's eps; the unused slots stay empty
  np.testing.assert_array_equal(np.asarray(final.buffer_eps), [2.0, 2.0, 0.0, 0.0])
  assert [h["step"] for h in hist if "restart/fooling_rate" in h] == [0, 2]
  # the joint steps trained the classifier (4 SGD steps moved every kernel)
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(final.params)):
    if a.ndim > 1:
      assert float(jnp.max(jnp.abs(a - b))) > 1e-6
  again, _ = run()  # resumed from the run's checkpoints
  for a, b in zip(jax.tree_util.tree_leaves(final.params), jax.tree_util.tree_leaves(again.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_run_ant_restarts_train_an_adversarial_generator_and_install_it():
  """On the mean-brightness classifier: every restart trains a fresh generator that raises the
  CE far above that of Gaussian noise of the same norm (the restart ascends, not descends, the
  CE); with a frozen joint generator (gen_lr 0) and classifier (lr 0) the final generator is
  exactly the last snapshot (the restart's generator is installed and stored)."""
  n_pix = 12 * 12
  model = _MeanBrightness()
  params = {
    "Dense_0": {
      "kernel": jnp.tile(jnp.array([[-20.0, 20.0]]) / n_pix, (n_pix, 1)),
      "bias": jnp.array([10.0, -10.0]),
    }
  }
  y = jnp.arange(16) % 2
  x = (
    0.3
    + 0.3 * y[:, None, None, None]
    + 0.1 * jax.random.uniform(jax.random.PRNGKey(3), (16, 12, 12, 1))
  )
  data = {"image": np.asarray(x), "label": np.asarray(y)}
  spec = G.ANT1x1(1)
  cfg = ant.AntConfig(
    eps=3.0,
    num_steps=2,
    restart_every=1,
    restart_steps=30,
    restart_lr=1e-2,
    gen_lr=0.0,
    capacity=4,
    log_every=1,
  )
  final, hist = ant.run_ant(
    model=model,
    params=params,
    batch_stats=None,
    classifier_tx=optax.sgd(0.0),
    gen_spec=spec,
    config=cfg,
    get_batch=lambda s: data,
    key=jax.random.PRNGKey(0),
  )
  gauss = project_to_eps_sphere(x, jax.random.normal(jax.random.PRNGKey(9), x.shape), 3.0)
  ce_gauss = _ce(model, params, gauss, y)
  restart_ce = [h["restart/gen_ce"] for h in hist if "restart/gen_ce" in h]
  assert len(restart_ce) == 2 and min(restart_ce) > 5 * ce_gauss, (restart_ce, ce_gauss)
  last = ant.get_snapshot(final, int(final.buffer_count) - 1)
  for a, b in zip(jax.tree_util.tree_leaves(final.gen_params), jax.tree_util.tree_leaves(last)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  first = ant.get_snapshot(final, 0)
  assert any(
    not np.array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree_util.tree_leaves(first), jax.tree_util.tree_leaves(last))
  )


def test_noise_train_step_through_loop():
  model = models.MadryCNN(features=(4, 8), hidden=16)
  params, _ = models.init_model(model, jax.random.PRNGKey(0), (12, 12, 1))
  state = training.create_state(model, params, None, optax.sgd(0.05, 0.9), jax.random.PRNGKey(1))
  x = np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (20, 12, 12, 1)))
  y = np.arange(20) % 10
  step = training.make_noise_train_step(model, "speckle")
  # the first step's loss is the CE of the initial classifier on the speckled batch drawn from
  # the state's key: clean first half, x + x c z on the second
  _, key = state.next_rng()
  noisy = np.asarray(gnt.noise_batch(key, jnp.asarray(x), "speckle"))
  np.testing.assert_array_equal(noisy[:10], x[:10])
  assert np.abs(noisy[10:] - x[10:]).mean() > 0.01
  _, m1 = step(state, {"image": x, "label": y})
  np.testing.assert_allclose(
    float(m1["loss"]), _ce(model, params, jnp.asarray(noisy), y, True), rtol=1e-5
  )
  res = loop.train(
    state=state,
    train_step=step,
    get_batch=lambda s: {"image": x, "label": y},
    num_steps=3,
    log_every=1,
  )
  assert int(res.state.step) == 3
  # the loop's result is three applications of the pure step, each on fresh noise
  manual, losses = state, []
  for _ in range(3):
    manual, m = jax.jit(step)(manual, {"image": x, "label": y})
    losses.append(float(m["loss"]))
  leaves = jax.tree_util.tree_leaves
  for a, b in zip(leaves(manual.params), leaves(res.state.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  assert len(set(np.round(losses, 6))) == 3


def test_epsilon_star_linear_classifier():
  """For a threshold classifier on the mean pixel, eps* along +/- directions is analytic-ish."""

  def logits_fn(x):
    m = jnp.mean(x.reshape(x.shape[0], -1), axis=1)
    return jnp.stack([0.5 - m, m - 0.5], axis=1) * 100

  x = jnp.full((8, 4, 4, 1), 0.4)
  y = jnp.zeros((8,), jnp.int32)
  ones = lambda k, shape: jnp.ones(shape)  # noqa: E731
  r = evaluation.epsilon_star(
    logits_fn, x, y, "generator", noise_fn=ones, batch_size=8, bisection_steps=30
  )
  # flip when mean > 0.5: perturbation 0.1 per pixel, L2 = 0.1 * 4 = 0.4
  np.testing.assert_allclose(r["distances"], 0.4, rtol=1e-3)
  wrong = evaluation.epsilon_star(logits_fn, x, jnp.ones((8,), jnp.int32), "gaussian", batch_size=8)
  assert wrong["eps_star"] == 0.0
  never = evaluation.epsilon_star(
    logits_fn,
    x,
    y,
    "generator",
    noise_fn=lambda k, s: -jnp.ones(s),
    batch_size=8,
    bisection_steps=5,
  )
  assert np.isinf(never["eps_star"]) and never["fraction_unflipped"] == 1.0


def test_ant_step_with_a_regression_loss():
  """``loss`` replaces the cross-entropy for both players: with the squared error on real
  targets the generator step raises the frozen model's error, the model's step lowers it on the
  mixed batch, and the metrics are the two losses."""
  model, spec, tx, _, state, batch = _setup()
  gtx = optax.adam(1e-2)
  gp = jax.tree_util.tree_map(lambda a: 30.0 * a, state.gen_params)
  state = state.replace(gen_params=gp, gen_opt_state=gtx.init(gp))
  x = batch["image"]
  t = jax.random.uniform(jax.random.PRNGKey(4), (x.shape[0], 10))

  def mse(out, target):
    return jnp.mean(jnp.sum((out - target) ** 2, axis=-1))

  step = ant.make_ant_train_step(model, spec, gtx, tx, 3.0, first_replay_step=0, loss=mse)
  new, metrics = jax.jit(step)(state, {"image": x, "label": t})
  assert set(metrics) == {"loss", "gen_loss"}
  _, key = state.next_rng()  # the step's key
  k_gen, k_cur, _, _ = jax.random.split(key, 4)

  def err(params, xt, train=False):
    return float(mse(models.apply_model(model, params, None, xt, train=train)[0], t))

  before = err(state.params, ant.perturb(spec, state.gen_params, k_gen, x, 3.0))
  after = err(state.params, ant.perturb(spec, new.gen_params, k_gen, x, 3.0))
  np.testing.assert_allclose(float(metrics["gen_loss"]), before, rtol=1e-5)
  assert after > before + 1e-5, (before, after)
  x_mix = jnp.concatenate([ant.perturb(spec, new.gen_params, k_cur, x[:10], 3.0)[:6], x[6:]])
  np.testing.assert_allclose(float(metrics["loss"]), err(state.params, x_mix, True), rtol=1e-5)
  assert err(new.params, x_mix, True) < float(metrics["loss"])
