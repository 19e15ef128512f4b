"""Pair sources and file loaders, tested on tiny generated stand-ins (Klindt et al. 2021, App.
D)."""

import pickle

import numpy as np
import pytest

from rvl_jax.slowvae import datasets


def test_shapes3d_and_mpi3d_loaders_map_factors_to_images(tmp_path):
  for loader, sizes in (
    (datasets.load_shapes3d, datasets.SHAPES3D_SIZES),
    (datasets.load_mpi3d, datasets.MPI3D_SIZES),
  ):
    n = int(np.prod(sizes))
    idx = np.arange(n)
    # 1x1 RGB stand-in images whose pixels encode the grid index (byte-wise)
    imgs = np.stack([idx % 256, (idx // 256) % 256, idx // 65536], 1).astype(np.uint8)
    path = str(tmp_path / f"{loader.__name__}.npy")
    np.save(path, imgs.reshape(n, 1, 1, 3))
    data = loader(path)
    assert data.factor_sizes == tuple(sizes) and data.image_shape == (1, 1, 3)
    f = data.sample_factors(0, 50)
    x = np.round(data.images_from_factors(f) * 255).astype(np.int64).reshape(50, 3)
    np.testing.assert_array_equal(
      x[:, 0] + 256 * x[:, 1] + 65536 * x[:, 2], data.factors_to_index(f)
    )
  with pytest.raises(FileNotFoundError, match="never downloads"):
    datasets.load_shapes3d(str(tmp_path / "missing.h5"))


def _write_norb(path, array, magic):
  with open(path, "wb") as f:
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    np.array([magic, array.ndim] + dims, "<i4").tofile(f)
    array.astype(np.uint8 if magic == 0x1E3D4C55 else "<i4").tofile(f)


def test_smallnorb_loader_sorts_grid_and_hides_instance(tmp_path):
  # tiny grid: 2 categories x 2 instances (one per split) x 2 elevations x 2 azimuths x 2 lights
  rng = np.random.default_rng(0)
  for split, inst in (("training", 0), ("testing", 1)):
    rows = [
      (c, inst, e, a * 2, l) for c in range(2) for e in range(2) for a in range(2) for l in range(2)
    ]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    feats = np.array(rows)
    code = feats @ np.array([16, 8, 4, 1, 1])  # unique value per grid point (azimuth stored x2)
    dat = np.repeat(np.repeat(code[:, None, None, None], 2, 1), 96, 2).repeat(96, 3)
    _write_norb(tmp_path / f"smallnorb-x-{split}-dat.mat", dat.astype(np.uint8), 0x1E3D4C55)
    _write_norb(tmp_path / f"smallnorb-x-{split}-cat.mat", feats[:, 0], 0x1E3D4C54)
    info = np.concatenate([feats[:, 1:], np.zeros((len(feats), 0), int)], 1)
    _write_norb(tmp_path / f"smallnorb-x-{split}-info.mat", info, 0x1E3D4C54)
  data = datasets.load_smallnorb(str(tmp_path))
  assert data.factor_sizes == (2, 2, 2, 2, 2) and data.image_shape == (64, 64, 1)
  f = data.index_to_factors(np.arange(32))
  x = np.round(data.images_from_factors(f)[:, 32, 32, 0] * 255)
  np.testing.assert_array_equal(x, f @ np.array([16, 8, 4, 2, 1]))
  metric = data.metric_data()
  assert metric.factor_sizes == (2, 2, 2, 2) and metric.factor_names[1] == "elevation"
  imgs = metric.images_from_factors(np.zeros((64, 4), int))
  assert set(np.round(imgs[:, 0, 0, 0] * 255)) == {0.0, 8.0}  # random hidden instance


def test_cars3d_loader(tmp_path):
  import scipy.io

  for car in range(2):
    im = np.zeros((128, 128, 3, 24, 4), np.uint8)
    for az in range(24):
      for el in range(4):
        im[:, :, 0, az, el] = az * 10
        im[:, :, 1, az, el] = el * 50
        im[:, :, 2, az, el] = car * 100
    scipy.io.savemat(tmp_path / f"car_{car:03d}_mesh.mat", {"im": im})
  data = datasets.load_cars3d(str(tmp_path))
  assert data.factor_sizes == (4, 24, 2) and data.categorical == (False, False, True)
  f = data.sample_factors(0, 20)
  px = np.round(data.images_from_factors(f)[:, 10, 10] * 255)
  np.testing.assert_array_equal(px, np.stack([f[:, 1] * 10, f[:, 0] * 50, f[:, 2] * 100], 1))


def test_natural_sprites_csv_pairs(tmp_path):
  path = tmp_path / "downscale_keepaspect.csv"
  rng = np.random.default_rng(0)
  lines = ["id,category,f0,f1,f2"]
  for i in range(40):
    cells = []
    for t in range(3):
      w = [
        None,
        (float(rng.uniform(10, 50)), float(rng.uniform(10, 50)), float(rng.uniform(50, 400))),
        None,
      ]
      cells.append('"' + repr(w) + '"')
    lines.append(f"{i},1," + ",".join(cells))
  path.write_text("\n".join(lines) + "\n")
  table = datasets.load_natural_sprites_csv(str(path), area_filter=0.0)
  assert table["x"].shape == (80, 2)  # two transitions per row
  src = datasets.NaturalSprites(table, discrete=False)
  b = src.batch(0, 0, 4)
  assert b["x1"].shape == (4, 64, 64, 3) and b["x1"].max() > 0.5
  np.testing.assert_array_equal(b["f1"][:, 3:], b["f2"][:, 3:])  # angle, shape fixed in a pair
  disc = datasets.NaturalSprites(table, discrete=True)
  gt = disc.ground_truth
  assert gt.factor_sizes == (32, 32, 6, 40, 4)
  f, x = disc.sample(0, 3)
  assert x.shape == (3, 64, 64, 3) and f.dtype == np.int64
  filtered = datasets.load_natural_sprites_csv(str(path), area_filter=0.1)
  assert len(filtered["x"]) < 80


def test_render_sprite_moves_with_x():
  a = datasets.render_sprite(0.3, 0.5, 0.2, 0.0, 0)[..., 0]
  b = datasets.render_sprite(0.7, 0.5, 0.2, 0.0, 0)[..., 0]
  cx = lambda im: (im.sum(0) * np.arange(64)).sum() / im.sum()
  assert abs(cx(a) - 0.3 * 64) < 1.5 and abs(cx(b) - 0.7 * 64) < 1.5


@pytest.mark.parametrize("max_delta", [1, 5])
def test_kitti_masks_pairs_from_pickle(tmp_path, max_delta):
  data = datasets.synthetic_kitti_masks(num_sequences=6, length=12, seed=1)
  path = tmp_path / "kitti_peds_v2.pickle"
  with open(path, "wb") as f:
    pickle.dump(data, f)
  src = datasets.KittiMasks(datasets.load_kitti_pickle(str(path)), max_delta_frames=max_delta)
  rng = np.random.default_rng(0)
  b = src.sample_pairs(rng, 200)
  assert b["x1"].shape == (200, 64, 64, 1) and set(np.unique(b["x1"])) <= {0.0, 1.0}
  # recover the frame gap from the latents
  lat = np.concatenate(data["pedestrians_latents"])
  pos = {tuple(v): i for i, v in enumerate(lat)}
  gaps = np.array([pos[tuple(b2)] - pos[tuple(b1)] for b1, b2 in zip(b["f1"], b["f2"])])
  assert gaps.min() >= 1 and gaps.max() <= max_delta
  if max_delta == 5:
    assert len(np.unique(gaps)) == 5
  f, x = src.sample(0, 10)
  assert f.shape == (10, 3) and x.shape == (10, 64, 64, 1)
  aug = datasets.KittiMasks(data, max_delta_frames=max_delta, augment=True).sample_pairs(rng, 4)
  assert aug["x1"].shape == (4, 64, 64, 1)


def test_nonlinear_ica_source():
  src = datasets.build({"name": "nica"})
  b = src.sample_pairs(np.random.default_rng(0), 20000)
  d = b["f2"] - b["f1"]
  np.testing.assert_allclose(np.abs(d).mean(), 1 / 6, rtol=0.03)  # Laplace scale 1/6
  np.testing.assert_allclose(b["x1"].mean(0), 0, atol=0.05)
  np.testing.assert_allclose(b["x1"].std(0), 1, atol=0.05)
  assert b["x1"].shape == (20000, 50)
  np.testing.assert_allclose(src.mix(b["f1"][:5]), b["x1"][:5], rtol=1e-5)


def test_build_dsprites_lap_batch_is_deterministic():
  src = datasets.build({"name": "dsprites", "sampler": "lap"})
  b1, b2 = src.batch(3, 7, 4), src.batch(3, 7, 4)
  np.testing.assert_array_equal(b1["x1"], b2["x1"])
  assert b1["x1"].shape == (4, 64, 64, 1)
  assert np.all(b1["f1"][:, 0] == b1["f2"][:, 0]) and np.all((b1["f1"] != b1["f2"]).sum(1) >= 1)
  with pytest.raises(ValueError, match="data.name"):
    datasets.build({"name": "imagenet"})
