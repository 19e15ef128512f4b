"""The factor family's models on procedural dSprites (or the Shapes3D-like renderer), each
trained per benchmark split and returned behind the StudyModel interface (task 'regress':
normalised factor values).

Models: the benchmark's supervised zoo (``rvl_jax.benchmark.models``: 'cnn', 'mlp',
'coordconv', 'rot_eq', ...; Schott et al., ICLR 2022, section 4); the benchmark CNN trained with
Gaussian noise (GNT, Rusak et al., ECCV 2020, section 3, on the regression loss) or fine-tuned
with adversarial noise (ANT, section 3.2, the generator maximising the squared error); a racecar
chain with the benchmark CNN's layers trained with the RR regulariser on the MSE (Xie & Thuerey,
section 3); and a SlowVAE encoder (Klindt et al., ICLR 2021, section 4) or a PCL encoder
(Hyvarinen & Morioka 2017) trained without labels on transition pairs, each with a linear readout
fitted on the split's training labels.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax import benchmark as bench
from rvl_jax.benchmark import models as bench_models
from rvl_jax.benchmark import train as bench_train
from rvl_jax.core import loop, prng, validation
from rvl_jax.data import batching, dsprites
from rvl_jax.noise import ant, generators, gnt
from rvl_jax.racecar import layers as rc_layers
from rvl_jax.racecar import training as rc_training
from rvl_jax.slowvae import pairs as slow_pairs
from rvl_jax.slowvae import training as slow_training
from rvl_jax.study import cache as cache_lib
from rvl_jax.study import interface, runner, zoo

SPLITS = ("random", "composition", "interpolation", "extrapolation")


@dataclasses.dataclass(frozen=True)
class FactorSettings:
  """Data, training and scenario settings of the factor family (defaults: the CPU study)."""

  dataset: str = "dsprites"
  n_test: int = 500  # test images per split
  batch_size: int = 64
  steps: int = 1000
  lr: float = 5e-4
  gnt_sigma: float = 0.3
  rr_lam: float = 1e-3  # racecar lambda on the MSE objective ('mean' reduction)
  # ANT: clean training, then the last ant_fraction of the steps fine-tuned with adversarial
  # noise of radius eps(gnt_sigma), ant_blocks generator restarts of ant_restart_steps each
  ant_fraction: float = 0.3
  ant_blocks: int = 2
  ant_restart_steps: int = 25
  slowvae_steps: int = 1500
  slowvae_latents: int = 10
  slowvae_rate: float = 1.0  # Laplace transition rate of the pairs (the paper: 1)
  readout_n: int = 4000  # training images the linear readout is fitted on
  # scenarios
  n_corrupt: int = 300
  pgd_eps: float = 0.03
  pgd_steps: int = 10
  n_pgd: int = 200
  n_disentangle: int = 1000


DATA_FIELDS = ("dataset", "n_test")
_SUP = ("batch_size", "steps", "lr")
MODEL_FIELDS = {
  "cnn": _SUP,
  "mlp": _SUP,
  "coordconv": _SUP,
  "rot_eq": _SUP,
  "cnn_gnt": _SUP + ("gnt_sigma",),
  "cnn_rr": _SUP + ("rr_lam",),
  "slowvae": ("slowvae_steps", "slowvae_latents", "slowvae_rate", "readout_n", "batch_size"),
  "cnn_ant": _SUP + ("gnt_sigma", "ant_fraction", "ant_blocks", "ant_restart_steps"),
  "pcl": ("slowvae_steps", "slowvae_latents", "slowvae_rate", "readout_n", "batch_size"),
}
MODELS = tuple(MODEL_FIELDS)
SCENARIO_FIELDS = {
  **{f"split_{s}": () for s in SPLITS},
  "corruptions": ("n_corrupt",),
  "pgd_mse": ("pgd_eps", "pgd_steps", "n_pgd"),
  "disentanglement": ("n_disentangle",),
}
VARIANT_OF = {f"split_{s}": s for s in SPLITS}
HEADLINE = (
  "split_random/r2",
  "split_composition/r2",
  "split_interpolation/r2",
  "split_extrapolation/r2",
  "split_interpolation/r2_ood",
  "split_extrapolation/r2_ood",
  "corruptions/r2_mean",
  "pgd_mse/r2",
  "disentanglement/mcc",
  "disentanglement/mig",
  "disentanglement/dci",
)


@dataclasses.dataclass(frozen=True)
class FactorData:
  train: Any  # bench.BenchmarkDataset of the split's training part
  test_images: np.ndarray  # (n_test, H, W, C)
  test_targets: np.ndarray  # normalised factors (n_test, F)
  test_labels: np.ndarray  # factor indices (n_test, F)
  split: str
  memo: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


def load_data(settings: FactorSettings, seed: int, split: str) -> FactorData:
  """The split's training set and a seeded subset of its test set."""
  split = "random" if split == "default" else split
  train = bench.make_dataset(settings.dataset, split, "train", source="procedural")
  test = bench.make_dataset(settings.dataset, split, "test", source="procedural")
  pos = prng.numpy_rng(seed, f"study/factor/test/{split}").permutation(len(test))
  pos = np.sort(pos[: settings.n_test])
  return FactorData(train, test.images(pos), test.targets(pos), test.labels[pos], split)


def _batches(data: FactorData, s: FactorSettings, seed: int, x_key="image", y_key="target"):
  def get_batch(step):
    pos = batching.sample_batch_indices(seed, step, len(data.train), s.batch_size)
    return {x_key: data.train.images(pos), y_key: data.train.targets(pos).astype(np.float32)}

  return get_batch


def _supervised(arch: str, noise: bool = False):
  def train(name, data, seed, workdir, s):
    model = bench_models.make_model(arch, len(data.train.factor_sizes))
    state = bench_train.init_state(model, data.train.image_shape, seed=seed, lr=s.lr)
    get_batch = _batches(data, s, seed)
    if noise:  # GNT on the regression: half of every batch with Gaussian noise, clipped
      clean_batch = get_batch

      def get_batch(step):
        b = clean_batch(step)
        key = jax.random.fold_in(prng.stream_key(seed, "study/factor/gnt"), step)
        b["image"] = np.asarray(gnt.gaussian_noise_batch(key, jnp.asarray(b["image"]), s.gnt_sigma))
        return b

    desc = f"{name} {data.split} s{seed}"
    res = loop.train_once(
      state, bench_train.supervised_train_step, get_batch, s.steps, workdir, desc, log_every=200
    )
    st = jax.device_get(res.state)
    return interface.from_flax(name, st.apply_fn, st.variables(), task="regress", train=False)

  return train


def racecar_benchmark_cnn(num_outputs: int) -> rc_layers.RacecarChain:
  """The benchmark CNN's conv stack (4x4 stride-2 convolutions 32-32-64-64, then 4x4 256) as a
  racecar chain, with its dense output head outside the regulariser."""
  specs = tuple(rc_layers.conv_spec(c, 4, 2) for c in (32, 32, 64, 64))
  specs += (rc_layers.conv_spec(256, 4, 1, padding="VALID"),)
  return rc_layers.RacecarChain(specs, head=(num_outputs,), head_pool="flatten")


def _racecar_rr(name, data, seed, workdir, s):
  chain = racecar_benchmark_cnn(len(data.train.factor_sizes))
  get_batch = _batches(data, s, seed, "x", "y")
  state = zoo.racecar_state(
    chain,
    get_batch(0)["x"][:2],
    s.lr,
    prng.stream_key(seed, "study/factor/racecar_init"),
    prng.stream_key(seed, "study/factor/racecar"),
  )
  reg = rc_training.RegConfig(method="rr", lam=s.rr_lam, reduction="mean")
  step = rc_training.make_train_step(reg, task_loss="mse")
  desc = f"{name} {data.split} s{seed}"
  res = loop.train_once(state, step, get_batch, s.steps, workdir, desc, log_every=200)
  params = jax.device_get(res.state.params)

  def predict(x):
    return chain.apply({"params": params}, x, train=False).out

  def represent(x):
    return jnp.reshape(chain.apply({"params": params}, x, train=False).ds[-1], (x.shape[0], -1))

  return interface.StudyModel(name=name, predict=predict, represent=represent, task="regress")


def _slowvae_encoder(seed: int, workdir: str, s: FactorSettings, method: str = "slowvae"):
  """An encoder trained without labels on Laplace transition pairs over the whole grid: the
  SlowVAE (Klindt et al. 2021, section 4) or PCL (``method='pcl'``: Hyvarinen & Morioka 2017,
  the logistic regression of true against permuted pairs, as in Klindt et al.'s baselines)."""
  ground_truth = dsprites.ProceduralDSprites()
  sampler = slow_pairs.make_sampler(
    "lap", ground_truth.factor_sizes, ground_truth.categorical, rate=s.slowvae_rate
  )
  pair_data = slow_pairs.PairData(ground_truth, sampler)
  model, state = slow_training.create_state(
    method, latent_dim=s.slowvae_latents, data_shape=ground_truth.image_shape, seed=seed
  )

  def get_batch(step):
    return {
      k: v for k, v in pair_data.batch(seed, step, s.batch_size // 2).items() if k in ("x1", "x2")
    }

  step_fn = slow_training.make_train_step(method, model)
  res = loop.train_once(
    state, step_fn, get_batch, s.slowvae_steps, workdir, f"{method} s{seed}", log_every=200
  )
  return slow_training.pure_representation(method, model, jax.device_get(res.state.params))


def _slowvae(name, data, seed, workdir, s, method: str = "slowvae"):
  enc_fields = {
    k: getattr(s, k) for k in ("slowvae_steps", "slowvae_latents", "slowvae_rate", "batch_size")
  }
  prefix = "encoder" if method == "slowvae" else f"encoder_{method}"  # SlowVAE's keeps its name
  enc_dir = os.path.join(
    os.path.dirname(os.path.dirname(workdir)),
    f"{prefix}_{cache_lib.settings_hash(enc_fields)}",
    f"s{seed}",
  )
  encode = jax.jit(_slowvae_encoder(seed, enc_dir, s, method))
  rng = prng.numpy_rng(seed, f"study/factor/readout/{data.split}")
  pos = rng.choice(len(data.train), min(s.readout_n, len(data.train)), replace=False)
  z = np.concatenate(
    [np.asarray(encode(data.train.images(pos[i : i + 500]))) for i in range(0, len(pos), 500)]
  )
  design = np.concatenate([z, np.ones((len(z), 1))], 1)
  w, *_ = np.linalg.lstsq(design, data.train.targets(pos), rcond=None)
  w = jnp.asarray(w, jnp.float32)

  def predict(x):
    zz = encode(x)
    return zz @ w[:-1] + w[-1]

  return interface.StudyModel(name=name, predict=predict, represent=encode, task="regress")


def train_cnn_ant(data: FactorData, seed: int, workdir: str, s: FactorSettings, name="cnn_ant"):
  """The benchmark CNN with adversarial noise training (Rusak et al. 2020, section 3.2) on the
  regression: trained clean, then fine-tuned for the last ``ant_fraction`` of ``steps`` (the paper
  fine-tunes a pretrained model) while a noise generator, restarted ``ant_blocks`` times with
  replay of its snapshots, maximises the model's squared error; the noise has the L2 norm of the
  clipped Gaussian noise of GNT's sigma (section 3.2), so ``cnn_ant`` and ``cnn_gnt`` meet
  noise of the same size.

  Returns:
    ``(model, state, config)``: the Flax CNN, the final ``noise.ant.AntState`` (the model's
    parameters, the last generator and its snapshots) and the ``noise.ant.AntConfig`` (its eps).
    With a ``workdir`` that holds a finished run, everything is restored from its checkpoints.
  """
  if not 0.0 < s.ant_fraction <= 1.0:
    raise ValueError(
      f"argument 'settings.ant_fraction': expected a fraction in (0, 1], got {s.ant_fraction!r}"
    )
  validation.check_positive_int("settings.ant_blocks", s.ant_blocks)
  ant_steps = max(1, int(round(s.steps * s.ant_fraction)))
  clean_steps = s.steps - ant_steps
  model = bench_models.make_model("cnn", len(data.train.factor_sizes))
  state = bench_train.supervised(
    model,
    data.train,
    num_steps=clean_steps,
    batch_size=s.batch_size,
    lr=s.lr,
    seed=seed,
    workdir=os.path.join(workdir, "clean"),
    log_every=200,
    checkpoint_every=max(clean_steps, 1),
    desc=f"{name} clean {data.split} s{seed}",
  ).state
  get_batch = _batches(data, s, seed, y_key="label")
  rng = prng.numpy_rng(seed, f"study/factor/ant_eps/{data.split}")
  sample = data.train.images(np.sort(rng.choice(len(data.train), 512, replace=False)))
  config = ant.AntConfig(
    eps=gnt.epsilon_for_sigma(sample, s.gnt_sigma),
    num_steps=ant_steps,
    restart_every=-(-ant_steps // s.ant_blocks),
    restart_steps=s.ant_restart_steps,
    log_every=200,
    loss=bench_train.sum_mse_loss,
  )
  final, _ = ant.run_ant(
    model=model,
    params=jax.device_get(state.params),
    batch_stats=None,
    classifier_tx=optax.adam(s.lr),
    gen_spec=generators.ANT1x1(data.train.image_shape[-1]),
    config=config,
    get_batch=lambda step: get_batch(clean_steps + step),
    key=prng.stream_key(seed, f"study/factor/ant/{data.split}"),
    workdir=os.path.join(workdir, "ant"),
    desc=f"{name} {data.split} s{seed}",
  )
  return model, final, config


def _cnn_ant(name, data, seed, workdir, s):
  model, final, _ = train_cnn_ant(data, seed, workdir, s, name)
  return interface.from_flax(
    name, model.apply, {"params": final.params}, task="regress", train=False
  )


TRAINERS: Dict[str, Any] = {
  "cnn": _supervised("cnn"),
  "mlp": _supervised("mlp"),
  "coordconv": _supervised("coordconv"),
  "rot_eq": _supervised("rot_eq"),
  "cnn_gnt": _supervised("cnn", noise=True),
  "cnn_rr": _racecar_rr,
  "slowvae": _slowvae,
  "cnn_ant": _cnn_ant,
  "pcl": functools.partial(_slowvae, method="pcl"),
}


def train_model(
  name: str, data: FactorData, seed: int, workdir: str, settings: FactorSettings
) -> interface.StudyModel:
  return zoo.train_named(TRAINERS, name, data, seed, workdir, settings)


def family() -> runner.Family:
  """The factor family: this module's data and models with ``factor_scenarios.SCENARIOS``.

  Built on call (not at import) because ``factor_scenarios`` imports this module's data types.

  Returns:
    The ``runner.Family`` of the factor study.
  """
  from rvl_jax.study import factor_scenarios  # pylint: disable=import-outside-toplevel

  return runner.Family(
    name="factor",
    load_data=load_data,
    train_model=train_model,
    scenarios=factor_scenarios.SCENARIOS,
    model_fields=MODEL_FIELDS,
    scenario_fields=SCENARIO_FIELDS,
    data_fields=DATA_FIELDS,
    variant_of=VARIANT_OF,
    same_model={"default": "random"},  # the corruption, PGD and disentanglement scenarios
    reference="cnn",
  )
