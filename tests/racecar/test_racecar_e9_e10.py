"""E9 (generator -> autoencoder initialisation) and E10 (tiny VGG + Gatys stylization) pieces."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rvl_jax.core import checkpoint, prng, train_state
from rvl_jax.racecar import data, models, smoke_sr, stylize, transfer
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, conv_spec


def _gen():
  return RacecarChain(
    (conv_spec(3, 3), conv_spec(4, 3, pool_before="up2"), conv_spec(1, 3, activation="relu"))
  )


def test_reverse_from_equals_chain_reverse_pass():
  g = _gen()
  lo = jax.random.uniform(jax.random.PRNGKey(0), (2, 5, 5, 1))
  v = g.init(jax.random.PRNGKey(1), lo)
  rev = ReverseConfig("full", output_activation="relu")
  out = g.apply(v, lo, reverse=rev)
  enc = g.apply(v, out.out, lo.shape, reverse=rev, method=RacecarChain.reverse_from)
  chex.assert_trees_all_close(enc, out.recons[0], atol=1e-6)
  assert enc.shape == lo.shape
  with pytest.raises(ValueError, match="argument 'z'"):
    g.apply(v, jnp.zeros((2, 9, 9, 1)), lo.shape, method=RacecarChain.reverse_from)


def test_stack_output_channels_repeats_the_output():
  g, g3 = (
    _gen(),
    RacecarChain(
      (conv_spec(3, 3), conv_spec(4, 3, pool_before="up2"), conv_spec(3, 3, activation="relu"))
    ),
  )
  lo = jax.random.uniform(jax.random.PRNGKey(0), (2, 5, 5, 1))
  p = g.init(jax.random.PRNGKey(1), lo)["params"]
  p = jax.tree_util.tree_map(lambda a: a + 0.1, p)  # non-zero biases
  p3 = transfer.stack_output_channels(p, 3)
  y, y3 = g.apply({"params": p}, lo).out, g3.apply({"params": p3}, lo).out
  chex.assert_trees_all_close(y3, jnp.concatenate([y] * 3, -1), atol=1e-6)
  assert p["layer3"]["kernel"].shape[-1] == 1  # the source is left unchanged
  with pytest.raises(ValueError, match="argument 'kind'"):
    transfer.stack_output_channels(p, 3, kind="pool")


def test_copy_matching_keeps_mismatched_leaves():
  a = {"x": jnp.ones((2,)), "y": jnp.ones((3,))}
  b = {"x": jnp.zeros((2,)), "y": jnp.zeros((4,))}
  c = transfer.copy_matching(a, b)
  assert float(c["x"].sum()) == 0 and float(c["y"].sum()) == 3


def test_smoke_simulations_pairs():
  s = data.smoke_simulations(num_sims=2, frames=3, size=16, factor=4, seed=0)
  assert s["hi"].shape == (6, 16, 16, 1) and s["lo"].shape == (6, 4, 4, 1)
  assert s["hi"].min() >= 0 and s["hi"].max() <= 1 and s["hi"].max() > 0.5
  np.testing.assert_allclose(
    s["lo"][..., 0], s["hi"][..., 0].reshape(6, 4, 4, 4, 4).mean((2, 4)), atol=1e-6
  )
  rgb = data.smoke_rgb(s["hi"], seed=0)
  assert rgb.shape == (6, 16, 16, 3) and 0 <= rgb.min() and rgb.max() <= 1
  with pytest.raises(ValueError, match="argument 'size'"):
    data.smoke_simulations(size=18, factor=4)


def test_gatys_style_loss_matches_formula():
  rng = np.random.default_rng(0)
  fa, fg = rng.normal(size=(1, 4, 5, 3)), rng.normal(size=(1, 4, 5, 3))
  ga = stylize.gram(jnp.asarray(fa))
  got = float(stylize.style_loss([jnp.asarray(fg)], [ga], [0.5]))
  Fa, Fg = fa.reshape(-1, 3).T, fg.reshape(-1, 3).T  # N filters x M positions
  want = 0.5 * np.sum((Fg @ Fg.T - Fa @ Fa.T) ** 2) / (4 * 3**2 * 20**2)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert float(stylize.style_loss([jnp.asarray(fa)], [ga], [1.0])) == 0.0


def test_ae_init_params_follow_the_paper_initialisations():
  g = _gen()
  lo = jnp.zeros((1, 5, 5, 1))
  gens = {
    m: jax.tree_util.tree_map(lambda a, v=v: a + v, g.init(jax.random.PRNGKey(1), lo)["params"])
    for m, v in (("rr", 1.0), ("std", 2.0))
  }
  fresh = smoke_sr.init_ae(g, jax.random.PRNGKey(2), (5, 5, 1), jnp.zeros((1, 10, 10, 1)))
  same = lambda a, b: all(
    np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
  )
  p = smoke_sr.ae_init_params("rr_AB1", fresh, gens)
  assert same(p["enc"], gens["rr"]) and same(p["dec"], gens["rr"])
  p = smoke_sr.ae_init_params("std_AB1", fresh, gens)  # the paper's Std: decoder only
  assert same(p["enc"], fresh["enc"]) and same(p["dec"], gens["std"])
  p = smoke_sr.ae_init_params("std_B1", fresh, gens)
  assert same(p, fresh)
  p = smoke_sr.ae_init_params("rr_AB2", fresh, gens, out_channels=3)
  assert same(p["enc"], fresh["enc"])
  np.testing.assert_array_equal(
    p["dec"]["layer3"]["kernel"], np.concatenate([gens["rr"]["layer3"]["kernel"]] * 3, -1)
  )
  with pytest.raises(ValueError, match="argument 'config.b1_models'"):
    smoke_sr.ae_init_params("rr_AB2", fresh, gens)


def test_stylizer_keeps_a_style_fixed_point_and_moves_at_most_lr_per_step():
  """Style loss zero (style = init, content weight 0): zero gradient, Adam leaves the image exactly;
  another style moves every pixel by at most steps * lr (Adam's step bound), and by more than 0."""
  chain = RacecarChain((conv_spec(3, 3), conv_spec(4, 3, pool_before="max2")))
  x = jax.random.uniform(jax.random.PRNGKey(0), (8, 8, 3))
  v = chain.init(jax.random.PRNGKey(1), x[None])
  st = train_state.TrainState.create(
    apply_fn=chain.apply, params=v["params"], tx=optax.sgd(0.0), rng=jax.random.PRNGKey(2)
  )
  run = stylize.make_stylizer(st, num_layers=2, content_layer=0, learning_rate=0.02, num_steps=5)
  g, _ = run(x, x, x, 0.0, 1.0)
  np.testing.assert_array_equal(g, x)
  other = jax.random.uniform(jax.random.PRNGKey(3), (8, 8, 3))
  g, hist = run(x, other, x, 0.0, 1.0)
  change = np.abs(np.asarray(g) - np.asarray(x))
  assert 0 < change.max() <= 5 * 0.02 * (1 + 1e-5) and float(hist[-1]) < float(hist[0])

  # the first loss is the style loss of Gatys et al. (2016, eq. 4-5) of the start image over the conv
  # activations d_2, d_3 (weights 1/2), with the Gram matrices computed here in NumPy
  def grams(im):
    fs = chain.apply(v, im[None]).ds[1:]
    return [(np.asarray(f).reshape(-1, f.shape[-1]), f.shape[-1]) for f in fs]

  want = sum(
    0.5 * np.sum((fx.T @ fx - fo.T @ fo) ** 2) / (4 * n**2 * len(fx) ** 2)
    for (fx, n), (fo, _) in zip(grams(x), grams(other))
  )
  np.testing.assert_allclose(float(hist[0]), want, rtol=1e-4)


def test_e9_smoke_tiny(tmp_path):
  from experiments.racecar import e9_smoke
  from experiments.racecar.configs import e9_smoke as cfg
  from rvl_jax.core import experiment

  c = cfg.get_config("smoke")
  c.b1_models, c.b2_models = ("rr_AB1", "std_AB1"), ("rr_AB2",)
  r = experiment.launch(e9_smoke.train_and_evaluate, c, str(tmp_path))
  # 2 simulations x 8 frames, a quarter (4 frames) for training
  assert r["num_train"] == 4 and r["num_test"] == 12
  assert r["rr_A_s0/input_mean_intensity"] == r["std_A_s0/input_mean_intensity"] > 0
  np.testing.assert_allclose(
    r["B1/rr_vs_std_l2_reduction_mean"],
    1 - r["rr_AB1/test_l2_mean"] / r["std_AB1/test_l2_mean"],
    rtol=1e-6,
  )
  for k in ("rr_AB1", "std_AB1", "rr_AB2"):  # mean |e| <= sqrt(mean e^2) (Jensen), in 0-255 units
    assert 0 < r[f"{k}/test_mae255_mean"] <= 255 * np.sqrt(r[f"{k}/test_l2_mean"]) * (1 + 1e-5), k
  for f in ("gan_outputs_and_reverse.png", "ae_B1_test_l2.png", "ae_B2_reconstructions.png"):
    assert (tmp_path / "plots" / f).exists()
  # test L2 and MAE recomputed with NumPy from RR_AB1's final checkpoint on the first eval_size
  # held-out frames (the bound above passes an RMSE reported as MAE, or an MAE without the 255)
  G = models.sr_generator(c.g_channels, c.factor, 1, c.g_out_activation)
  s = data.smoke_simulations(c.num_sims, c.frames, c.size, c.factor, seed=c.data_seed)
  perm = prng.numpy_rng(c.data_seed, "split/grey").permutation(len(s["hi"]))
  x = s["hi"][perm[r["num_train"] :]][: c.eval_size]
  code = s["lo"].shape[1:]
  template = train_state.TrainState.create(
    apply_fn=None,
    params=smoke_sr.init_ae(G, jax.random.PRNGKey(0), code, x[:1]),
    tx=optax.adam(c.ae_learning_rate),
    rng=jax.random.PRNGKey(0),
  )
  ckpt = checkpoint.Checkpointer(str(tmp_path / "s0_rr_AB1" / "checkpoints"))
  p = ckpt.restore(template).params
  ckpt.close()
  e = np.asarray(jax.jit(lambda p, x: smoke_sr.ae_apply(G, p, x, code)[0])(p, x)) - x
  np.testing.assert_allclose(r["rr_AB1/test_l2_mean"], np.mean(e**2), rtol=1e-5)
  np.testing.assert_allclose(r["rr_AB1/test_mae255_mean"], 255 * np.mean(np.abs(e)), rtol=1e-5)


def test_e10_vgg_tiny(tmp_path):
  from experiments.racecar import e10_vgg
  from experiments.racecar.configs import e10_vgg as cfg
  from rvl_jax.core import experiment

  c = cfg.get_config("smoke")
  r = experiment.launch(e10_vgg.train_and_evaluate, c, str(tmp_path))
  assert r["num_train"] == 32 and r["num_test"] == 8  # 4 patches x 10 images, 1/5 held out
  assert r["rr/lam_mean"] > 0 and float(r["rr/test_acc_mean"] * 8).is_integer()
  bound = 255 * c.style_steps * c.style_lr * (1 + 1e-5)  # Adam moves a pixel <= lr per step
  for m in ("std", "rr"):
    assert 0 < r[f"{m}/shape_mae255_mean"] <= bound
    assert abs(r[f"{m}/lowres_mae255_mean"] - r["lowres_input_mae255"]) <= bound
  assert (tmp_path / "plots" / "stylization.png").exists()
