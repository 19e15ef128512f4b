"""A parallel, sharded, checkpointable input pipeline built on Grain.

Every real-data path of rvl_jax (image folders, CIFAR files, ArrayRecord files, tensorflow-datasets
data sources, in-memory arrays) reads through :func:`make_pipeline`:

  random-access source -> shuffle (reshuffled every epoch) -> per-element map, random ones seeded
  by (seed, element position) -> drop the global remainder -> this process's slice -> local batch
  -> repeat -> threads and/or worker processes with prefetch.

* Deterministic: a batch depends only on (seed, step), never on the number of threads or worker
  processes, so a loader with 2 workers yields the same batches as a synchronous one.
* Sharded per process: with P processes and a global batch of B, process p reads only records
  ``p, p + P, ...`` of each global batch (``B / P`` of them); the union over processes is exactly
  the global batch a single process would read (see ``shard_options``).
* Checkpointable: ``Pipeline.iterator`` is a Grain ``DatasetIterator`` whose state (a small JSON
  dict) ``rvl_jax.core.checkpoint.Checkpointer`` stores in the same orbax checkpoint as the model,
  so a killed run resumes on exactly the batches an uninterrupted run would have seen.
* Readable errors: a file that cannot be read or decoded raises :class:`DataError` naming the
  argument and the file's path, also when it happened inside a worker process.

TensorFlow is never imported (tensorflow-datasets sources are read through their ArrayRecord files).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import grain
import numpy as np

from rvl_jax.core import prng

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp")


class DataError(ValueError):
  """A record of a data set could not be read or decoded (the message names the file)."""


def named_seed(seed: int, name: str) -> int:
  """Derives the seed of the stream ``name`` from ``seed`` (hashing, no seed arithmetic).

  Args:
    seed: the run's seed.
    name: the stream's name.

  Returns:
    A 32-bit seed.
  """
  state = np.random.SeedSequence([int(seed), prng.name_hash(name)]).generate_state(1)
  return int(state[0])


# ------------------------------------------------------------------------------------------------
# sources: random-access collections of records (len + __getitem__)
# ------------------------------------------------------------------------------------------------


def list_image_folder(
  root: str, argument: str = "data_dir", extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> Tuple[List[str], np.ndarray, List[str]]:
  """Lists a ``<root>/<class>/<image>`` folder, classes sorted by name.

  Args:
    root: the folder.
    argument: the argument name errors report.
    extensions: image file extensions (case-insensitive).

  Returns:
    (paths, int32 labels, class names).

  Raises:
    FileNotFoundError: ``root`` is missing, has no class folders, or a class folder holds no
      image (the message names ``argument``).
  """
  if not os.path.isdir(root):
    raise FileNotFoundError(
      f"argument '{argument}': expected a folder of class sub-folders at "
      f"{root!r}, which does not exist"
    )
  classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  if not classes:
    raise FileNotFoundError(
      f"argument '{argument}': expected class sub-folders in {root!r}, found none"
    )
  paths, labels = [], []
  for i, name in enumerate(classes):
    files = sorted(
      f for f in os.listdir(os.path.join(root, name)) if f.lower().endswith(tuple(extensions))
    )
    if not files:
      raise FileNotFoundError(
        f"argument '{argument}': class folder {os.path.join(root, name)!r} holds no image "
        f"(expected files ending in {', '.join(extensions)})"
      )
    paths.extend(os.path.join(root, name, f) for f in files)
    labels.extend([i] * len(files))
  return paths, np.asarray(labels, np.int32), classes


class ImageFolderSource:
  """Records ``{'path': str, 'label': int}`` of a ``<root>/<class>/<image>`` folder.

  A Grain random-access source (``len`` and integer indexing). Classes are the sub-folders of
  ``root`` in sorted order, labelled 0, 1, ...; images are the files with an image extension
  (``IMAGE_EXTENSIONS``), sorted within each class, as torchvision's ``ImageFolder`` orders them.

  Args:
    root: Folder holding one sub-folder per class.
    argument: Argument name that error messages report (e.g. the config key).

  Raises:
    FileNotFoundError / ValueError: naming ``argument``, when ``root`` is missing or holds no
      class folder with images.
  """

  def __init__(self, root: str, argument: str = "data_dir"):
    self.root, self.argument = root, argument
    self.paths, self.labels, self.classes = list_image_folder(root, argument)

  def __len__(self) -> int:
    return len(self.paths)

  def __getitem__(self, index: int) -> Dict[str, Any]:
    return {"path": self.paths[index], "label": int(self.labels[index])}

  def __repr__(self) -> str:
    return f"ImageFolderSource({self.root!r}, {len(self)} images, {len(self.classes)} classes)"


class ArraySource:
  """Records ``{key: array[i]}`` of equally long in-memory arrays (CIFAR, MNIST, factor data).

  A Grain random-access source (``len`` and integer indexing) over numpy arrays; arrays are not
  copied when already numpy (memory-mapped files stay mapped).

  Args:
    arrays: Mapping from record key (e.g. ``'image'``, ``'label'``) to an array whose first axis
      indexes the records.
    argument: Argument name that error messages report.

  Raises:
    ValueError: naming ``argument``, when ``arrays`` is empty or the arrays differ in length.
  """

  def __init__(self, arrays: Mapping[str, Any], argument: str = "arrays"):
    if not arrays:
      raise ValueError(f"argument '{argument}': expected at least one array, got none")
    self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
    lengths = {k: len(v) for k, v in self.arrays.items()}
    if len(set(lengths.values())) != 1:
      raise ValueError(f"argument '{argument}': expected arrays of one length, got {lengths}")
    self._len = next(iter(lengths.values()))

  def __len__(self) -> int:
    return self._len

  def __getitem__(self, index: int) -> Dict[str, np.ndarray]:
    return {k: v[index] for k, v in self.arrays.items()}


def array_record_source(paths: Sequence[str], argument: str = "paths"):
  """Grain's reader of ArrayRecord files (records are bytes; see :func:`encode_image_record`).

  Args:
    paths: one file or several.
    argument: the argument name errors report.

  Returns:
    A ``grain.sources.ArrayRecordDataSource``.
  """
  paths = [paths] if isinstance(paths, str) else list(paths)
  if not paths:
    raise ValueError(f"argument '{argument}': expected at least one ArrayRecord file, got none")
  for p in paths:
    if not os.path.isfile(p):
      raise FileNotFoundError(
        f"argument '{argument}': expected an ArrayRecord file, {p!r} does not exist"
      )
  return grain.sources.ArrayRecordDataSource(paths)


def tfds_source(name: str, split: str, data_dir: Optional[str] = None):
  """A prepared tensorflow-datasets split as a random-access source (read without TensorFlow).

  Never downloads: the data set must have been prepared
  (``tfds build NAME --file_format=array_record``).

  Args:
    name: the tfds data set name.
    split: e.g. ``'train'``.
    data_dir: tfds' data directory (default: tfds' own).

  Returns:
    A random-access source whose records are dicts of numpy features (e.g.
    ``{'image': uint8 HWC, 'label': int}``).
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    raise FileNotFoundError(
      f"argument 'data_dir': tfds {name!r} is not prepared in {builder.data_dir!r}; prepare it "
      f"where internet is available (`tfds build {name} --file_format=array_record "
      "--data_dir=...`) and copy the directory"
    )
  try:
    return builder.as_data_source(split=split)
  except Exception as e:  # e.g. a TFRecord-format preparation has no random access
    raise ValueError(
      f"argument 'data_dir': tfds {name!r} split {split!r} in {builder.data_dir!r} "
      f"cannot be read as a random-access source ({e}); prepare it with "
      "--file_format=array_record"
    ) from e


def encode_image_record(image: np.ndarray, label: int, fmt: str = "PNG") -> bytes:
  """Builds one ArrayRecord record: a length-prefixed label + encoded image bytes.

  Args:
    image: uint8 HWC (or HW) image.
    label: its class.
    fmt: PIL format, ``'PNG'`` or ``'JPEG'``.

  Returns:
    The record's bytes.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top

  buf = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buf, format=fmt)
  return int(label).to_bytes(4, "little", signed=True) + buf.getvalue()


def decode_image_record(record: bytes) -> Dict[str, Any]:
  """Inverse of :func:`encode_image_record`.

  Args:
    record: the record's bytes.

  Returns:
    ``{'image_bytes': bytes, 'label': int}`` (the image is decoded by the transforms).
  """
  return {"image_bytes": record[4:], "label": int.from_bytes(record[:4], "little", signed=True)}


# ------------------------------------------------------------------------------------------------
# transforms (picklable, run in threads or worker processes)
# ------------------------------------------------------------------------------------------------


def _open_rgb(element: Mapping[str, Any], argument: str):
  """PIL image of a record holding 'path' or 'image_bytes' (lazy: the header is read only)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  where = element.get("path", "<image bytes>")
  try:
    if "path" in element:
      img = Image.open(element["path"])
    else:
      img = Image.open(io.BytesIO(element["image_bytes"]))
    return img, where
  except Exception as e:
    raise DataError(
      f"argument '{argument}': cannot read image {where!r}: {type(e).__name__}: {e}"
    ) from None


def _load(img, where: str, argument: str, resize: Callable[[Any], Any]) -> np.ndarray:
  try:
    return np.asarray(resize(img), np.float32) / 255.0
  except Exception as e:
    raise DataError(
      f"argument '{argument}': cannot decode image {where!r}: {type(e).__name__}: {e}"
    ) from None


def random_resized_crop_box(
  width: int,
  height: int,
  rng: np.random.Generator,
  scale: Tuple[float, float] = (0.08, 1.0),
  ratio: Tuple[float, float] = (3 / 4, 4 / 3),
) -> Tuple[int, int, int, int]:
  """Draws the box of Inception-style RandomResizedCrop (Szegedy et al. 2015, sec. 6;
  torchvision's default): area fraction U(scale), log-uniform aspect ratio, 10 tries, else the
  centred square of the shorter side.

  Args:
    width: image width.
    height: image height.
    rng: the element's generator.
    scale: range of the crop's area fraction.
    ratio: range of the crop's aspect ratio (width / height).

  Returns:
    (left, top, crop width, crop height).
  """
  area = width * height
  for _ in range(10):
    a = area * rng.uniform(*scale)
    r = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
    cw, ch = int(round(np.sqrt(a * r))), int(round(np.sqrt(a / r)))
    if 0 < cw <= width and 0 < ch <= height:
      return int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1)), cw, ch
  cw = ch = min(width, height)
  return (width - cw) // 2, (height - ch) // 2, cw, ch


@dataclasses.dataclass(frozen=True)
class RandomResizedCropFlip(grain.transforms.RandomMap):
  """Training view of ImageNet-style images: RandomResizedCrop(size) + horizontal flip (p=0.5),
  float32 HWC in [0, 1]. Reads records holding 'path' or 'image_bytes' (+ 'label').

  With ``draft`` (JPEG only) the decoder scales the image down by 1/2, 1/4 or 1/8 in the DCT
  domain when the crop still covers at least ``size`` decoded pixels in both directions, and the
  crop box is mapped to the reduced image: the output is the same RandomResizedCrop of the full
  image (same box, same flip), resampled from a cheaper decode.

  The crop box is :func:`random_resized_crop_box` (Inception-style, Szegedy et al. 2015, Sec. 6:
  area 8 % to 100 % of the image, aspect ratio 3/4 to 4/3, 10 tries, else the centred square).

  Attributes:
    size: Side of the square output in pixels.
    draft: Let the JPEG decoder downscale in the DCT domain when that loses nothing (see above).
    argument: Argument name that decoding errors report.
  """

  size: int = 224
  draft: bool = True
  argument: str = "data_dir"

  def random_map(self, element, rng: np.random.Generator):
    """Returns ``{'image': float32 (size, size, 3), 'label': int32}`` of one record."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    img, where = _open_rgb(element, self.argument)
    w, h = img.size
    left, top, cw, ch = random_resized_crop_box(w, h, rng)
    flip = rng.uniform() < 0.5

    def resize(im):
      if self.draft and im.format == "JPEG":
        im.draft("RGB", (math.ceil(w * self.size / cw), math.ceil(h * self.size / ch)))
      sx, sy = im.size[0] / w, im.size[1] / h
      box = (left * sx, top * sy, (left + cw) * sx, (top + ch) * sy)
      im = im.convert("RGB").resize((self.size, self.size), Image.BILINEAR, box=box)
      return im.transpose(Image.FLIP_LEFT_RIGHT) if flip else im

    return {"image": _load(img, where, self.argument, resize), "label": np.int32(element["label"])}


@dataclasses.dataclass(frozen=True)
class ResizeCenterCrop(grain.transforms.Map):
  """Evaluation view: resize the shorter side to ``size * 256 / 224``, centre crop ``size``.

  The standard ImageNet evaluation transform (256 -> 224 at the default size), bilinear.

  Attributes:
    size: Side of the square output in pixels.
    argument: Argument name that decoding errors report.
  """

  size: int = 224
  argument: str = "data_dir"

  def map(self, element):
    """Returns ``{'image': float32 (size, size, 3), 'label': int32}`` of one record."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    img, where = _open_rgb(element, self.argument)
    short = int(round(self.size * 256 / 224))

    def resize(im):
      im = im.convert("RGB")
      w, h = im.size
      s = short / min(w, h)
      im = im.resize((max(short, int(round(w * s))), max(short, int(round(h * s)))), Image.BILINEAR)
      w, h = im.size
      left, top = (w - self.size) // 2, (h - self.size) // 2
      return im.crop((left, top, left + self.size, top + self.size))

    return {"image": _load(img, where, self.argument, resize), "label": np.int32(element["label"])}


@dataclasses.dataclass(frozen=True)
class ScaleImages(grain.transforms.Map):
  """uint8 'image' -> float32 in [0, 1]; 'label' -> int32 (for CIFAR / tfds records).

  Non-uint8 images are only cast to float32 (assumed already in [0, 1]).

  Attributes:
    image_key: Record key of the image.
    label_key: Record key of the label.
  """

  image_key: str = "image"
  label_key: str = "label"

  def map(self, element):
    """Returns ``{'image': float32 in [0, 1], 'label': int32}`` of one record."""
    x = np.asarray(element[self.image_key])
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return {"image": x, "label": np.int32(element[self.label_key])}


@dataclasses.dataclass(frozen=True)
class PadCropFlip(grain.transforms.RandomMap):
  """CIFAR augmentation (He et al. 2016, sec. 4.2): pad 4 pixels, random crop, random flip.

  Zero padding on both spatial sides, a crop of the original size at a uniform random offset,
  and a horizontal flip with probability 0.5; the other keys of the record pass unchanged.

  Attributes:
    pad: Pixels of zero padding on each side before the crop.
  """

  pad: int = 4

  def random_map(self, element, rng: np.random.Generator):
    """Returns the record with its 'image' padded, randomly cropped back and maybe flipped."""
    x = element["image"]
    h, w = x.shape[:2]
    padded = np.pad(x, ((self.pad, self.pad), (self.pad, self.pad), (0, 0)))
    t, l = rng.integers(0, 2 * self.pad + 1, size=2)
    out = padded[t : t + h, l : l + w]
    return {**element, "image": out[:, ::-1] if rng.uniform() < 0.5 else out}


# ------------------------------------------------------------------------------------------------
# the pipeline
# ------------------------------------------------------------------------------------------------


def process_shard() -> grain.sharding.ShardOptions:
  """This JAX process's share of a data source, for multi-process input pipelines.

  Returns:
    grain's ``ShardByJaxProcess(drop_remainder=True)``: shard ``jax.process_index()`` of
    ``jax.process_count()``, every shard of equal length (the last records are dropped when the
    source does not divide evenly); the whole source with one process.
  """
  return grain.sharding.ShardByJaxProcess(drop_remainder=True)


class Pipeline:
  """An iterator of local batches (dicts of numpy arrays) with Grain's checkpointable state.

  ``iterator`` is the underlying Grain ``DatasetIterator``; ``get_state()`` / ``set_state()``
  delegate to it. ``steps_per_epoch`` counts global batches per pass over the source. Built by
  :func:`make_pipeline`, which users call instead of this constructor.

  Args:
    dataset: The Grain dataset yielding this process's local batches.
    global_batch_size: Batch size summed over all processes.
    local_batch_size: This process's share of each batch.
    steps_per_epoch: Global batches per pass over the source.
    shard_index: This process's shard (``jax.process_index()`` by default).
    shard_count: Number of shards (``jax.process_count()`` by default).
    num_records: Records in the whole source.
    shards: The per-process record views, for :meth:`batch_at`'s random access (empty when the
      pipeline keeps a partial last batch, which random access does not support).
    num_steps: Steps after which the iterator stops; ``None`` for endless.
    num_threads: Threads decoding records in :meth:`batch_at`.
  """

  def __init__(
    self,
    dataset: grain.IterDataset,
    *,
    global_batch_size: int,
    local_batch_size: int,
    steps_per_epoch: int,
    shard_index: int,
    shard_count: int,
    num_records: int,
    shards: Sequence[grain.MapDataset] = (),
    num_steps: Optional[int] = None,
    num_threads: int = 1,
  ):
    self.dataset = dataset
    self.global_batch_size, self.local_batch_size = global_batch_size, local_batch_size
    self.steps_per_epoch, self.num_records = steps_per_epoch, num_records
    self.shard_index, self.shard_count = shard_index, shard_count
    self.num_steps = num_steps  # None: endless
    self._iterator = None
    self._shards, self._num_threads = list(shards), max(int(num_threads), 1)
    self._pool, self._pending = None, {}

  @property
  def iterator(self):
    """The Grain ``DatasetIterator`` (created on first use); its state is what checkpoints store."""
    if self._iterator is None:
      self._iterator = iter(self.dataset)
    return self._iterator

  def __iter__(self):
    return self

  def __next__(self) -> Dict[str, np.ndarray]:
    try:
      return next(self.iterator)
    except DataError:
      raise
    except StopIteration:
      raise
    except Exception as e:  # a DataError raised in a worker process may arrive wrapped
      cause = e
      while cause is not None and not isinstance(cause, DataError):
        cause = cause.__cause__ or cause.__context__
      if cause is not None:
        raise DataError(str(cause)) from None
      for line in str(e).splitlines()[::-1]:
        if "DataError:" in line:
          raise DataError(line.split("DataError:", 1)[1].strip()) from None
      raise

  def _submit(self, step: int) -> None:
    if step in self._pending or (self.num_steps is not None and step >= self.num_steps):
      return
    if self._pool is None:
      self._pool = concurrent.futures.ThreadPoolExecutor(self._num_threads)
    b = self.local_batch_size
    self._pending[step] = [
      self._pool.submit(shard.__getitem__, j)
      for shard in self._shards
      for j in range(step * b, (step + 1) * b)
    ]

  def batch_at(self, step: int) -> Dict[str, np.ndarray]:
    """Random access: the GLOBAL batch of ``step``.

    Each process's slice comes in process order, as ``loop.train``'s ``get_batch`` expects, equal to
    what the iterators of all processes yield at that step. Records are decoded by ``num_threads``
    threads and step + 1 is decoded in the background, for consumers that address batches by step
    (e.g. ANT's generator restarts, which revisit the steps of the block that follows).

    Args:
      step: the step, in ``[0, num_steps)``.

    Returns:
      ``{key: array with batch_size rows}``.
    """
    if not self._shards:
      raise ValueError(
        "argument 'drop_remainder': batch_at needs a pipeline built with "
        "drop_remainder=True (equal batches), got False"
      )
    step = int(step)
    if step < 0 or (self.num_steps is not None and step >= self.num_steps):
      raise IndexError(f"argument 'step': expected 0 <= step < {self.num_steps}, got {step}")
    self._submit(step)
    futures = self._pending.pop(step)
    for other in [s for s in self._pending if s != step + 1]:
      for f in self._pending.pop(other):
        f.cancel()
    self._submit(step + 1)
    elements = [f.result() for f in futures]
    return {k: np.stack([e[k] for e in elements]) for k in elements[0]}

  def get_state(self) -> Dict[str, Any]:
    """Returns the iterator's state (a small JSON-able dict)."""
    return self.iterator.get_state()

  def set_state(self, state: Dict[str, Any]) -> None:
    """Restores the iterator's state from :meth:`get_state`."""
    self.iterator.set_state(state)

  def close(self) -> None:
    """Stops worker processes (also done on garbage collection)."""
    if self._iterator is not None and hasattr(self._iterator, "close"):
      self._iterator.close()
    self._iterator = None
    if self._pool is not None:
      self._pool.shutdown(wait=True, cancel_futures=True)
    self._pool, self._pending = None, {}


def make_pipeline(
  source,
  *,
  batch_size: int,
  seed: int,
  transforms: Sequence[Any] = (),
  shuffle: bool = True,
  num_epochs: Optional[int] = None,
  drop_remainder: bool = True,
  shard_options: Optional[grain.sharding.ShardOptions] = None,
  worker_count: int = 0,
  num_threads: int = 2,
  prefetch: int = 2,
  name: str = "data",
) -> Pipeline:
  """Builds the pipeline over a random-access ``source``.

  Args:
    source: anything with ``__len__`` and ``__getitem__`` (the sources above, a Grain source).
    batch_size: GLOBAL batch size; each of the ``shard_count`` processes yields
      ``batch_size / shard_count`` records per step.
    seed: the run's seed; the shuffle and each random transform get their own named stream.
    transforms: Grain ``Map`` / ``RandomMap`` transforms (or callables ``element -> element``),
      applied per record in order.
    shuffle: reshuffle every epoch (False: source order, e.g. for evaluation).
    num_epochs: passes over the source; None repeats forever.
    drop_remainder: drop the last ``len(source) % batch_size`` records of every epoch (required
      with several processes, so that every process runs the same number of steps).
    shard_options: which slice this process reads (default: ``jax.process_index()`` of
      ``jax.process_count()``); pass ``grain.sharding.ShardOptions(i, n)`` to simulate process i.
    worker_count: worker processes decoding whole batches (0: decode in this process).
    num_threads: threads decoding batches in each process (0 with ``worker_count=0``: fully
      synchronous, no prefetch).
    prefetch: batches buffered ahead (per process, and per worker process).
    name: names the seeds' streams.

  Returns:
    A :class:`Pipeline`: an iterator of this process's local batches (dicts of stacked numpy
    arrays), with random access by step (:meth:`Pipeline.batch_at`).
  """
  from rvl_jax.core import validation  # pylint: disable=g-import-not-at-top

  n = len(source)
  shard_options = shard_options or process_shard()
  count, index = int(shard_options.shard_count), int(shard_options.shard_index)
  validation.check_positive_int("batch_size", batch_size)
  if batch_size % count:
    raise ValueError(
      f"argument 'batch_size': expected a global batch divisible by the {count} "
      f"processes, got {batch_size}"
    )
  for arg, value in (
    ("worker_count", worker_count),
    ("num_threads", num_threads),
    ("prefetch", prefetch),
  ):
    if int(value) != value or value < 0:
      raise ValueError(f"argument '{arg}': expected a non-negative integer, got {value!r}")
  if n == 0:
    raise ValueError(f"argument 'source': expected at least one record, got an empty {source!r}")
  if not drop_remainder and count > 1:
    raise ValueError(
      "argument 'drop_remainder': must be True with several processes (every "
      f"process must run the same steps), got False with {count} processes"
    )
  if drop_remainder and n < batch_size:
    raise ValueError(
      f"argument 'batch_size': expected at most the {n} records of the source, got {batch_size}"
    )
  local = batch_size // count

  ds = grain.MapDataset.source(source)
  if shuffle:
    ds = ds.shuffle(seed=named_seed(seed, f"{name}/shuffle"))
  for i, t in enumerate(transforms):
    if isinstance(t, grain.transforms.RandomMap):
      ds = ds.random_map(t, seed=named_seed(seed, f"{name}/transform{i}"))
    else:
      ds = ds.map(t)
  used = (n // batch_size) * batch_size if drop_remainder else n
  if used != n:
    ds = ds[:used]
  shards = [ds[i::count] if count > 1 else ds for i in range(count)]
  ds = shards[index].batch(local, drop_remainder=drop_remainder)
  per_epoch = len(ds)
  if num_epochs is None or num_epochs > 1:
    ds = ds.repeat(num_epochs)
  it = ds.to_iter_dataset(
    grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch if num_threads else 0)
  )
  if worker_count:
    from absl import flags  # pylint: disable=g-import-not-at-top

    if not flags.FLAGS.is_parsed():  # Grain's worker start reads absl flags (their defaults here)
      flags.FLAGS.mark_as_parsed()
    it = it.mp_prefetch(
      grain.MultiprocessingOptions(num_workers=worker_count, per_worker_buffer_size=prefetch)
    )
  return Pipeline(
    it,
    global_batch_size=batch_size,
    local_batch_size=local,
    steps_per_epoch=per_epoch,
    shard_index=index,
    shard_count=count,
    num_records=n,
    shards=shards if drop_remainder else (),
    num_steps=None if num_epochs is None else per_epoch * num_epochs,
    num_threads=num_threads,
  )


def load_all(
  source, transforms: Sequence[Any], *, num_threads: int = 4, chunk: int = 256
) -> Dict[str, np.ndarray]:
  """Reads every record of ``source`` through ``transforms``, in source order.

  For evaluation sets and data sets that are read once into memory.

  Args:
    source: a random-access source.
    transforms: as in :func:`make_pipeline`.
    num_threads: decoding threads.
    chunk: records per internal batch.

  Returns:
    ``{key: array with one row per record}``.
  """
  batches = make_pipeline(
    source,
    batch_size=min(len(source), chunk),
    seed=0,
    transforms=transforms,
    shuffle=False,
    num_epochs=1,
    drop_remainder=False,
    num_threads=num_threads,
    shard_options=grain.sharding.NoSharding(),
  )
  parts = list(batches)
  return {k: np.concatenate([b[k] for b in parts]) for k in parts[0]}
