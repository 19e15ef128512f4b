"""Reference split-file format, full-grid readers, loaders and the shapes3d-like renderer."""

import numpy as np
import pytest

from rvl_jax import benchmark as bench
from rvl_jax.benchmark import data, datasets, io, render, splits


def test_split_npz_round_trip_and_loader(tmp_path):
  rng = np.random.default_rng(0)
  idx = np.sort(rng.choice(splits.make_split("shapes3d", "extrapolation").test, 10, replace=False))
  labels = datasets.index_to_factors(datasets.SPEC["shapes3d"].factor_sizes, idx)
  images = rng.random((10, 64, 64, 3)).astype(np.float32)
  io.save_split_npz(str(tmp_path), "shapes3d", "extrapolation", "test", images, labels)
  with np.load(tmp_path / "shapes3d_extrapolation_test_images.npz") as z:
    assert z["arr_0"].shape == (10, 3, 64, 64) and z["arr_0"].dtype == np.uint8  # reference CHW
  with np.load(tmp_path / "shapes3d_extrapolation_test_labels.npz") as z:
    np.testing.assert_array_equal(z["arr_0"], labels)
  loader = bench.load_dataset(
    "shapes3d", "extrapolation", "test", data_dir=str(tmp_path), batch_size=4, shuffle=False
  )
  assert loader.dataset.source == "split_files" and len(loader) == 3
  x, y = next(iter(loader))
  assert x.shape == (4, 64, 64, 3) and x.dtype == np.float32 and y.shape == (4, 6)
  np.testing.assert_allclose(x, images[:4], atol=0.5 / 255 + 1e-6)
  np.testing.assert_allclose(
    y, labels[:4] / (np.array(datasets.SPEC["shapes3d"].factor_sizes) - 1), atol=1e-6
  )
  np.testing.assert_array_equal(loader.dataset.grid_indices, idx)
  # NCHW layout for models written against the reference API
  x2, _ = next(
    iter(
      bench.load_dataset(
        "shapes3d",
        "extrapolation",
        "test",
        data_dir=str(tmp_path),
        batch_size=4,
        shuffle=False,
        layout="NCHW",
      )
    )
  )
  assert x2.shape == (4, 3, 64, 64)


def test_binary_uint8_rule(tmp_path):
  imgs = np.zeros((3, 1, 64, 64), np.uint8)
  imgs[:, :, 10:20, 10:20] = 1  # dSprites-style {0, 1} uint8
  np.savez(tmp_path / "dsprites_random_train_images.npz", imgs)
  np.savez(tmp_path / "dsprites_random_train_labels.npz", np.array([[0, 1, 2, 3, 4]] * 3))
  ds = data.make_dataset("dsprites", "random", "train", data_dir=str(tmp_path))
  x = ds.images([0, 1])
  assert x.max() == 1.0 and set(np.unique(x)) == {0.0, 1.0}
  assert io.images_to_float(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
  assert io.images_to_float(np.array([0.25], np.float64)).tolist() == [0.25]
  np.savez(tmp_path / "dsprites_random_test_images.npz", imgs)
  np.savez(tmp_path / "dsprites_random_test_labels.npz", np.zeros((3, 4)))
  with pytest.raises(ValueError, match="labels"):
    data.make_dataset("dsprites", "random", "test", data_dir=str(tmp_path))


def test_full_grid_npy_memmap(tmp_path):
  """A full-grid stand-in (real number of rows, tiny images) read through the split rules."""
  spec = datasets.SPEC["celeb_glow"]
  path = tmp_path / "grid.npy"
  arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(spec.num_images, 2, 2, 3))
  arr[:] = (np.arange(spec.num_images) % 251).astype(np.uint8)[:, None, None, None]
  arr.flush()
  grid = io.FullGrid("celeb_glow", str(path))
  x = grid.images([5, 300])
  np.testing.assert_allclose(x[:, 0, 0, 0], np.array([5, 300 % 251]) / 255.0, rtol=1e-6)
  with pytest.raises(ValueError, match="expected 480000 images"):
    io.FullGrid("shapes3d", str(path))


def test_missing_data_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="mpi3d"):
    bench.load_dataset("mpi3d", "random", "test", data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="argument 'layout'"):
    bench.load_dataset("dsprites", "random", "test", layout="HWC")


def test_procedural_dsprites_loader_and_90_variant():
  loader = bench.load_dataset(
    "dsprites", "extrapolation", "test", batch_size=8, max_samples=16, seed=3
  )
  x, y = next(iter(loader))
  assert x.shape == (8, 64, 64, 1) and set(np.unique(x)) <= {0.0, 1.0}
  assert y.min() >= 0 and y.max() <= 1
  # determinism: the same seed selects the same evaluation subset
  again = bench.load_dataset(
    "dsprites", "extrapolation", "test", batch_size=8, max_samples=16, seed=3
  )
  np.testing.assert_array_equal(loader.positions, again.positions)
  d90 = data.make_dataset("dsprites_90", "random", "train")
  assert len(d90) == 60_000 and d90.labels[:, 2].max() == 9
  full = data.make_dataset("dsprites", "random", "train")
  f = d90.labels[:3]
  np.testing.assert_array_equal(
    d90.images([0, 1, 2]),
    data.procedural_image_fn("dsprites")(datasets.factors_to_index((3, 6, 40, 32, 32), f)),
  )
  assert d90.targets([0])[0, 2] == pytest.approx(d90.labels[0, 2] / 9)
  del full


def test_shapes3d_like_renderer_every_factor_changes_pixels():
  base = np.array([3, 5, 7, 4, 0, 7])
  for j, k in enumerate(render.SHAPES3D_SIZES):
    f = np.repeat(base[None], k, 0)
    f[:, j] = np.arange(k)
    img = render.shapes3d_like(f)
    assert img.shape == (k, 64, 64, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    flat = img.reshape(k, -1)
    dists = np.abs(flat[:, None] - flat[None]).sum(-1)
    assert (dists + np.eye(k) * 1e9).min() > 1.0, f"factor {j}: two values render alike"
  # azimuth visible for every object type
  for t in range(4):
    f = np.array([[1, 2, 3, 4, t, 0], [1, 2, 3, 4, t, 14]])
    a, b = render.shapes3d_like(f)
    assert np.abs(a - b).sum() > 1.0
  # deterministic
  f = np.array([[0, 1, 2, 3, 1, 5]])
  np.testing.assert_array_equal(render.shapes3d_like(f), render.shapes3d_like(f))
  with pytest.raises(ValueError, match="argument 'factors'"):
    render.shapes3d_like(np.array([[10, 0, 0, 0, 0, 0]]))


def test_shapes3d_procedural_loader():
  x, y = next(
    iter(bench.load_dataset("shapes3d", "composition", "test", batch_size=4, max_samples=4))
  )
  assert x.shape == (4, 64, 64, 3) and y.shape == (4, 6)
