"""Paper-scale compile check: every `:paper` config's train step at its real shapes, no data.

    python -m experiments.benchmarks.paper_scale [--only=racecar/e7_resnet,noise/imagenet]
        [--out=docs/paper_scale.md] [--fraction=0.4]

For every `:paper` config of every system the step the experiment jits (built with the system's own
step builders, not a copy) is lowered and compiled with abstract inputs of the paper's shapes:
``jax.ShapeDtypeStruct`` batches and a train state from ``jax.eval_shape`` of the experiment's own
initialisation, so nothing is allocated. Per step the table gives the parameter count, the global
batch, the FLOPs from XLA's cost analysis, the peak memory from XLA's memory analysis, and the
projected step time and accelerator-hours of the whole config on one H100/H200-class GPU at a stated
fraction of its peak.

XLA's cost analysis counts the body of a loop (``lax.scan``, ``fori_loop``, ``lax.map``) once,
whatever its trip count; the ABS latent search, PGD and the Madry step run such loops. So a second
count walks the jaxpr, adds 2 * multiply-adds of every matrix product and convolution and multiplies
loop bodies by their trip counts; the projection uses the larger of the two counts.

Where a config's headline work is not a gradient step (ABS inference, the robustness evaluation),
the jitted computation that dominates is compiled instead and the row says so. The memory figures
are those of the compiling backend (the CPU here): an accelerator's fusion and layouts differ, so
treat them as an estimate of the order of magnitude.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import importlib
import math
import os
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

if __name__ == '__main__' and 'xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', ''):
  # CPU code generation at LLVM level 0 compiles much faster; the HLO, and so the FLOPs and buffer
  # sizes this script reports, are the same (checked on racecar/e6_cifar).
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_backend_optimization_level=0').strip()

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from rvl_jax.core import io as rio  # pylint: disable=g-import-not-at-top,wrong-import-position

# One H100/H200-class GPU (SXM, dense, no sparsity), FLOP/s. The library trains in float32; on
# Hopper JAX's default matmul precision for float32 uses TF32 tensor cores.
PEAK_TF32 = 494e12
PEAK_FP32 = 67e12
DEFAULT_FRACTION = 0.4

# (system, config module) of every config that accepts the 'paper' variant; a test checks that no
# config with a 'paper' variant is missing here.
PAPER_CONFIGS = (
    ('mnist_classifier', 'default'),
    *(('racecar', n) for n in ('e1_mnist_svd', 'e2_peak', 'e3_mi', 'e4_infogan', 'e5_mnist_cnn',
                               'e6_cifar', 'e7_resnet', 'e8_texture', 'e9_smoke', 'e10_vgg')),
    ('abs', 'abs'), ('abs', 'robustness'),
    *(('slowvae', n) for n in ('slowvae', 'betavae', 'pmvae', 'adagvae', 'pcl', 'nica')),
    *(('benchmark', n) for n in ('default', 'oracle', 'weak', 'sweep')),
    ('noise', 'mnist_study'), ('noise', 'sigma_sweep'), ('noise', 'imagenet'),
)

IMAGENET_TRAIN_IMAGES = 1_281_167
MNIST_TRAIN = 60_000
MNIST_TEST = 10_000


@dataclasses.dataclass
class Case:
  """One jitted computation of a config.

  make_args: builds the concrete arguments with jax ops (state from the experiment's own
    initialisation, a random batch); ``jax.eval_shape(make_args)`` gives the abstract ones.
  steps: how often the whole config runs this computation (all seeds, methods and phases).
  train: True for an optimizer step (the state argument is donated, as in the training loop).
  """
  config: str
  name: str
  fn: Callable
  make_args: Callable[[], Tuple]
  global_batch: int
  steps: int
  note: str = ''
  train: bool = True
  params_of: Callable[[Tuple], Any] = lambda args: args[0].params

  def abstract_args(self):
    return jax.eval_shape(self.make_args)

  def jitted(self):
    return jax.jit(self.fn, donate_argnums=(0,) if self.train else ())


def load_config(system: str, name: str, variant: str = 'paper'):
  return importlib.import_module(f'experiments.{system}.configs.{name}').get_config(variant)


def count_params(tree) -> int:
  return int(sum(math.prod(l.shape) for l in jax.tree_util.tree_leaves(tree)))


def _key(i: int = 0):
  return jax.random.PRNGKey(i)


def _images(shape, i=1):
  return jax.random.uniform(_key(i), shape, jnp.float32)


def _labels(n, classes, i=2):
  return jax.random.randint(_key(i), (n,), 0, classes, jnp.int32)


def _onehot(n, classes, i=2):
  return jax.nn.one_hot(_labels(n, classes, i), classes, dtype=jnp.float32)


# ----------------------------------------------------------------------------------------- FLOPs

def _dot_flops(eqn) -> float:
  (lc, rc), (lb, _) = eqn.params['dimension_numbers']
  lhs = eqn.invars[0].aval.shape
  out = eqn.outvars[0].aval.shape
  contract = math.prod(lhs[d] for d in lc)
  return 2.0 * math.prod(out) * contract


def _conv_flops(eqn) -> float:
  rhs = eqn.invars[1].aval.shape
  dn = eqn.params['dimension_numbers']
  out = eqn.outvars[0].aval.shape
  # rhs spec: (out feature dim, in feature dim, spatial...); groups are already in rhs' in dim.
  in_dim = rhs[dn.rhs_spec[1]]
  window = math.prod(rhs[d] for d in dn.rhs_spec[2:])
  # With input (lhs) dilation, e.g. the input gradient of a strided convolution, only one tap in
  # prod(dilation) meets a non-zero input.
  dilation = math.prod(eqn.params.get('lhs_dilation') or (1,))
  return 2.0 * math.prod(out) * in_dim * window / dilation


def jaxpr_flops(closed_jaxpr) -> float:
  """2 * multiply-adds of every dot_general / conv in a jaxpr, loop bodies times trip counts."""
  total = 0.0
  for eqn in closed_jaxpr.jaxpr.eqns:
    prim = eqn.primitive.name
    if prim == 'dot_general':
      total += _dot_flops(eqn)
    elif prim == 'conv_general_dilated':
      total += _conv_flops(eqn)
    elif prim == 'scan':
      total += eqn.params['length'] * jaxpr_flops(eqn.params['jaxpr'])
    elif prim == 'cond':
      total += max(jaxpr_flops(b) for b in eqn.params['branches'])
    elif prim == 'while':  # trip count unknown at trace time: counted once
      total += jaxpr_flops(eqn.params['body_jaxpr']) + jaxpr_flops(eqn.params['cond_jaxpr'])
    else:
      for v in eqn.params.values():
        for sub in (v if isinstance(v, (tuple, list)) else (v,)):
          if isinstance(sub, jax.extend.core.ClosedJaxpr):
            total += jaxpr_flops(sub)
          elif isinstance(sub, jax.extend.core.Jaxpr):
            total += jaxpr_flops(jax.extend.core.ClosedJaxpr(sub, ()))
  return total


# -------------------------------------------------------------------------------- mnist classifier

def cases_mnist_classifier(c, label):
  from experiments.mnist_classifier import train
  b = c.batch_size
  return [Case(label, 'train step', train.train_step,
               lambda: (train.create_state(c, _key(c.seed)),
                        {'image': _images((b, 28, 28, 1)), 'label': _labels(b, 10)}),
               b, c.num_steps)]


# ---------------------------------------------------------------------------------------- racecar

def _racecar_case(label, c, model, x_shape, y, method, steps, *, logits_from='out', note='',
                  n_classes=None, init_x=None):
  """A racecar chain trained with `training.make_train_step` (the step of `common.run_phase`)."""
  from experiments.racecar import common
  from rvl_jax.racecar import training
  from rvl_jax.racecar.layers import ReverseConfig
  reg = common.reg_from_config(method, c)
  b = x_shape[0]

  def make_args():
    x0 = jnp.zeros((2,) + tuple(x_shape[1:]), jnp.float32) if init_x is None else init_x()
    st = common.create_state(model, x0, 0, common.make_optimizer(c), reverse=ReverseConfig())
    return st, {'x': _images(x_shape), 'y': y(b)}
  return Case(label, f'{method} step', training.make_train_step(reg, 'softmax_ce', logits_from),
              make_args, b, steps, note)


def cases_racecar(c, label):
  from experiments.racecar import e2_peak, e3_mi, e4_infogan, e6_cifar, e9_smoke, e10_vgg, models
  from rvl_jax.racecar.layers import RacecarChain, ReverseConfig, dense_spec
  from rvl_jax.core import train_state
  import optax
  e = c.experiment
  if e == 'e1':
    n = len(c.pairs) * len(c.methods) * c.num_steps
    return [_racecar_case(label, c, RacecarChain((dense_spec(10, activation=None),)), (2, 784),
                          lambda b: _onehot(b, 10), 'rr', n,
                          note='two images, full batch; every method costed at the RR step')]
  if e == 'e2':
    n = len(c.archs) * len(c.methods) * len(c.seeds) * c.num_steps
    return [_racecar_case(label, c, RacecarChain(e2_peak.ARCHS['c']), (100, 784),
                          lambda b: _onehot(b, 2), 'rr', n,
                          note="architecture (c), 100 peak images full batch; all archs/methods "
                               "costed at it")]
  if e == 'e3':
    k = int(4096 * 0.8) // c.batch_size
    per_seed = len(c.methods) * (c.epochs + 2 * c.finetune_epochs) + c.epochs + c.finetune_epochs
    return [_racecar_case(label, c, e3_mi.make_model(c), (c.batch_size, 12),
                          lambda b: _onehot(b, 2), 'rr', len(c.seeds) * per_seed * k,
                          logits_from='linear',
                          note=f'one optimizer step ({k} per epoch, scanned per epoch in the run)')]
  if e in ('e5', 'e6', 'e7', 'e10'):
    if e == 'e10':
      per_seed = c.pretrain_steps + 2 * c.train_steps
    else:
      per_seed = (len(c.methods) * (c.num_steps + 2 * c.finetune_steps) + c.num_steps
                  + c.finetune_steps)
    n = len(c.seeds) * per_seed
    if e == 'e5':
      return [_racecar_case(label, c, models.mnist_cnn(tuple(c.channels)), (c.batch_size, 28, 28, 1),
                            lambda b: _onehot(b, 10), 'rr', n, note='every phase costed at RR')]
    if e == 'e10':
      return [_racecar_case(label, c, e10_vgg.tiny_vgg(c), (c.batch_size, c.patch, c.patch, 3),
                            lambda b: _onehot(b, len(e10_vgg.TRAIN_IMAGES)), 'rr', n,
                            note='pre-training and Std phases costed at RR')]
    model = e6_cifar._model(c, c.classes_a)  # pylint: disable=protected-access
    b = c.batch_size

    def make_args():
      v = e6_cifar._init(model, c, jnp.zeros((2, 32, 32, 3)), 0)  # pylint: disable=protected-access
      st = train_state.TrainState.create(apply_fn=model.apply, params=v['params'],
                                         tx=optax.adam(c.learning_rate), rng=_key(0),
                                         batch_stats=v['batch_stats'])
      return st, {'x': _images((b, 32, 32, 3)), 'y': _labels(b, c.classes_a)}
    from experiments.racecar import common
    from rvl_jax.racecar import training
    if e == 'e7':
      method = 'lrr'
      step = e6_cifar.make_resnet_step(common.reg_from_config(method, c), c)
    else:
      method = 'rr'
      step = training.make_train_step(common.reg_from_config(method, c), 'softmax_ce', 'out')
    return [Case(label, f'{method} step', step, make_args, b, n, 'every phase costed at ' + method)]
  if e == 'e8':
    h, w = c.image_size
    return [_racecar_case(label, c, models.texture_cnn(tuple(c.channels), 16),
                          (c.batch_size, h, w, 3), lambda b: _onehot(b, 16), 'rr',
                          len(c.seeds) * len(c.methods) * c.num_steps,
                          note='16 cue-conflict classes; every method costed at RR')]
  if e == 'e4':
    G, D = e4_infogan.generator(c), e4_infogan.Discriminator(tuple(c.d_channels), c.d_hidden)
    b = c.batch_size

    def make_args():
      vg = G.init(_key(0), jnp.zeros((2, e4_infogan.ZDIM)), train=False, reverse=ReverseConfig('rr1'))
      vd = D.init(_key(1), jnp.zeros((2, 28, 28, 1)))
      st = train_state.TrainState.create(apply_fn=G.apply, params={'g': vg['params'], 'd': vd['params']},
                                         tx=optax.adam(c.learning_rate, b1=0.5), rng=_key(2),
                                         batch_stats=vg['batch_stats'])
      return st, {'x': _images((b, 28, 28, 1))}
    return [Case(label, 'rr1 GAN step (G + D)', e4_infogan.make_step(c, G, D, 'rr1'), make_args, b,
                 len(c.methods) * c.num_steps, 'Std costed at RR1')]
  if e == 'e9':
    G, D = e9_smoke.generator(c), e9_smoke.Discriminator(tuple(c.d_channels))
    b, s, lo = c.batch_size, c.size, c.size // c.factor

    def make_args():
      pg = G.init(_key(0), jnp.zeros((2, lo, lo, 1)), reverse=ReverseConfig('full'))['params']
      pd = D.init(_key(1), jnp.zeros((2, s, s, 1)), jnp.zeros((2, lo, lo, 1)))['params']
      st = train_state.TrainState.create(apply_fn=G.apply, params={'g': pg, 'd': pd},
                                         tx=optax.adam(c.learning_rate, b1=0.5), rng=_key(2))
      return st, {'hi': _images((b, s, s, 1)), 'lo': _images((b, lo, lo, 1), 3)}
    return [Case(label, 'rr GAN step (G + D)', e9_smoke.make_gan_step(c, G, D, 'rr'), make_args, b,
                 len(c.seeds) * 2 * c.gan_steps,
                 'Std costed at RR; the autoencoder phases (ae_steps) are not included')]
  raise ValueError(f"argument 'config.experiment': unknown racecar experiment {e!r}")


# -------------------------------------------------------------------------------------------- ABS

def abs_inference_case(label, *, batch, n_samples, n_iter, calls, note, micro_batch=32):
  """The ABS latent search (``inference.latent_search``) on one batch, from abstract VAEs."""
  from rvl_jax.abs import inference as inf
  from rvl_jax.abs import nets
  n_bank = n_samples

  def make_args():
    # fuse_decoder folds BatchNorm with NumPy, so it gets concrete (constant) VAE variables.
    shapes = jax.eval_shape(nets.VAE().init, _key(0), jnp.zeros((1, 28, 28, 1)))
    v = jax.tree_util.tree_map(lambda l: np.full(l.shape, 0.05, l.dtype), shapes)
    params = inf.stack_fused([inf.fuse_decoder(v)] * 10)
    z = jax.random.normal(_key(1), (n_bank, nets.LATENT_SIZE))
    imgs = _images((10, n_bank, 784), 2)  # stands in for the decoded bank (same shape)
    return params, z, imgs, jnp.sum(imgs ** 2, -1), _images((batch, 784))

  def fn(params, z, imgs, sq, x):
    return inf.latent_search(params, z, imgs, sq, x, n_iter=n_iter, micro_batch=micro_batch)
  return Case(label, f'ABS inference (batch {batch}, {n_iter} Adam iterations)', fn, make_args,
              batch, calls, note, train=False, params_of=lambda args: args[0])


def cases_abs(c, label):
  if c.experiment == 'train':
    from rvl_jax.abs import nets, training
    from rvl_jax.core import train_state
    import optax
    b = c.vae.batch_size

    def make_args():
      model = nets.VAE()
      v = model.init(_key(0), jnp.zeros((1, 28, 28, 1)))
      st = train_state.TrainState.create(apply_fn=model.apply, params=v['params'],
                                         tx=optax.adam(c.vae.lr), rng=_key(1),
                                         batch_stats=v['batch_stats'])
      return st, {'image': _images((b, 28, 28, 1)), 'beta': jnp.ones((b,))}
    n_eval = MNIST_TEST * (2 if c.eval_binary else 1)
    return [Case(label, 'VAE step', training.make_vae_train_step(nets.LATENT_SIZE, None), make_args,
                 b, 10 * c.vae.num_steps, 'ten class VAEs'),
            abs_inference_case(label, batch=c.abs.batch_size, n_samples=c.abs.n_samples,
                               n_iter=c.abs.n_iter, calls=-(-n_eval // c.abs.batch_size),
                               note='not a gradient step: one clean test-set pass (ABS and '
                                    'binary ABS); lower bounds and distal runs call it more')]
  # robustness: Madry PGD training + the ABS queries of the attacks
  from rvl_jax.abs import baselines, nets
  from rvl_jax.core import train_state
  import optax
  model = nets.MadryCNN()
  b = 50

  def make_args():
    v = model.init(_key(0), jnp.zeros((1, 28, 28, 1)))
    st = train_state.TrainState.create(apply_fn=model.apply, params=v['params'],
                                       tx=optax.adam(c.madry_lr), rng=_key(1))
    return st, {'image': _images((b, 28, 28, 1)), 'label': _labels(b, 10)}
  adv = dict(eps=0.3, steps=c.madry_pgd_steps, step_size=c.madry_pgd_step_size, random_start=True,
             eps_warmup_steps=int(c.madry_eps_warmup_steps))
  step = baselines.make_classifier_train_step(model, adversarial=adv, summed_loss=True)
  return [Case(label, f'Madry PGD-{c.madry_pgd_steps} training step', step, make_args, b,
               c.madry_steps, 'the adversarially trained baseline'),
          abs_inference_case(label, batch=c.abs_batch_size, n_samples=c.abs_bank_size,
                             n_iter=c.abs_query_n_iter, calls=2 * (c.abs_num_images // c.abs_batch_size),
                             note='not a gradient step: one clean pass of ABS and binary ABS; '
                                  'every attack query is one more call')]


# ---------------------------------------------------------------------------------------- SlowVAE

def slowvae_case(label, method, data_shape, batch_pairs, steps, *, arch='reference', latent_dim=10,
                 hidden=(256, 256), likelihood='bernoulli', lr=1e-4, loss=None, note=''):
  from rvl_jax.slowvae import training
  loss = dict(loss or {})
  model = training.make_model(method, arch, latent_dim, data_shape, hidden)

  def make_args():
    _, st = training.create_state(method, arch=arch, latent_dim=latent_dim, data_shape=data_shape,
                                  hidden=hidden, learning_rate=lr)
    shape = (batch_pairs,) + tuple(data_shape)
    return st, {'x1': _images(shape, 1), 'x2': _images(shape, 2)}
  step = training.make_train_step(method, model, likelihood=likelihood, **loss)
  return Case(label, f'{method} step', step, make_args, 2 * batch_pairs, steps,
              note or f'{batch_pairs} pairs')


def cases_slowvae(c, label):
  from rvl_jax.slowvae import datasets
  shape = tuple(datasets.build(c.data).image_shape) if c.data.name != 'nica' else (c.data.nica_obs_dim,)
  return [slowvae_case(label, c.method, shape, c.train.batch_pairs, c.train.num_steps,
                       arch=c.model.arch, latent_dim=c.model.latent_dim,
                       hidden=tuple(c.model.hidden), likelihood=c.model.likelihood,
                       lr=c.train.learning_rate,
                       loss=dict(beta=c.loss.beta, gamma=c.loss.gamma, rate=c.loss.rate,
                                 loss_mode=c.loss.mode),
                       note=f'{c.train.batch_pairs} pairs of {c.data.name} images')]


# -------------------------------------------------------------------------------------- benchmark

def benchmark_case(label, model_name, dataset, batch, steps, note=''):
  from rvl_jax.benchmark import datasets, models
  from rvl_jax.benchmark import train as btrain
  spec = datasets.get_spec(dataset)
  model = models.make_model(model_name, spec.num_factors)

  def make_args():
    st = btrain.init_state(model, spec.image_shape, seed=0, lr=models.DEFAULT_LR[model_name])
    return st, {'image': _images((batch,) + spec.image_shape),
                'target': _images((batch, spec.num_factors), 2)}
  return Case(label, f'{model_name} step', btrain.supervised_train_step, make_args, batch, steps,
              note)


def cases_benchmark(c, label):
  from rvl_jax.benchmark import datasets
  if c.experiment == 'train':
    return [benchmark_case(label, c.model, c.dataset, c.batch_size, c.num_steps)]
  if c.experiment == 'sweep':
    runs = len(c.splits.split(',')) * len(str(c.seeds).split(','))
    return [benchmark_case(label, m, c.dataset, c.run.batch_size, runs * c.run.num_steps,
                           f'{runs} runs (splits x seeds)') for m in c.models.split(',')]
  spec = datasets.get_spec(c.dataset)
  if c.experiment == 'weak':
    values = len(str(c.sweep_values).split(','))
    return [slowvae_case(label, c.method, spec.image_shape, c.batch_size, values * c.num_steps,
                         arch='dislib', lr=c.lr, note=f'{values} sweep values; readout not included')]
  if c.experiment == 'oracle':
    from rvl_jax.benchmark import readout
    from rvl_jax.benchmark import train as btrain
    from rvl_jax.core import train_state
    import optax
    f, b = spec.num_factors, 64
    model = readout.readout_module(f)

    def make_args():
      p = model.init(_key(0), jnp.zeros((1, f)))['params']
      st = train_state.TrainState.create(apply_fn=model.apply, params=p, tx=optax.adam(1e-3),
                                         rng=_key(0))
      return st, {'image': _images((b, f)), 'target': _images((b, f), 2)}
    runs = 2 * len(c.splits.split(','))
    return [Case(label, 'readout MLP step', btrain.supervised_train_step, make_args, b,
                 runs * c.num_steps, f'{runs} readouts (splits x identity/sign flip)')]
  raise ValueError(f"argument 'config.experiment': unknown benchmark experiment {c.experiment!r}")


# ------------------------------------------------------------------------------------------ noise

def noise_cases(label, model, image_shape, batch, *, num_classes, ant_steps, restart_calls,
                restart_steps, gnt_steps=0, eps=1.0, capacity=512, lr=1e-3):
  """GNT (when gnt_steps), ANT joint and ANT restart-generator steps of ``rvl_jax.noise``."""
  import optax
  from rvl_jax.noise import ant, generators, models, training
  spec = generators.GeneratorSpec(channels=image_shape[-1], kind='1x1')
  tx = training.sgd_momentum(lr)
  gen_tx = optax.adam(1e-4)
  data = lambda: {'image': _images((batch,) + tuple(image_shape)),
                  'label': _labels(batch, num_classes)}

  def init():
    return models.init_model(model, _key(0), image_shape)

  def gnt_args():
    params, bs = init()
    return training.create_state(model, params, bs, tx, _key(1)), data()

  def ant_args():
    params, bs = init()
    gp = generators.init_generator(spec, _key(2), (1,) + tuple(image_shape[:2]))
    st = ant.init_ant_state(params=params, batch_stats=bs, classifier_tx=tx, gen_params=gp,
                            gen_tx=gen_tx, rng=_key(3), capacity=capacity)
    return st, data()

  def restart_args():
    params, bs = init()
    gp = generators.init_generator(spec, _key(2), (1,) + tuple(image_shape[:2]))
    st = ant.RestartState(step=jnp.zeros((), jnp.int32), gen_params=gp,
                          gen_opt_state=gen_tx.init(gp), rng=jax.random.key_data(_key(4)),
                          clf_params=params, clf_batch_stats={} if bs is None else bs)
    return st, data()

  out = []
  if gnt_steps:
    out.append(Case(label, 'GNT step (sigma 0.5)', training.make_noise_train_step(model, 'gaussian'),
                    gnt_args, batch, gnt_steps, 'vanilla pre-training and noise arms'))
  if ant_steps:
    out.append(Case(label, 'ANT1x1 joint step', ant.make_ant_train_step(model, spec, gen_tx, tx, eps),
                    ant_args, batch, ant_steps, 'generator + classifier update, replay buffer'))
    out.append(Case(label, 'ANT restart-generator step',
                    ant.make_restart_step(model, spec, gen_tx, eps), restart_args, batch,
                    restart_calls * restart_steps,
                    f'{restart_calls} restarts x {restart_steps} steps',
                    params_of=lambda args: args[0].gen_params))
  return out


def cases_noise(c, label):
  from rvl_jax.noise import models
  if c.experiment == 'imagenet':
    spe = IMAGENET_TRAIN_IMAGES // c.batch_size
    joint = c.epochs * spe
    restart_every = max(int(round(c.ant.restart_every_epochs * spe)), 1)
    return noise_cases(label, models.build_model(c.model, num_classes=c.num_classes),
                       (c.image_size, c.image_size, 3), c.batch_size, num_classes=c.num_classes,
                       ant_steps=joint, restart_calls=-(-joint // restart_every),
                       restart_steps=c.ant.restart_steps, eps=c.ant.eps, lr=c.lr)
  t = c.train
  n_train = c.data.train_size or 4000
  spe = n_train // t.batch_size
  seeds = len(c.seeds)
  ft = t.finetune_epochs * spe
  pre = t.pretrain_epochs * spe
  model = models.build_model(t.model)
  if c.experiment == 'sigma_sweep':
    return noise_cases(label, model, (28, 28, 1), t.batch_size, num_classes=10, ant_steps=0,
                       restart_calls=0, restart_steps=0,
                       gnt_steps=seeds * (pre + len(c.sweep_sigmas) * ft))
  ant_arms = [a for a in c.arms if a.startswith('ant')]
  noise_arms = len(c.arms) - len(ant_arms)
  restarts = -(-ft // (c.ant.restart_every_epochs * spe))
  return noise_cases(label, model, (28, 28, 1), t.batch_size, num_classes=10,
                     ant_steps=seeds * len(ant_arms) * ft,
                     restart_calls=seeds * len(ant_arms) * restarts,
                     restart_steps=c.ant.restart_steps, gnt_steps=seeds * (pre + noise_arms * ft),
                     capacity=c.ant.capacity, lr=t.finetune_lr)


BUILDERS = {'mnist_classifier': cases_mnist_classifier, 'racecar': cases_racecar, 'abs': cases_abs,
            'slowvae': cases_slowvae, 'benchmark': cases_benchmark, 'noise': cases_noise}


def config_cases(system: str, name: str, variant: str = 'paper') -> List[Case]:
  """The cases of one config (``variant`` 'paper', or a smaller one for the accelerator benchmark)."""
  if system not in BUILDERS:
    raise ValueError(f"argument 'system': expected one of {sorted(BUILDERS)}, got {system!r}")
  return BUILDERS[system](load_config(system, name, variant), f'{system}/{name}')


def all_cases(only: Optional[Sequence[str]] = None, variant: str = 'paper') -> List[Case]:
  out = []
  for system, name in PAPER_CONFIGS:
    if only and f'{system}/{name}' not in only:
      continue
    out.extend(config_cases(system, name, variant))
  return out


# --------------------------------------------------------------------------------------- compile

def _cost_flops(compiled) -> float:
  ca = compiled.cost_analysis()
  if isinstance(ca, (list, tuple)):
    ca = ca[0] if ca else {}
  return float((ca or {}).get('flops', float('nan')))


def peak_bytes(compiled) -> int:
  m = compiled.memory_analysis()
  if m is None:
    return -1
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
             - m.alias_size_in_bytes)


def analyse(case: Case, fraction: float = DEFAULT_FRACTION) -> dict:
  """Lowers and compiles one case; returns its row of the table."""
  t0 = time.perf_counter()
  args = case.abstract_args()
  lowered = case.jitted().lower(*args)
  compiled = lowered.compile()
  seconds = time.perf_counter() - t0
  xla = _cost_flops(compiled)
  counted = jaxpr_flops(jax.make_jaxpr(case.fn)(*args))
  flops = max(v for v in (xla, counted) if np.isfinite(v))
  step_s = flops / (PEAK_TF32 * fraction)
  return dict(config=case.config, name=case.name, params=count_params(case.params_of(args)),
              global_batch=case.global_batch, flops_xla=xla, flops_counted=counted, flops=flops,
              peak_bytes=peak_bytes(compiled), steps=case.steps, step_seconds=step_s,
              hours=step_s * case.steps / 3600.0,
              hours_fp32=flops / (PEAK_FP32 * fraction) * case.steps / 3600.0,
              compile_seconds=seconds, note=case.note)


def _fmt(x, unit=''):
  if not np.isfinite(x):
    return 'n/a'
  for div, suffix in ((1e15, 'P'), (1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
    if abs(x) >= div:
      return f'{x / div:.3g} {suffix}{unit}'
  return f'{x:.3g} {unit}'.strip()


def _fmt_time(s):
  if s < 1e-3:
    return f'{s * 1e6:.3g} µs'
  if s < 1:
    return f'{s * 1e3:.3g} ms'
  return f'{s:.3g} s'


def markdown_table(rows, fraction: float) -> str:
  head = ('| config | computation | params | global batch | FLOPs/step (XLA) | FLOPs/step '
          '(dot+conv, loops x trips) | peak memory | steps | projected step | GPU-hours '
          f'(TF32, {fraction:.0%}) | GPU-hours (FP32, {fraction:.0%}) | note |')
  lines = [head, '|' + '---|' * 12]
  for r in rows:
    lines.append(
        f"| {r['config']} | {r['name']} | {_fmt(r['params'])} | {r['global_batch']} | "
        f"{_fmt(r['flops_xla'])} | {_fmt(r['flops_counted'])} | {_fmt(r['peak_bytes'], 'B')} | "
        f"{_fmt(r['steps'])} | {_fmt_time(r['step_seconds'])} | {r['hours']:.3g} | "
        f"{r['hours_fp32']:.3g} | {r['note']} |")
  return '\n'.join(lines)


def write_section(path: str, text: str, marker: str = 'paper_scale') -> None:
  """Replaces the generated section ``marker`` of ``path`` (between HTML comments), keeping the
  rest of the file; appends the section when it is not there yet. Atomic."""
  begin, end = f'<!-- {marker}:begin -->', f'<!-- {marker}:end -->'
  old = open(path).read() if os.path.exists(path) else ''
  block = f'{begin}\n{text}\n{end}'
  if begin in old and end in old:
    new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
  else:
    new = (old.rstrip() + '\n\n' if old else '') + block + '\n'
  with rio.atomic_write(path, 'w') as f:
    f.write(new)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--only', default='', help='comma-separated system/config names (default: all)')
  ap.add_argument('--out', default='docs/paper_scale.md', help="markdown file ('' = print only)")
  ap.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                  help='concurrent compilations (threads)')
  ap.add_argument('--fraction', type=float, default=DEFAULT_FRACTION,
                  help='assumed fraction of the GPU peak reached by the step')
  a = ap.parse_args(argv)
  if not 0 < a.fraction <= 1:
    raise ValueError(f"argument '--fraction': expected a value in (0, 1], got {a.fraction}")
  only = [s for s in a.only.split(',') if s]
  known = {f'{s}/{n}' for s, n in PAPER_CONFIGS}
  bad = [s for s in only if s not in known]
  if bad:
    raise ValueError(f"argument '--only': unknown configs {bad}; expected some of {sorted(known)}")
  from rvl_jax.core import progress
  t0 = time.perf_counter()
  cases = all_cases(only or None)
  bar = progress.Progress(len(cases), desc='compile', unit='step')
  # XLA compiles outside the GIL: a thread per core overlaps the compilations.
  with concurrent.futures.ThreadPoolExecutor(max(a.workers, 1)) as pool:
    futures = [pool.submit(analyse, case, a.fraction) for case in cases]
    try:
      for fut in concurrent.futures.as_completed(futures):
        r = fut.result()
        bar.update(1)
        print(f"{r['config']:28s} {r['name']:44s} compile {r['compile_seconds']:6.1f} s  "
              f"{_fmt(r['flops'])}FLOP  {_fmt(r['peak_bytes'], 'B')}  {r['hours']:.3g} GPU-h",
              flush=True)
    finally:
      bar.close()
  rows = [f.result() for f in futures]
  total = time.perf_counter() - t0
  table = markdown_table(rows, a.fraction)
  summary = (f'{len(rows)} computations of {len({r["config"] for r in rows})} configs lowered and '
             f'compiled in {total:.0f} s on {jax.device_count()} {jax.devices()[0].platform.upper()} '
             f'device(s) (jax {jax.__version__}); total projected '
             f'{sum(r["hours"] for r in rows):.4g} GPU-hours at {a.fraction:.0%} of the TF32 peak.')
  print(summary)
  if a.out:
    write_section(a.out, summary + '\n\n' + table)
  return rows


if __name__ == '__main__':
  main()
