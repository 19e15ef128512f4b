"""E9 (generator -> autoencoder initialisation) and E10 (tiny VGG + Gatys stylization) pieces."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.racecar import data, transfer
from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, conv_spec


def _gen():
  return RacecarChain((conv_spec(3, 3), conv_spec(4, 3, pool_before='up2'), conv_spec(1, 3, activation='relu')))


def test_reverse_from_equals_chain_reverse_pass():
  g = _gen()
  lo = jax.random.uniform(jax.random.PRNGKey(0), (2, 5, 5, 1))
  v = g.init(jax.random.PRNGKey(1), lo)
  rev = ReverseConfig('full', output_activation='relu')
  out = g.apply(v, lo, reverse=rev)
  enc = g.apply(v, out.out, lo.shape, reverse=rev, method=RacecarChain.reverse_from)
  chex.assert_trees_all_close(enc, out.recons[0], atol=1e-6)
  assert enc.shape == lo.shape
  with pytest.raises(ValueError, match="argument 'z'"):
    g.apply(v, jnp.zeros((2, 9, 9, 1)), lo.shape, method=RacecarChain.reverse_from)


def test_stack_output_channels_repeats_the_output():
  g, g3 = _gen(), RacecarChain((conv_spec(3, 3), conv_spec(4, 3, pool_before='up2'),
                                 conv_spec(3, 3, activation='relu')))
  lo = jax.random.uniform(jax.random.PRNGKey(0), (2, 5, 5, 1))
  p = g.init(jax.random.PRNGKey(1), lo)['params']
  p = jax.tree_util.tree_map(lambda a: a + 0.1, p)          # non-zero biases
  p3 = transfer.stack_output_channels(p, 3)
  y, y3 = g.apply({'params': p}, lo).out, g3.apply({'params': p3}, lo).out
  chex.assert_trees_all_close(y3, jnp.concatenate([y] * 3, -1), atol=1e-6)
  assert p['layer3']['kernel'].shape[-1] == 1               # the source is left unchanged
  with pytest.raises(ValueError, match="argument 'kind'"):
    transfer.stack_output_channels(p, 3, kind='pool')


def test_copy_matching_keeps_mismatched_leaves():
  a = {'x': jnp.ones((2,)), 'y': jnp.ones((3,))}
  b = {'x': jnp.zeros((2,)), 'y': jnp.zeros((4,))}
  c = transfer.copy_matching(a, b)
  assert float(c['x'].sum()) == 0 and float(c['y'].sum()) == 3


def test_smoke_simulations_pairs():
  s = data.smoke_simulations(num_sims=2, frames=3, size=16, factor=4, seed=0)
  assert s['hi'].shape == (6, 16, 16, 1) and s['lo'].shape == (6, 4, 4, 1)
  assert s['hi'].min() >= 0 and s['hi'].max() <= 1 and s['hi'].max() > 0.5
  np.testing.assert_allclose(s['lo'][..., 0], s['hi'][..., 0].reshape(6, 4, 4, 4, 4).mean((2, 4)), atol=1e-6)
  rgb = data.smoke_rgb(s['hi'], seed=0)
  assert rgb.shape == (6, 16, 16, 3) and 0 <= rgb.min() and rgb.max() <= 1
  with pytest.raises(ValueError, match="argument 'size'"):
    data.smoke_simulations(size=18, factor=4)


def test_gatys_style_loss_matches_formula():
  from experiments.racecar import e10_vgg
  rng = np.random.default_rng(0)
  fa, fg = rng.normal(size=(1, 4, 5, 3)), rng.normal(size=(1, 4, 5, 3))
  ga = e10_vgg.gram(jnp.asarray(fa))
  got = float(e10_vgg.style_loss([jnp.asarray(fg)], [ga], [0.5]))
  Fa, Fg = fa.reshape(-1, 3).T, fg.reshape(-1, 3).T         # N filters x M positions
  want = 0.5 * np.sum((Fg @ Fg.T - Fa @ Fa.T) ** 2) / (4 * 3 ** 2 * 20 ** 2)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert float(e10_vgg.style_loss([jnp.asarray(fa)], [ga], [1.0])) == 0.0


def test_e9_smoke_tiny(tmp_path):
  from experiments.racecar import e9_smoke
  from experiments.racecar.configs import e9_smoke as cfg
  from rvl_jax.core import experiment
  c = cfg.get_config('smoke')
  c.b1_models, c.b2_models = ('rr_AB1',), ('rr_AB2',)
  r = experiment.launch(e9_smoke.train_and_evaluate, c, str(tmp_path))
  for k in ('rr_A/reverse_rel_err_mean', 'std_A/test_l2_mean', 'rr_AB1/test_l2_mean', 'rr_AB1/test_l2_init_mean',
            'rr_AB2/test_mae255_mean'):
    assert np.isfinite(r[k]), k
  for f in ('gan_outputs_and_reverse.png', 'ae_B1_test_l2.png', 'ae_B2_reconstructions.png'):
    assert (tmp_path / 'plots' / f).exists()


def test_e10_vgg_tiny(tmp_path):
  from experiments.racecar import e10_vgg
  from experiments.racecar.configs import e10_vgg as cfg
  from rvl_jax.core import experiment
  r = experiment.launch(e10_vgg.train_and_evaluate, cfg.get_config('smoke'), str(tmp_path))
  for k in ('rr/test_acc_mean', 'std/shape_change_mean', 'rr/lowres_mae255_mean', 'rr/lam_mean'):
    assert np.isfinite(r[k]), k
  assert (tmp_path / 'plots' / 'stylization.png').exists()
