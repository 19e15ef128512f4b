"""Experiment drivers at (sub-)smoke scale: results.json keys, plots, resumption-safe workdirs."""
import importlib
import json
import os

import pytest

from rvl_jax.core import experiment

CONFIGS = ['e1_mnist_svd', 'e2_peak', 'e3_mi', 'e4_infogan', 'e5_mnist_cnn', 'e6_cifar', 'e7_resnet', 'e8_texture', 'e9_smoke', 'e10_vgg']


@pytest.mark.parametrize('name', CONFIGS)
def test_config_variants(name):
  mod = importlib.import_module(f'experiments.racecar.configs.{name}')
  for v in (None, 'smoke', 'paper'):
    c = mod.get_config(v)
    assert c.experiment.startswith('e')
  with pytest.raises(ValueError, match='variant'):
    mod.get_config('huge')


def test_main_dispatch_rejects_unknown():
  from experiments.racecar import main
  with pytest.raises(ValueError, match='config.experiment'):
    main.get_train_fn('e99')


def test_e2_peak_tiny(tmp_path):
  from experiments.racecar import e2_peak
  from experiments.racecar.configs import e2_peak as cfg
  c = cfg.get_config('smoke')
  c.num_steps, c.log_every, c.checkpoint_every = 40, 20, 40
  c.methods = ('std', 'rr')
  r = experiment.launch(e2_peak.train_and_evaluate, c, str(tmp_path))
  assert 0 <= r['c/rr/capture_min_mean'] <= 1 and 'c_std_s0/sigma_top5' in r
  assert os.path.exists(tmp_path / 'plots' / 'c_rr_singular_vectors.png')
  assert json.load(open(tmp_path / 'results.json'))['data_source'] == 'generated'


def test_e3_mi_tiny(tmp_path):
  from experiments.racecar import e3_mi
  from experiments.racecar.configs import e3_mi as cfg
  c = cfg.get_config('smoke')
  c.epochs, c.finetune_epochs, c.methods = 3, 1, ('std', 'rr')
  c.lam_auto = True
  r = experiment.launch(e3_mi.train_and_evaluate, c, str(tmp_path))
  assert len(r['rr_A/I_XD_mean']) == 6 and abs(r['H_Y'] - 0.99916) < 1e-4
  assert 'rr_AB/test_acc_mean' in r and 'std_B/test_acc_mean' in r and r['rr_A/lam_mean'] > 0
  assert os.path.exists(tmp_path / 'plots' / 'mi_plane_A_mean.png')
