"""The Grain input pipeline: determinism across threads/workers, per-process shards, resume of a
hard-killed pipeline-fed run, real file formats (JPEG folders, CIFAR-10 pickles, ArrayRecord) and
clear errors for bad input."""

import os
import pickle
import subprocess
import sys
import textwrap

import grain
import jax
import numpy as np
import optax
import pytest
from PIL import Image

from rvl_jax.core import loop, metrics, train_state
from rvl_jax.data import pipeline as pl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 8


def write_jpeg_folder(root, classes=2, per_class=6, size=(40, 30), seed=0, fmt="JPEG"):
  rng = np.random.default_rng(seed)
  for c in range(classes):
    d = os.path.join(root, f"class_{c}")
    os.makedirs(d, exist_ok=True)
    for i in range(per_class):
      img = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
      img[..., c % 3] = 200
      Image.fromarray(img).save(os.path.join(d, f"{i}.{fmt.lower()}"), format=fmt)
  return str(root)


def take(p, n):
  out = [next(p) for _ in range(n)]
  p.close()
  return out


def assert_same_batches(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return write_jpeg_folder(tmp_path_factory.mktemp("jpeg"))


def train_pipeline(root, **kw):
  return pl.make_pipeline(
    pl.ImageFolderSource(root),
    batch_size=4,
    seed=3,
    transforms=[pl.RandomResizedCropFlip(SIZE)],
    **kw,
  )


def test_image_folder_views_and_parallel_readers_agree(folder):
  sync = take(train_pipeline(folder, num_threads=0), 5)  # 5 batches of 4 > one epoch of 12
  assert sync[0]["image"].shape == (4, SIZE, SIZE, 3) and sync[0]["image"].dtype == np.float32
  assert sync[0]["label"].dtype == np.int32
  assert 0.0 <= sync[0]["image"].min() and sync[0]["image"].max() <= 1.0
  # every epoch is a reshuffled pass: batches 0-2 hold each image once, epoch 2 differs
  assert sorted(np.concatenate([b["label"] for b in sync[:3]])) == [0] * 6 + [1] * 6
  assert not np.array_equal(sync[0]["image"], sync[3]["image"])
  assert_same_batches(sync, take(train_pipeline(folder, num_threads=2), 5))
  assert_same_batches(sync, take(train_pipeline(folder, worker_count=2, num_threads=1), 5))
  # the evaluation view is deterministic and in source order
  ev = pl.make_pipeline(
    pl.ImageFolderSource(folder),
    batch_size=5,
    seed=0,
    shuffle=False,
    num_epochs=1,
    drop_remainder=False,
    transforms=[pl.ResizeCenterCrop(SIZE)],
  )
  sizes = [len(b["label"]) for b in ev]
  assert sizes == [5, 5, 2]


def test_random_resized_crop_matches_crop_then_resize(tmp_path):
  """The pipeline's crop (PIL resize with a box, JPEG draft) is the crop of the full image."""
  img = np.zeros((300, 400, 3), np.uint8)
  img[:, :200] = (250, 10, 10)  # left half red, right half blue: the crop's position shows
  img[:, 200:] = (10, 10, 250)
  path = str(tmp_path / "a.jpg")
  Image.fromarray(img).save(path, quality=95)
  t = pl.RandomResizedCropFlip(size=32, draft=True)
  for seed in range(6):
    out = t.random_map({"path": path, "label": 0}, np.random.default_rng(seed))["image"]
    rng = np.random.default_rng(seed)
    l, top, cw, ch = pl.random_resized_crop_box(400, 300, rng)
    ref = (
      Image.open(path)
      .convert("RGB")
      .crop((l, top, l + cw, top + ch))
      .resize((32, 32), Image.BILINEAR)
    )
    ref = np.asarray(ref, np.float32) / 255
    if rng.uniform() < 0.5:
      ref = ref[:, ::-1]
    assert np.abs(out - ref).mean() < 0.02, seed


def test_process_shards_are_disjoint_and_cover_the_global_batch():
  ids = np.arange(50)
  src = pl.ArraySource({"id": ids, "image": np.zeros((50, 2, 2, 3), np.uint8), "label": ids})
  noise = pl.PadCropFlip(pad=1)

  def batches(shard):
    return take(
      pl.make_pipeline(
        src, batch_size=8, seed=1, transforms=[noise], shard_options=shard, num_threads=0
      ),
      7,
    )

  one = batches(grain.sharding.ShardOptions(0, 1))
  parts = [batches(grain.sharding.ShardOptions(i, 2)) for i in range(2)]
  for step in range(7):
    a, b = parts[0][step]["id"], parts[1][step]["id"]
    assert len(a) == len(b) == 4 and not set(a) & set(b)
    assert sorted(np.concatenate([a, b])) == sorted(one[step]["id"])
  # random access by step (ANT's restarts) gives the global batch, process slices in order
  p = pl.make_pipeline(
    src,
    batch_size=8,
    seed=1,
    transforms=[noise],
    shard_options=grain.sharding.ShardOptions(1, 2),
    num_threads=2,
  )
  for step in (6, 2, 3):
    b = p.batch_at(step)
    np.testing.assert_array_equal(
      b["id"], np.concatenate([parts[0][step]["id"], parts[1][step]["id"]])
    )
    np.testing.assert_array_equal(b["image"][4:], parts[1][step]["image"])
  p.close()
  # 6 global batches per epoch (2 of the 50 records dropped), each record once per epoch
  assert len(set(np.concatenate([one[s]["id"] for s in range(6)]))) == 48
  with pytest.raises(ValueError, match="argument 'batch_size'.*divisible by the 3 processes"):
    pl.make_pipeline(src, batch_size=8, seed=0, shard_options=grain.sharding.ShardOptions(0, 3))


# ------------------------------------------------------------------------------------------------
# resume of a pipeline-fed run after a hard kill
# ------------------------------------------------------------------------------------------------


def make_state():
  params = {"w": np.zeros((SIZE * SIZE * 3, 2), np.float32), "b": np.zeros((2,), np.float32)}
  return train_state.TrainState.create(
    apply_fn=None, params=params, tx=optax.sgd(0.5), rng=jax.random.PRNGKey(0)
  )


def step_fn(state, batch):
  x = batch["image"].reshape(batch["image"].shape[0], -1)

  def loss_fn(p):
    return metrics.cross_entropy(x @ p["w"] + p["b"], batch["label"])

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  return state.apply_gradients(grads), {"loss": loss}


def run(workdir, root, hooks=()):
  p = train_pipeline(root, num_threads=2)
  try:
    return loop.train(
      state=make_state(),
      train_step=step_fn,
      batches=p,
      num_steps=9,
      workdir=workdir,
      checkpoint_every=3,
      log_every=3,
      hooks=hooks,
    )
  finally:
    p.close()


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    from tests.data import test_data_pipeline as t
    def hook(step, state):
      if step == 5:  # after the checkpoint of step 3; the pipeline has prefetched beyond step 5
        os.kill(os.getpid(), signal.SIGKILL)
    t.run(sys.argv[1], sys.argv[2], hooks=[hook])
""")


def test_hard_killed_pipeline_run_resumes_on_the_same_batches(tmp_path, folder):
  script = tmp_path / "run.py"
  script.write_text(KILL_SCRIPT.format(repo=REPO))
  work = str(tmp_path / "cut")
  killed = subprocess.run(
    [sys.executable, str(script), work, folder],
    env=dict(os.environ, RVL_QUIET="1"),
    capture_output=True,
    timeout=300,
  )
  assert killed.returncode == -9, killed.stderr.decode()[-2000:]
  assert sorted(os.listdir(os.path.join(work, "checkpoints"))) == ["3"]
  assert os.listdir(os.path.join(work, "checkpoints", "3", "data_iterator"))
  resumed = run(work, folder)
  full = run(str(tmp_path / "full"), folder)
  assert resumed.resumed_from == 3
  np.testing.assert_array_equal(resumed.state.params["w"], full.state.params["w"])
  np.testing.assert_array_equal(resumed.state.params["b"], full.state.params["b"])
  assert np.abs(full.state.params["w"]).max() > 0  # it trained
  # a run resumed from a get_batch checkpoint cannot guess the pipeline's position
  with pytest.raises(ValueError, match="argument 'batches': the checkpoint of step 3"):
    gb = str(tmp_path / "gb")
    batch = next(train_pipeline(folder, num_threads=0))
    loop.train(
      state=make_state(),
      train_step=step_fn,
      get_batch=lambda s: batch,
      num_steps=3,
      workdir=gb,
      checkpoint_every=3,
    )
    run(gb, folder)


def test_checkpoints_of_a_single_unnamed_tree_still_restore(tmp_path):
  """Checkpoints written before the iterator item existed (one unnamed pytree) restore."""
  import orbax.checkpoint as ocp

  from rvl_jax.core import checkpoint

  tree = {"w": np.arange(4, dtype=np.float32)}
  with ocp.CheckpointManager(str(tmp_path)) as m:
    m.save(7, args=ocp.args.StandardSave(tree))
    m.wait_until_finished()
  ck = checkpoint.Checkpointer(str(tmp_path))
  np.testing.assert_array_equal(ck.restore({"w": np.zeros(4, np.float32)})["w"], tree["w"])
  assert ck.latest_step() == 7 and not ck.has_data_iterator(7)
  ck.close()


def test_loop_wants_exactly_one_data_argument(folder):
  with pytest.raises(ValueError, match="exactly one of them, got neither"):
    loop.train(state=make_state(), train_step=step_fn, num_steps=1)
  p = pl.make_pipeline(
    pl.ImageFolderSource(folder),
    batch_size=4,
    seed=0,
    num_epochs=1,
    transforms=[pl.ResizeCenterCrop(SIZE)],
    num_threads=0,
  )
  with pytest.raises(
    ValueError, match="argument 'batches': the input pipeline ended before step 3"
  ):
    loop.train(state=make_state(), train_step=step_fn, batches=p, num_steps=5)


# ------------------------------------------------------------------------------------------------
# file formats
# ------------------------------------------------------------------------------------------------


def test_array_record_images_round_trip(tmp_path):
  ar = pytest.importorskip("array_record.python.array_record_module")
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (10, 6, 6, 3), dtype=np.uint8)
  path = str(tmp_path / "train.array_record")
  w = ar.ArrayRecordWriter(path, "group_size:1")
  for i, im in enumerate(images):
    w.write(pl.encode_image_record(im, i % 3))
  w.close()
  src = pl.array_record_source([path])
  p = pl.make_pipeline(
    src,
    batch_size=5,
    seed=0,
    shuffle=False,
    num_threads=0,
    transforms=[pl.decode_image_record, pl.ResizeCenterCrop(6)],
  )
  b = take(p, 2)
  # ResizeCenterCrop(6) resizes the 6x6 PNG to 7x7 then crops: compare with PIL directly
  first = pl.ResizeCenterCrop(6).map(
    {"image_bytes": pl.encode_image_record(images[0], 0)[4:], "label": 0}
  )["image"]
  np.testing.assert_array_equal(b[0]["image"][0], first)
  np.testing.assert_array_equal(np.concatenate([x["label"] for x in b]), np.arange(10) % 3)
  with pytest.raises(FileNotFoundError, match="argument 'paths'.*missing.array_record"):
    pl.array_record_source([str(tmp_path / "missing.array_record")])


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------


def test_bad_folders_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="argument 'data_dir'.*does not exist"):
    pl.ImageFolderSource(str(tmp_path / "nope"))
  os.makedirs(tmp_path / "flat")
  with pytest.raises(FileNotFoundError, match="argument 'data_dir': expected class sub-folders"):
    pl.ImageFolderSource(str(tmp_path / "flat"))
  root = write_jpeg_folder(tmp_path / "d", classes=1, per_class=2)
  os.makedirs(tmp_path / "d" / "class_9_empty")
  with pytest.raises(
    FileNotFoundError, match="argument 'data_dir': class folder .*class_9_empty.* holds no image"
  ):
    pl.ImageFolderSource(root)
  with pytest.raises(ValueError, match="argument 'batch_size': expected at most the 2 records"):
    pl.make_pipeline(pl.ArraySource({"x": np.zeros(2)}), batch_size=4, seed=0)


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_or_missing_image_is_reported_with_its_path(tmp_path, workers):
  root = write_jpeg_folder(tmp_path / "d", classes=1, per_class=4)
  bad = os.path.join(root, "class_0", "2.jpeg")
  with open(bad, "wb") as f:
    f.write(b"\xff\xd8\xff\xe0 this is not a JPEG")
  p = pl.make_pipeline(
    pl.ImageFolderSource(root),
    batch_size=4,
    seed=0,
    shuffle=False,
    transforms=[pl.RandomResizedCropFlip(SIZE)],
    worker_count=workers,
    num_threads=0 if not workers else 1,
  )
  with pytest.raises(
    pl.DataError,
    match=r"argument 'data_dir': cannot (read|decode) image "
    r"'.*class_0/2\.jpeg'",
  ) as err:
    next(p)
  assert "Traceback" not in str(err.value)
  p.close()
  if workers == 0:  # a file deleted after listing
    src = pl.ImageFolderSource(root)
    os.remove(bad)
    with pytest.raises(pl.DataError, match=r"cannot read image '.*class_0/2\.jpeg'.*No such file"):
      pl.RandomResizedCropFlip(SIZE).random_map(src[2], np.random.default_rng(0))


def write_cifar10(root, n=4, seed=0):
  """Tiny CIFAR-10 in both distributed formats: python pickles and binary records."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (6 * n, 32, 32, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, 6 * n)
  py, bn = os.path.join(root, "cifar-10-batches-py"), os.path.join(root, "cifar-10-batches-bin")
  os.makedirs(py)
  os.makedirs(bn)
  names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
  for k, name in enumerate(names):
    x, y = images[k * n : (k + 1) * n], labels[k * n : (k + 1) * n]
    rows = x.transpose(0, 3, 1, 2).reshape(n, 3072)  # channel-major rows, as distributed
    with open(os.path.join(py, name), "wb") as f:
      pickle.dump({b"data": rows, b"labels": [int(v) for v in y]}, f)
    np.concatenate([y[:, None].astype(np.uint8), rows], 1).tofile(os.path.join(bn, name + ".bin"))
  return images, labels


def test_cifar_files_python_and_binary(tmp_path):
  from rvl_jax.data import cifar
  from rvl_jax.racecar import data as racecar_data

  images, labels = write_cifar10(str(tmp_path))
  py = cifar.load_cifar_files(str(tmp_path / "cifar-10-batches-py"))
  bn = cifar.load_cifar_files(str(tmp_path / "cifar-10-batches-bin"))
  for d in (py, bn):
    np.testing.assert_array_equal(d["train_images"], images[:20])
    np.testing.assert_array_equal(d["test_labels"], labels[20:])
  rc = racecar_data.load_cifar("cifar10", source="files", path=str(tmp_path))
  np.testing.assert_allclose(rc["test_images"], images[20:] / 255.0, rtol=1e-6)
  # through the pipeline with the CIFAR augmentation: 4-pixel shifts and flips of the originals
  p = pl.make_pipeline(
    pl.ArraySource({"image": py["train_images"], "label": py["train_labels"]}),
    batch_size=5,
    seed=0,
    transforms=[pl.PadCropFlip(), pl.ScaleImages()],
    num_threads=0,
  )
  b = next(p)
  assert b["image"].shape == (5, 32, 32, 3) and b["image"].dtype == np.float32
  assert set(b["label"]) <= set(labels[:20])
  with pytest.raises(FileNotFoundError, match="argument 'path': expected the cifar100 files"):
    cifar.load_cifar_files(str(tmp_path), "cifar100")
  with open(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", "ab") as f:
    f.write(b"xx")
  with pytest.raises(ValueError, match=r"argument 'path': .*test_batch.bin' is not a CIFAR binary"):
    cifar.load_cifar_files(str(tmp_path / "cifar-10-batches-bin"))
  with pytest.raises(
    FileNotFoundError, match="argument 'data_dir': tfds 'cifar10' is not prepared"
  ):
    cifar.load_cifar_tfds("cifar10", data_dir=str(tmp_path))


def test_benchmark_file_data_trains_through_the_pipeline(tmp_path):
  from rvl_jax.benchmark import data as bdata
  from rvl_jax.benchmark import io as bio
  from rvl_jax.benchmark import models as bmodels
  from rvl_jax.benchmark import train as btrain

  ds0 = bdata.make_dataset("dsprites", "random", "train", source="procedural")
  pos = np.arange(0, len(ds0), len(ds0) // 40)[:40]
  labels = ds0.labels[pos]
  images = (np.random.default_rng(0).uniform(size=(40, 64, 64, 1)) > 0.5).astype(np.uint8)
  bio.save_split_npz(str(tmp_path), "dsprites", "random", "train", images, labels)
  ds = bdata.make_dataset("dsprites", "random", "train", data_dir=str(tmp_path))
  assert ds.source == "split_files"
  model = bmodels.MLP(5, widths=(8,))
  batches = btrain.make_batches(ds, batch_size=8, seed=0, augment="noise", num_threads=2)
  first = batches.batch_at(0)
  assert first["image"].shape == (8, 64, 64, 1) and first["target"].shape == (8, 5)
  r = btrain.supervised(model, ds, num_steps=6, batch_size=8, seed=0, lr=1e-2, batches=batches)
  batches.close()
  assert r.train_result.resumed_from is None and int(r.state.step) == 6
  assert np.isfinite(r.train_result.metrics["loss"])
