"""Pair data sources for SlowVAE experiments (Klindt et al. 2021, Sec. 4 and App. D).

Every source offers
  ``batch(seed, step, num_pairs) -> {'x1', 'x2' float32 (B, *shape), 'f1', 'f2' (B, F)}``
  ``sample(rng, n) -> (factors (n, F), observations)``  (i.i.d. first frames, for evaluation)
and the attributes ``image_shape``, ``factor_names``, ``discrete`` (True when every DisLib metric
applies) and ``ground_truth`` (a GroundTruthData for ``rvl_jax.disentanglement.evaluate_all``,
or None for continuous sources where only MCC applies).

File loaders never download anything: they take a user-provided path and fail with a clear message.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import glob
import math
import os
import pickle
from typing import Any, Dict, Optional, Tuple

import numpy as np

from rvl_jax.core import validation
from rvl_jax.data import batching, ground_truth
from rvl_jax.data import pipeline as pl
from rvl_jax.slowvae import pairs as pairs_lib
from rvl_jax.slowvae import synthetic


def _require(path: Optional[str], what: str, hint: str) -> str:
  if not path or not os.path.exists(path):
    raise FileNotFoundError(
      f"argument 'path': {what} not found at {path!r}. rvl_jax never downloads data; "
      f"provide {hint}."
    )
  return path


# ---------------------------------------------------------------------------------------------
# grid data sets (DisLib)
# ---------------------------------------------------------------------------------------------

SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)
MPI3D_FACTORS = (
  "object_color",
  "object_shape",
  "object_size",
  "camera_height",
  "background_color",
  "horizontal_axis",
  "vertical_axis",
)
MPI3D_SIZES = (6, 6, 2, 3, 3, 40, 40)
SMALLNORB_FACTORS = ("category", "instance", "elevation", "azimuth", "lighting")
SMALLNORB_SIZES = (5, 10, 9, 18, 6)
CARS3D_FACTORS = ("elevation", "azimuth", "object_type")


def _load_array(path: str, key: str = "images"):
  """Loads an image array from .npy (memory-mapped), .npz or .h5/.hdf5 (needs h5py)."""
  if path.endswith(".npy"):
    return np.load(path, mmap_mode="r")
  if path.endswith(".npz"):
    with np.load(path) as f:
      if key not in f:
        raise KeyError(f"argument 'path': {path} has no array {key!r} (keys: {list(f.keys())})")
      return f[key]
  if path.endswith((".h5", ".hdf5")):
    try:
      import h5py
    except ImportError as e:
      raise ImportError(
        "reading .h5 files needs h5py (pip install h5py), or convert the 'images' dataset to .npy"
      ) from e
    f = h5py.File(path, "r")
    return f[key]
  raise ValueError(f"argument 'path': expected a .npy, .npz or .h5 file, got {path!r}")


# The single-array image files: (factor sizes, factor names, categorical factors, what the file is,
# what to pass); the array is 'images' in an .h5/.npz, or the whole .npy.
_ARRAY_FILES = {
  "shapes3d": (
    SHAPES3D_SIZES,
    SHAPES3D_FACTORS,
    (False, False, False, False, True, False),
    "Shapes3D file",
    "'3dshapes.h5' (or its 'images' array as .npy)",
  ),
  "mpi3d": (
    MPI3D_SIZES,
    MPI3D_FACTORS,
    (False, True, False, False, False, False, False),
    "MPI3D file",
    "'mpi3d_real.npz' or an .npy of its 'images' array",
  ),
}


def _load_array_file(name: str, path: str) -> ground_truth.GroundTruthData:
  sizes, factors, categorical, what, hint = _ARRAY_FILES[name]
  _require(path, what, hint)
  images = _load_array(path, "images")
  return ground_truth.ArrayGroundTruthData(
    images, sizes, factors, categorical=categorical, name=name
  )


def load_shapes3d(path: str) -> ground_truth.GroundTruthData:
  """Shapes3D (``3dshapes.h5`` key 'images', or an .npy/.npz of the same array), 480,000 RGB."""
  return _load_array_file("shapes3d", path)


def load_mpi3d(path: str) -> ground_truth.GroundTruthData:
  """MPI3D (``mpi3d_real.npz`` key 'images', or .npy to memory-map), 1,036,800 RGB."""
  return _load_array_file("mpi3d", path)


def _read_norb(path: str) -> np.ndarray:
  """Reads one NORB binary matrix file ('.mat' of the small NORB release)."""
  with open(path, "rb") as f:
    magic = int(np.frombuffer(f.read(4), "<i4")[0])
    ndim = int(np.frombuffer(f.read(4), "<i4")[0])
    dims = np.frombuffer(f.read(4 * max(3, ndim)), "<i4")[:ndim]
    dtype = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}.get(magic)
    if dtype is None:
      raise ValueError(
        f"argument 'path': {path} is not a NORB uint8/int32 matrix (magic {magic:#x})"
      )
    data = np.frombuffer(f.read(), dtype if dtype == np.uint8 else "<i4")
  return data.reshape(tuple(int(d) for d in dims))


class SmallNORB(ground_truth.ArrayGroundTruthData):
  """SmallNORB, left camera, 96x96 resized to 64x64, train+test sorted by the 5 factors.

  Training pairs use the full 5-factor grid; ``metric_data()`` hides the instance factor
  (F = 4) and draws a random instance per generated image, as disentanglement_lib does.
  """

  def __init__(self, directory: str):
    _require(directory, "SmallNORB directory", "the directory with the six smallnorb-*.mat files")
    feats, imgs = [], []
    for split in ("training", "testing"):
      pattern = os.path.join(directory, f"smallnorb-*-{split}-{{}}.mat")
      files = {k: glob.glob(pattern.format(k)) for k in ("dat", "cat", "info")}
      if not all(files.values()):
        raise FileNotFoundError(
          f"argument 'directory': missing smallnorb-*-{split}-{{dat,cat,info}}.mat in {directory!r}"
        )
      dat = _read_norb(files["dat"][0])[:, 0]  # left camera
      cat = _read_norb(files["cat"][0]).reshape(-1, 1)
      info = _read_norb(files["info"][0]).reshape(dat.shape[0], -1)[:, :4].copy()
      info[:, 2] //= 2  # azimuth 0, 2, ..., 34 -> 0..17
      feats.append(np.concatenate([cat, info], 1))
      imgs.append(_resize(dat, 64))
    feats = np.concatenate(feats)
    imgs = np.concatenate(imgs)
    order = np.lexsort(feats.T[::-1])
    feats, imgs = feats[order], imgs[order]
    sizes = tuple(int(v) for v in feats.max(0) + 1)
    super().__init__(
      imgs,
      sizes,
      SMALLNORB_FACTORS,
      categorical=(True, True, False, False, False),
      name="smallnorb",
    )
    expected = self.index_to_factors(np.arange(self.num_images))
    if not np.array_equal(expected, feats):
      raise ValueError("SmallNORB files do not form a complete factor grid")

  def metric_data(self) -> ground_truth.GroundTruthData:
    return _HiddenFactorData(self, hidden=1)


class _HiddenFactorData(ground_truth.GroundTruthData):
  """View of a grid with one factor hidden and drawn at random for every generated image."""

  def __init__(self, base, hidden: int, seed: int = 0):
    self.base, self.hidden = base, hidden
    keep = [i for i in range(base.num_factors) if i != hidden]
    self.keep = keep
    self.factor_sizes = tuple(base.factor_sizes[i] for i in keep)
    self.factor_names = tuple(base.factor_names[i] for i in keep)
    self.categorical = tuple(base.categorical[i] for i in keep)
    self.image_shape = base.image_shape
    self.name = base.name + "-metrics"
    self._rng = np.random.default_rng(seed)

  def images_from_factors(self, factors):
    f = self.validate_factors(factors)
    full = np.zeros((f.shape[0], self.base.num_factors), np.int64)
    full[:, self.keep] = f
    full[:, self.hidden] = self._rng.integers(0, self.base.factor_sizes[self.hidden], f.shape[0])
    return self.base.images_from_factors(full)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize of (N, H, W[, C]) uint8 images to size x size (PIL, in the input
  pipeline's threads)."""
  return pl.load_all(pl.ArraySource({"image": images}), [_ResizeImage(size)])["image"]


@dataclasses.dataclass(frozen=True)
class _ResizeImage:
  size: int

  def __call__(self, record):
    from PIL import Image

    im = Image.fromarray(record["image"]).resize((self.size, self.size), Image.BILINEAR)
    return {"image": np.asarray(im)}


def load_smallnorb(directory: str) -> SmallNORB:
  return SmallNORB(directory)


def load_cars3d(directory: str) -> ground_truth.GroundTruthData:
  """Cars3D from the ``nips2015-analogy-data/data/cars`` .mat meshes (key 'im', 128x128x3x24x4)."""
  _require(directory, "Cars3D directory", "the 'data/cars' directory with the *.mat files")
  files = sorted(f for f in os.listdir(directory) if f.endswith(".mat"))
  if not files:
    raise FileNotFoundError(f"argument 'directory': no .mat files in {directory!r}")
  n = len(files)
  # one record per car: its (azimuth 24, elevation 4, 64, 64, 3) views, decoded in threads
  views = pl.load_all(
    pl.ArraySource({"path": np.asarray([os.path.join(directory, f) for f in files])}),
    [_car_views],
    chunk=8,
  )["views"]
  # grid order (elevation, azimuth, car), the car fastest
  images = np.ascontiguousarray(views.transpose(2, 1, 0, 3, 4, 5).reshape(4 * 24 * n, 64, 64, 3))
  return ground_truth.ArrayGroundTruthData(
    images, (4, 24, n), CARS3D_FACTORS, categorical=(False, False, True), name="cars3d"
  )


def _car_views(record) -> Dict[str, np.ndarray]:
  """The 24 x 4 views of one Cars3D .mat mesh file, each thumbnailed to 64 x 64."""
  import scipy.io
  from PIL import Image

  try:
    mesh = scipy.io.loadmat(str(record["path"]))["im"]  # (128, 128, 3, 24, 4)
  except Exception as e:
    raise pl.DataError(
      f"argument 'directory': cannot read Cars3D file {str(record['path'])!r}: "
      f"{type(e).__name__}: {e}"
    ) from None
  mesh = np.einsum("abcde->deabc", mesh)  # (azimuth 24, elevation 4, 128, 128, 3)
  out = np.zeros(mesh.shape[:2] + (64, 64, 3), np.uint8)
  for az in range(mesh.shape[0]):
    for el in range(mesh.shape[1]):
      im = Image.fromarray(np.asarray(mesh[az, el], np.uint8))
      im.thumbnail((64, 64), Image.LANCZOS)
      out[az, el] = np.asarray(im.resize((64, 64)))
  return {"views": out}


class GridPairs(pairs_lib.PairData):
  """PairData plus the evaluation interface for a GroundTruthData grid."""

  discrete = True

  def __init__(self, data, sampler, metric_data=None):
    super().__init__(data, sampler)
    self.ground_truth = metric_data if metric_data is not None else data
    self.factor_names = tuple(self.ground_truth.factor_names)

  def sample(self, rng, n):
    return self.ground_truth.sample(ground_truth.as_numpy_rng(rng), n)


# ---------------------------------------------------------------------------------------------
# Natural Sprites (Klindt et al. 2021, App. D.4)
# ---------------------------------------------------------------------------------------------

SPRITE_SHAPES = ("square", "triangle", "star_4", "spoke_4")


def _sprite_polygon(shape: str) -> np.ndarray:
  """Unit-size polygons (circumradius 1) of the four Spriteworld shapes used."""
  if shape == "square":
    t = np.pi / 4 + np.arange(4) * np.pi / 2
    return np.stack([np.cos(t), np.sin(t)], 1)
  if shape == "triangle":
    t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
    return np.stack([np.cos(t), np.sin(t)], 1)
  if shape == "star_4":
    t = np.pi / 2 + np.arange(8) * np.pi / 4
    r = np.where(np.arange(8) % 2 == 0, 1.0, 0.4)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)
  if shape == "spoke_4":
    pts = []
    for k in range(4):
      a = np.pi / 2 + k * np.pi / 2
      for da, r in ((-0.18, 0.15), (-0.12, 1.0), (0.12, 1.0), (0.18, 0.15)):
        pts.append((r * np.cos(a + da), r * np.sin(a + da)))
    return np.asarray(pts)
  validation.check_in_choices("shape", shape, SPRITE_SHAPES)


_POLYS = {s: _sprite_polygon(s) for s in SPRITE_SHAPES}


def render_sprite(
  x: float,
  y: float,
  scale: float,
  angle_deg: float,
  shape: int,
  size: int = 64,
  anti_aliasing: int = 5,
) -> np.ndarray:
  """White sprite on black, (size, size, 3) float32; x, y in [0, 1] (y up, as Spriteworld)."""
  from PIL import Image, ImageDraw

  big = size * anti_aliasing
  poly = _POLYS[SPRITE_SHAPES[int(shape)]] * scale * 0.5 * math.sqrt(2.0)
  a = math.radians(angle_deg)
  rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
  pts = poly @ rot.T + np.array([x, y])
  pts = np.stack([pts[:, 0] * big, (1.0 - pts[:, 1]) * big], 1)
  im = Image.new("L", (big, big), 0)
  ImageDraw.Draw(im).polygon([tuple(p) for p in pts], fill=255)
  im = im.resize((size, size), Image.BOX)
  g = np.asarray(im, np.float32) / 255.0
  return np.repeat(g[..., None], 3, -1)


def load_natural_sprites_csv(path: str, area_filter: float = 0.1) -> Dict[str, np.ndarray]:
  """Transition table from ``downscale_keepaspect.csv``: {'x', 'y', 'area': (n, 2) float}.

  Each CSV row: id, category, then per annotated frame a literal list of three window entries,
  each (y, x, area) or empty. A transition = two consecutive annotated frames with the object in
  the same window. Pairs outside the [q, 1-q] area quantiles (q = area_filter / 2) in either
  frame are dropped (Klindt et al. 2021, App. D.4).
  """
  _require(path, "Natural Sprites CSV", "'downscale_keepaspect.csv' (Zenodo record 3948069)")
  rows = {"x": [], "y": [], "area": []}
  with open(path) as f:
    reader = csv.reader(f)
    next(reader)
    for row in reader:
      cells = row[2:]
      for j in range(len(cells) - 1):
        if not cells[j] or not cells[j + 1]:
          continue
        a, b = ast.literal_eval(cells[j]), ast.literal_eval(cells[j + 1])
        for w in range(min(len(a), len(b))):
          if a[w] and b[w]:
            rows["y"].append((a[w][0], b[w][0]))
            rows["x"].append((a[w][1], b[w][1]))
            rows["area"].append((a[w][2], b[w][2]))
  table = {k: np.asarray(v, np.float64).reshape(-1, 2) for k, v in rows.items()}
  if not len(table["x"]):
    raise ValueError(f"argument 'path': no transitions found in {path!r}")
  if area_filter:
    keep = np.ones(len(table["x"]), bool)
    for i in range(2):
      lo, hi = np.quantile(table["area"][:, i], [area_filter / 2, 1 - area_filter / 2])
      keep &= (table["area"][:, i] >= lo) & (table["area"][:, i] <= hi)
    table = {k: v[keep] for k, v in table.items()}
  return table


def generalized_laplace(rng, alpha: float, scale: float, size) -> np.ndarray:
  """Samples p(x) ~ exp(-|x / scale|^alpha) (|x|/scale ~ Gamma(1/alpha)^(1/alpha))."""
  g = rng.gamma(1.0 / alpha, 1.0, size) ** (1.0 / alpha)
  return scale * g * rng.choice([-1.0, 1.0], size)


def synthetic_transition_table(
  num: int = 20000, seed: int = 0, alpha=(0.6, 0.6, 0.45), scale=(0.6, 0.6, 8.0)
) -> Dict[str, np.ndarray]:
  """Offline stand-in for the Natural Sprites table [R]: sparse generalized-Laplace transitions
  of (x, y, area) in pixels (not the paper's data; for tests and CPU demos)."""
  rng = np.random.default_rng(seed)
  x1, y1 = rng.uniform(14, 50, num), rng.uniform(14, 50, num)
  a1 = np.exp(rng.uniform(np.log(40), np.log(500), num))
  x2 = np.clip(x1 + generalized_laplace(rng, alpha[0], scale[0], num), 8, 56)
  y2 = np.clip(y1 + generalized_laplace(rng, alpha[1], scale[1], num), 8, 56)
  a2 = np.clip(a1 + generalized_laplace(rng, alpha[2], scale[2], num) * np.sqrt(a1) / 5, 20, 800)
  return {"x": np.stack([x1, x2], 1), "y": np.stack([y1, y2], 1), "area": np.stack([a1, a2], 1)}


class NaturalSprites:
  """Natural-Sprites pairs (continuous or discrete) from a transition table (Klindt et al. 2021,
  App. D.4).

  Per pair: one transition, one orientation of 40 and one of 4 shapes (fixed across the pair);
  x = x_px / 64, y = y_px / 64, scale = sqrt(area / 4096). ``discrete=True`` bins the pooled
  x, y and area values into 32, 32 and 6 equal-width bins (bin centres) -> factor grid
  [32, 32, 6, 40, 4] with a GroundTruthData for all metrics.
  """

  factor_names = ("x", "y", "scale", "angle", "shape")

  def __init__(self, table: Dict[str, np.ndarray], discrete: bool = False):
    self.table = {k: np.asarray(v, np.float64) for k, v in table.items()}
    self.n = len(self.table["x"])
    self.discrete = discrete
    self.image_shape = (64, 64, 3)
    self.angles = np.linspace(0, 360, 40, endpoint=False)
    if discrete:
      self.centres, self.bins = {}, {}
      for key, nb in (("x", 32), ("y", 32), ("area", 6)):
        _, edges = np.histogram(self.table[key].ravel(), bins=nb)
        c = 0.5 * (edges[:-1] + edges[1:])
        self.centres[key] = c
        self.bins[key] = np.abs(self.table[key][..., None] - c).argmin(-1)  # (n, 2)
      self.ground_truth = _NaturalGrid(self)
    else:
      self.ground_truth = None

  def _render(self, x_px, y_px, area, angle_idx, shape):
    return np.stack(
      [
        render_sprite(x / 64.0, y / 64.0, math.sqrt(a / 4096.0), self.angles[t], s)
        for x, y, a, t, s in zip(x_px, y_px, area, angle_idx, shape)
      ]
    ).astype(np.float32)

  def _values(self, idx, frame):
    if self.discrete:
      return tuple(self.centres[k][self.bins[k][idx, frame]] for k in ("x", "y", "area"))
    return tuple(self.table[k][idx, frame] for k in ("x", "y", "area"))

  def _factors(self, idx, frame, angle, shape):
    if self.discrete:
      cols = [self.bins[k][idx, frame] for k in ("x", "y", "area")]
      return np.stack(cols + [angle, shape], 1).astype(np.int64)
    x, y, a = (self.table[k][idx, frame] for k in ("x", "y", "area"))
    return np.stack([x / 64, y / 64, np.sqrt(a / 4096), self.angles[angle], shape], 1)

  def sample_pairs(self, rng, num_pairs):
    rng = ground_truth.as_numpy_rng(rng)
    idx = rng.integers(0, self.n, num_pairs)
    angle = rng.integers(0, 40, num_pairs)
    shape = rng.integers(0, 4, num_pairs)
    out = {}
    for frame, key in ((0, "x1"), (1, "x2")):
      x, y, a = self._values(idx, frame)
      out[key] = self._render(x, y, a, angle, shape)
      out["f" + key[1]] = self._factors(idx, frame, angle, shape)
    return out

  def batch(self, seed, step, num_pairs):
    return self.sample_pairs(batching.step_rng(seed, step), num_pairs)

  def sample(self, rng, n):
    if self.discrete:
      return self.ground_truth.sample(ground_truth.as_numpy_rng(rng), n)
    p = self.sample_pairs(rng, n)
    return p["f1"], p["x1"]


class _NaturalGrid(ground_truth.GroundTruthData):
  name = "natural-sprites-discrete"
  factor_names = NaturalSprites.factor_names
  factor_sizes = (32, 32, 6, 40, 4)
  categorical = (False, False, False, False, True)
  image_shape = (64, 64, 3)

  def __init__(self, src):
    self.src = src

  def images_from_factors(self, factors):
    f = self.validate_factors(factors)
    c = self.src.centres
    return self.src._render(c["x"][f[:, 0]], c["y"][f[:, 1]], c["area"][f[:, 2]], f[:, 3], f[:, 4])


# ---------------------------------------------------------------------------------------------
# KITTI Masks (Klindt et al. 2021, App. D.5)
# ---------------------------------------------------------------------------------------------


def load_kitti_pickle(path: str) -> Dict[str, list]:
  """``kitti_peds_v2.pickle``: {'pedestrians': [(T, 64, 64) bool], 'pedestrians_latents': [(T, 3)]}."""
  _require(path, "KITTI Masks pickle", "'kitti_peds_v2.pickle' (Zenodo record 3931823)")
  with open(path, "rb") as f:
    data = pickle.load(f)
  for key in ("pedestrians", "pedestrians_latents"):
    if key not in data:
      raise KeyError(f"argument 'path': {path} has no key {key!r}")
  return data


def synthetic_kitti_masks(
  num_sequences: int = 60,
  length: int = 40,
  seed: int = 0,
  alpha: Tuple[float, float, float] = (0.45, 0.59, 0.69),
) -> Dict[str, list]:
  """Offline stand-in for KITTI Masks [R]: ellipse 'pedestrian' masks whose (y, x, area) follow
  random walks with sparse generalized-Laplace steps (alpha from the paper's KITTI fits)."""
  rng = np.random.default_rng(seed)
  rr, cc = np.mgrid[0:64, 0:64]
  peds, lats = [], []
  for _ in range(num_sequences):
    y, x, h = rng.uniform(20, 44), rng.uniform(10, 54), rng.uniform(8, 22)
    masks, lat = [], []
    for _ in range(length):
      w = 0.4 * h
      m = ((rr - y) / h) ** 2 + ((cc - x) / w) ** 2 <= 1.0
      if m.sum() < 30:
        h = h * 1.2 + 1
        m = ((rr - y) / h) ** 2 + ((cc - x) / (0.4 * h)) ** 2 <= 1.0
      masks.append(m)
      ys, xs = np.nonzero(m)
      lat.append((ys.mean(), xs.mean(), float(m.sum())))
      y = float(np.clip(y + generalized_laplace(rng, alpha[1], 0.6, ()), 12, 52))
      x = float(np.clip(x + generalized_laplace(rng, alpha[2], 0.8, ()), 6, 58))
      h = float(np.clip(h + generalized_laplace(rng, alpha[0], 0.3, ()), 6, 26))
    peds.append(np.stack(masks))
    lats.append(np.asarray(lat, np.float32))
  return {"pedestrians": peds, "pedestrians_latents": lats}


def _augment_pair(rng, a: np.ndarray, b: np.ndarray, max_shift: float = 5.0, max_deg: float = 2.0):
  """Same random shift (+-max_shift px) and rotation (+-max_deg) for both frames."""
  from scipy import ndimage

  ang = math.radians(rng.uniform(-max_deg, max_deg))
  sh = rng.uniform(-max_shift, max_shift, 2)
  c = np.array([31.5, 31.5])
  rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
  offset = c - rot @ (c + sh)
  warp = lambda im: ndimage.affine_transform(im, rot, offset=offset, order=0)
  return warp(a), warp(b)


class KittiMasks:
  """KITTI-Masks pairs: (sequence, start) uniform over all transitions, gap
  Delta ~ U{1..max_delta_frames}, end = min(start + Delta, T - 1) (Klindt et al. 2021, App. D.5).
  ``max_delta_frames=1`` is the mean-Delta-t 0.05 s setting, 5 the 0.15 s setting."""

  factor_names = ("y", "x", "area")
  discrete = False
  ground_truth = None
  image_shape = (64, 64, 1)

  def __init__(self, data: Dict[str, list], max_delta_frames: int = 5, augment: bool = False):
    if max_delta_frames < 1:
      raise ValueError(f"argument 'max_delta_frames': expected >= 1, got {max_delta_frames}")
    self.masks = [np.asarray(m, bool) for m in data["pedestrians"]]
    self.latents = [np.asarray(l, np.float32) for l in data["pedestrians_latents"]]
    self.max_delta = int(max_delta_frames)
    self.augment = augment
    lens = np.array([len(m) for m in self.masks])
    self.starts = [(s, t) for s, n in enumerate(lens) for t in range(n - 1)]
    if not self.starts:
      raise ValueError("KITTI Masks data has no sequence with at least 2 frames")
    self.starts = np.asarray(self.starts)

  def sample_pairs(self, rng, num_pairs):
    rng = ground_truth.as_numpy_rng(rng)
    pick = self.starts[rng.integers(0, len(self.starts), num_pairs)]
    delta = rng.integers(1, self.max_delta + 1, num_pairs)
    x1, x2, f1, f2 = [], [], [], []
    for (s, t), d in zip(pick, delta):
      e = min(t + d, len(self.masks[s]) - 1)
      a, b = self.masks[s][t], self.masks[s][e]
      if self.augment:
        a, b = _augment_pair(rng, a, b)
      x1.append(a)
      x2.append(b)
      f1.append(self.latents[s][t])
      f2.append(self.latents[s][e])
    cast = lambda v: np.asarray(v, np.float32)[..., None]
    return {"x1": cast(x1), "x2": cast(x2), "f1": np.asarray(f1), "f2": np.asarray(f2)}

  def batch(self, seed, step, num_pairs):
    return self.sample_pairs(batching.step_rng(seed, step), num_pairs)

  def sample(self, rng, n):
    rng = ground_truth.as_numpy_rng(rng)
    pick = self.starts[rng.integers(0, len(self.starts), n)]
    imgs = np.stack([self.masks[s][t] for s, t in pick]).astype(np.float32)[..., None]
    return np.stack([self.latents[s][t] for s, t in pick]), imgs


# ---------------------------------------------------------------------------------------------
# synthetic nonlinear ICA wrapper
# ---------------------------------------------------------------------------------------------


class NonlinearICA(synthetic.NonlinearICAPairs):
  discrete = False
  ground_truth = None

  @property
  def factor_names(self):
    return tuple(f"s{i}" for i in range(self.num_sources))


# ---------------------------------------------------------------------------------------------
# factory
# ---------------------------------------------------------------------------------------------

DATASETS = (
  "dsprites",
  "shapes3d",
  "mpi3d",
  "smallnorb",
  "cars3d",
  "natural_sprites",
  "kitti_masks",
  "nica",
)


def build(cfg) -> Any:
  """Builds a pair source from a config dict-like with keys
  name, source ('auto'|'procedural'|'file'|'synthetic'), path, sampler, rate, k, discrete,
  max_delta_frames, augment, and the nica_* keys."""
  get = (
    (lambda k, d=None: cfg.get(k, d))
    if hasattr(cfg, "get")
    else (lambda k, d=None: getattr(cfg, k, d))
  )
  name = get("name", "dsprites")
  path = get("path", None) or None

  def grid(data, metric_data=None):
    sampler = pairs_lib.make_sampler(
      get("sampler", "lap"),
      data.factor_sizes,
      data.categorical,
      rate=get("rate", 1.0),
      k=get("k", None) or None,
    )
    return GridPairs(data, sampler, metric_data)

  if name == "dsprites":
    from rvl_jax.data import dsprites

    src = get("source", "procedural")
    return grid(
      dsprites.load_dsprites(source=src if src != "synthetic" else "procedural", path=path)
    )
  if name == "shapes3d":
    return grid(load_shapes3d(path))
  if name == "mpi3d":
    return grid(load_mpi3d(path))
  if name == "smallnorb":
    d = load_smallnorb(path)
    return grid(d, d.metric_data())
  if name == "cars3d":
    return grid(load_cars3d(path))
  if name == "natural_sprites":
    if get("source", "synthetic") == "synthetic" and not path:
      table = synthetic_transition_table(seed=get("data_seed", 0))
    else:
      table = load_natural_sprites_csv(path)
    return NaturalSprites(table, discrete=bool(get("discrete", False)))
  if name == "kitti_masks":
    if get("source", "synthetic") == "synthetic" and not path:
      data = synthetic_kitti_masks(seed=get("data_seed", 0))
    else:
      data = load_kitti_pickle(path)
    return KittiMasks(
      data, max_delta_frames=int(get("max_delta_frames", 5)), augment=bool(get("augment", False))
    )
  if name == "nica":
    return NonlinearICA(
      num_sources=int(get("nica_sources", 5)),
      obs_dim=int(get("nica_obs_dim", 50)),
      rate=float(get("nica_rate", 6.0)),
      num_layers=int(get("nica_layers", 2)),
      mixing_seed=int(get("data_seed", 0)),
    )
  validation.check_in_choices("data.name", name, DATASETS)
