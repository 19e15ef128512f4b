"""Representation learning + frozen-code readout (beta-VAE, Ada-GVAE, SlowVAE, PCL).

Default (a small CPU setting): 3k iterations, one hyper-parameter value, readout
1 epoch on a 50k train subset. 'paper': 500k iterations, the beta / gamma sweep with DCI
selection, readout 8 epochs on the whole train split.
"""

import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = "weak"
  c.method = "slowvae"  # betavae | adagvae | slowvae | pcl
  c.dataset = "dsprites"
  c.split = "extrapolation"
  c.data_dir = ""
  c.source = "auto"
  c.seed = 0
  c.num_steps = 3000
  c.batch_size = 64
  c.lr = 1e-4
  c.sweep_param = "gamma"  # 'beta' for betavae/adagvae, 'gamma' for slowvae, '' for pcl
  c.sweep_values = "10"
  c.dci_points = 3000
  c.readout_train = 50_000
  c.readout_epochs = 1
  c.eval_test = 8192
  c.eval_train = 4096
  c.eval_seed = 20220125
  c.log_every = 100
  if variant == "smoke":
    c.num_steps = 20
    c.dci_points = 300
    c.readout_train = 2000
    c.eval_test = 256
    c.eval_train = 256
    c.log_every = 10
  elif variant == "paper":
    c.num_steps = 500_000
    c.sweep_values = "1,5,10,15,20,25"
    c.dci_points = 15000
    c.readout_train = 0
    c.readout_epochs = 8
    c.eval_test = 0
  elif variant is not None:
    raise ValueError(f"config variant: expected None, 'smoke' or 'paper', got {variant!r}")
  return c
