"""Data generators, loaders (tiny generated stand-ins), SVD similarity measures and the MI estimator."""

import os

import numpy as np
import pytest

from rvl_jax.racecar import analysis, data, mi


def test_sphere_task_is_var_u_exact():
  d = data.sphere_task()
  assert d["x"].shape == (4096, 12)
  assert np.isclose(d["y"].mean(), 0.5171, atol=5e-5)
  assert np.isclose(mi.entropy_bits(d["y"]), 0.99916, atol=5e-6)
  assert len(np.unique(np.round(data.power_spectrum(d["x"], 3), 6), axis=0)) == 64
  # the label is a function of the power spectrum (64 classes)
  ps = np.round(data.power_spectrum(d["x"], 3), 6)
  _, inv = np.unique(ps, axis=0, return_inverse=True)
  for c in range(64):
    assert len(np.unique(d["y"][inv.reshape(-1) == c])) == 1
  assert len(d["train_idx"]) == 3277 and len(d["test_idx"]) == 819
  np.testing.assert_array_equal(d["y_onehot_b"], d["y_onehot"][:, ::-1])
  assert data.all_patterns()[1, -1] == 1 and data.all_patterns()[2048, 0] == 1
  g = data.icosahedron_gram()
  np.testing.assert_allclose(g, g.T)
  assert np.linalg.matrix_rank(g, tol=1e-8) == 3  # 12 unit vectors in R^3
  s = data.sphere_task(gamma=0.05, seed=1)
  assert 0.3 < s["y"].mean() < 0.7


def test_peak_generator_stamp_and_split():
  d = data.peak_dataset(seed=0, per_class=6, num_train_per_class=4)
  assert d["train_images"].shape == (8, 28, 28) and d["test_images"].shape == (4, 28, 28)
  np.testing.assert_array_equal(d["train_labels"][:4], [[1, 0]] * 4)
  x0, x1 = d["train_images"][0], d["train_images"][5]
  np.testing.assert_array_equal(x0[5:11, 4:10], data.PEAK_STAMP)
  np.testing.assert_array_equal(x1[19:25, 19:25], data.PEAK_STAMP[::-1])
  assert (
    x0[0:11, 0:11][data.peak_template(0)[0:11, 0:11] == 0].max() == 0
  )  # clear zone around the peak
  assert x0.max() <= 255 and (x0 > 0).sum() > 36


def test_peak_stamp_matches_released_images(shared_dir):
  ref = np.load(shared_dir / "data" / "racecar" / "peak_images.npz")
  ims, labels = ref["images"], ref["labels"]
  np.testing.assert_array_equal(ims[labels == 0][0][5:11, 4:10], data.PEAK_STAMP)
  np.testing.assert_array_equal(ims[labels == 1][0][19:25, 19:25], data.PEAK_STAMP[::-1])
  split = data.peak_from_arrays(ims, labels, ref["index"])
  assert split["train_images"].shape == (100, 28, 28) and split["test_images"].shape == (10, 28, 28)


def test_motion_blur():
  k = data.motion_blur_kernel(5, 15)
  assert np.isclose(k.sum(), 1.0) and k.shape == (5, 5)
  x = np.zeros((2, 28, 28, 1), np.float32)
  x[:, 14, 14] = 1.0
  y = data.motion_blur(x)
  assert y.shape == x.shape and np.isclose(y.max(), 1.0)
  assert (y > 0.05).sum() > 3  # the point is smeared along a line


def test_mnist_pair():
  d = data.mnist_pair()
  assert d["train_images"].shape == (2, 28, 28) and list(d["train_labels"]) == [0, 1]
  r = data.mnist_pair(seed=3)
  assert r["train_labels"][0] != r["train_labels"][1]


def test_loaders_on_tiny_stand_ins(tmp_path):
  rng = np.random.default_rng(0)
  f = tmp_path / "c10.npz"
  np.savez(
    f,
    x_train=rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8),
    y_train=np.arange(6),
    x_test=rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8),
    y_test=np.arange(2),
  )
  c = data.load_cifar("cifar10", source="npz", path=str(f))
  assert c["train_images"].shape == (6, 32, 32, 3) and c["train_images"].max() <= 1.0
  with pytest.raises(ValueError, match="'name'"):
    data.load_cifar("cifar11")
  np.save(tmp_path / "cifar10.1_v6_data.npy", rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8))
  np.save(tmp_path / "cifar10.1_v6_labels.npy", np.array([1, 2, 3]))
  c1 = data.load_cifar10_1(str(tmp_path))
  assert c1["images"].shape == (3, 32, 32, 3) and list(c1["labels"]) == [1, 2, 3]
  from skimage import io as skio

  for split in ("stylized", "edge"):
    for cls in ("airplane", "bear"):
      os.makedirs(tmp_path / "ts" / split / cls)
      for i in range(2):
        skio.imsave(
          str(tmp_path / "ts" / split / cls / f"{i}.png"),
          rng.integers(0, 255, (12, 12, 3), dtype=np.uint8),
          check_contrast=False,
        )
  ts = data.load_texture_shape(str(tmp_path / "ts"), image_size=(8, 8))
  assert set(ts) == {"stylized", "edge"}
  x, y, classes = ts["stylized"]
  assert x.shape == (4, 8, 8, 3) and classes == ["airplane", "bear"] and list(y) == [0, 0, 1, 1]
  tr, te = data.stratified_split(y, 1)
  assert len(te) == 2 and len(tr) == 2
  with pytest.raises(FileNotFoundError, match="'root'"):
    data.load_image_folder(str(tmp_path / "nope"))


def test_svd_measures():
  rng = np.random.default_rng(0)
  imgs = rng.uniform(0, 1, (2, 784))
  q, _ = np.linalg.qr(imgs.T)
  k = np.concatenate(
    [q, rng.normal(0, 0.01, (784, 8))], 1
  )  # K [784, 10]: two columns span the images
  vecs, sig = analysis.first_layer_svd(k)
  assert vecs.shape == (10, 784) and np.all(np.diff(sig) <= 1e-12)
  assert len(analysis.near_one_indices(sig)) == 2
  assert analysis.subspace_capture(vecs[:2], imgs[0]) > 0.999
  assert analysis.subspace_capture(vecs[2:4], imgs[0]) < 0.2
  rep = analysis.svd_report(k, imgs, templates=imgs, k=2)
  assert rep["best_cos_per_image_near_one"].min() > 0.7 and "LPIPS" in rep["note"]
  assert rep["max_cos_other_max"] < 0.3
  ims = analysis.vectors_to_images(vecs[:3])
  assert ims.dtype == np.uint8 and ims.shape == (3, 28, 28) and ims.max() == 255
  # a vector equal to an image has SSIM 1 with it (up to the 8-bit rendering); noise vectors do not
  assert analysis.mean_ssim(imgs / np.linalg.norm(imgs, axis=1, keepdims=True), imgs) > 0.99
  assert analysis.mean_ssim(vecs[2:4], imgs) < 0.2
  assert analysis.relative_error(imgs, imgs) == 0.0


def test_mi_estimator():
  d = data.sphere_task()
  x = d["x"]
  ix, iy = mi.mutual_information(x, d["y"])
  assert np.isclose(ix, 12.0) and np.isclose(iy, mi.entropy_bits(d["y"]))
  ix0, iy0 = mi.mutual_information(np.zeros((4096, 3)), d["y"])
  assert ix0 == 0.0 and iy0 == 0.0
  ixb, iyb = mi.mutual_information(x[:, :1], d["y"])  # one bit
  p_y1 = [np.mean(d["y"][x[:, 0] == b]) for b in (0, 1)]  # I(x_0; Y) = H(Y) - H(Y | x_0)
  h2 = lambda p: -p * np.log2(p) - (1 - p) * np.log2(1 - p)
  assert np.isclose(ixb, 1.0) and np.isclose(
    iyb, mi.entropy_bits(d["y"]) - np.mean([h2(p) for p in p_y1])
  )
  pl = mi.mi_plane([x, x[:, :1]], d["y_onehot"])
  assert pl[0].shape == (2,)
  ixr, _ = mi.mutual_information(np.maximum(x * 5, 0), d["y"], adaptive=True)
  assert np.isclose(ixr, 12.0)
