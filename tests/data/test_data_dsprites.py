import chex
import numpy as np
import pytest

from rvl_jax.data import dsprites, ground_truth


@pytest.fixture(scope="module")
def data():
  return dsprites.ProceduralDSprites()


def test_factor_grid(data):
  assert data.factor_sizes == (3, 6, 40, 32, 32)
  assert data.factor_names == ("shape", "scale", "orientation", "x-position", "y-position")
  assert data.num_images == 737_280
  idx = np.array([0, 1, 32, 1024, 737_279, 123_456])
  f = data.index_to_factors(idx)
  np.testing.assert_array_equal(f[0], [0, 0, 0, 0, 0])
  np.testing.assert_array_equal(f[1], [0, 0, 0, 0, 1])  # y-position varies fastest
  np.testing.assert_array_equal(f[2], [0, 0, 0, 1, 0])
  np.testing.assert_array_equal(f[4], [2, 5, 39, 31, 31])
  np.testing.assert_array_equal(data.factors_to_index(f), idx)
  every = data.index_to_factors(np.arange(0, data.num_images, 997))
  np.testing.assert_array_equal(data.factors_to_index(every), np.arange(0, data.num_images, 997))


def test_renderer_deterministic_and_batch_independent(data):
  f = data.sample_factors(np.random.default_rng(3), 50)
  a = data.images_from_factors(f)
  b = data.images_from_factors(f)
  alone = np.concatenate([data.images_from_factors(f[i : i + 1]) for i in range(5)])
  chex.assert_shape(a, (50, 64, 64, 1))
  assert a.dtype == np.float32 and set(np.unique(a)) <= {0.0, 1.0}
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a[:5], alone)
  np.testing.assert_array_equal(data.images_from_indices(data.factors_to_index(f)), a)


def test_windowed_renderer_equals_full_canvas(data):
  from experiments.speed.dsprites_render import numpy_render

  f = data.sample_factors(0, 300)
  f[:20, 3] = 0  # sprites at the borders, where the window is clipped
  f[20:40, 4] = 31
  np.testing.assert_array_equal(data.images_from_factors(f)[..., 0], numpy_render(f))


def _distinct(images):
  return len({im.tobytes() for im in images})


def test_every_factor_changes_pixels(data):
  base = np.array([2, 3, 7, 10, 20])
  for k, size in enumerate(data.factor_sizes):
    f = np.repeat(base[None], size, 0)
    f[:, k] = np.arange(size)
    n = _distinct(data.images_from_factors(f))
    if k == 2:
      assert n == 39  # heart: 0 and 39 coincide, all others distinct
    else:
      assert n == size, (data.factor_names[k], n)


def test_orientation_ambiguity_as_specified(data):
  for shape in range(3):
    for scale in range(6):
      f = np.array([[shape, scale, o, 16, 16] for o in range(40)])
      images = data.images_from_factors(f)
      np.testing.assert_array_equal(images[0], images[39])
      n = _distinct(images)
      if shape == 0:
        # Squares: neighbouring orientations can coincide after rasterisation, most at the
        # smallest scale (34 of 40 measured at the centre on the original data).
        assert n == 34 if scale == 0 else 34 <= n <= 39, (scale, n)
      else:
        assert n == 39, (shape, scale, n)


def test_images_look_like_sprites(data):
  images = data.images_from_factors(
    np.array([[0, 5, 0, 16, 16], [1, 5, 0, 16, 16], [2, 5, 0, 16, 16]])
  )
  areas = images.sum(axis=(1, 2, 3))
  # square (2s)^2 = 324 px; ellipse pi*1.25*0.62*81 = 197 px; heart (area of the curve ~3.5
  # in its own units) * 1.15^2 * 81 ~ 375 px.
  assert 300 < areas[0] < 350 and 180 < areas[1] < 215 and 340 < areas[2] < 420
  ys, xs = np.nonzero(images[0, ..., 0])
  centre = 13 + 16 / 31 * (64 - 26)  # c = m + pos * (64 - 2m)
  assert abs(xs.mean() + 0.5 - centre) < 0.5 and abs(ys.mean() + 0.5 - centre) < 0.5


def test_bad_factor_errors(data):
  with pytest.raises(ValueError, match=r"factor 'scale' \(column 1\) must be in \[0, 5\], got 6"):
    data.images_from_factors(np.array([[0, 6, 0, 0, 0]]))
  with pytest.raises(
    ValueError, match=r"argument 'factors': expected shape \(N, 5\), got \(2, 4\)"
  ):
    data.images_from_factors(np.zeros((2, 4), np.int32))
  with pytest.raises(TypeError, match="expected integer factor indices"):
    data.images_from_factors(np.full((1, 5), 0.5))
  with pytest.raises(ValueError, match=r"argument 'indices': expected indices in \[0, 737279\]"):
    data.index_to_factors([737_280])


def test_quarter_orientation_variant():
  q = dsprites.ProceduralDSprites(orientation_range="quarter")
  full = dsprites.ProceduralDSprites()
  assert q.factor_sizes == (3, 6, 10, 32, 32)
  f = q.sample_factors(1, 20)
  np.testing.assert_array_equal(q.images_from_factors(f), full.images_from_factors(f))


def test_sampling_rng_types(data):
  import jax

  a = data.sample_factors(jax.random.PRNGKey(0), 8)
  b = data.sample_factors(jax.random.PRNGKey(0), 8)
  np.testing.assert_array_equal(a, b)
  assert ground_truth.as_numpy_rng(5).integers(100) == np.random.default_rng(5).integers(100)


def _write_standin(path, shuffle):
  """A tiny dSprites-format file on a 3x2x2x2x2 grid (with the constant colour column)."""
  sizes = (3, 2, 2, 2, 2)
  grid = np.stack(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"), -1).reshape(-1, 5)
  latents = np.concatenate([np.zeros((len(grid), 1), np.int64), grid], 1)
  imgs = np.zeros((len(grid), 64, 64), np.uint8)
  for i, row in enumerate(grid):
    imgs[i, row[3] * 10 : row[3] * 10 + 5, row[4] * 10 : row[4] * 10 + 5 + row[1]] = 1
    imgs[i, 40 + row[0], row[2]] = 1
  order = np.random.default_rng(0).permutation(len(grid)) if shuffle else np.arange(len(grid))
  np.savez(path, imgs=imgs[order], latents_classes=latents[order])
  return grid, imgs


@pytest.mark.parametrize("shuffle", [False, True])
def test_file_loader_on_standin(tmp_path, shuffle):
  path = str(tmp_path / "dsprites.npz")
  grid, imgs = _write_standin(path, shuffle)
  data = dsprites.load_dsprites(source="file", path=path)
  assert data.name == "dsprites" and data.factor_sizes == (3, 2, 2, 2, 2)
  out = data.images_from_factors(grid[[5, 0, 17]])
  np.testing.assert_array_equal(out[..., 0], imgs[[5, 0, 17]].astype(np.float32))
  auto = dsprites.load_dsprites(source="auto", path=path)
  assert auto.name == "dsprites"


def test_missing_file_error(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"argument 'path': dSprites file not found"):
    dsprites.load_dsprites(source="file", path=str(tmp_path / "nope.npz"))
  with pytest.raises(ValueError, match=r"argument 'source': expected one of"):
    dsprites.load_dsprites(source="web")
  assert dsprites.load_dsprites(source="auto", data_dir=str(tmp_path)).name == "dsprites-procedural"


def test_tfds_not_prepared_is_clear(tmp_path):
  with pytest.raises(
    FileNotFoundError, match=r"argument 'data_dir': tfds 'dsprites' is not prepared"
  ):
    dsprites.load_dsprites(source="tfds", data_dir=str(tmp_path))
