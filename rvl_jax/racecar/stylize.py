"""Gatys et al. (2016) stylization with the features of a trained racecar chain, and the offline
image data of the VGG experiment (Xie & Thuerey, appendices D.3-D.4).

Content loss 1/2 sum (F_p - F_g)^2 at a content layer, style loss sum_t w_t E_t with
E_t = sum (G_g - G_a)^2 / (4 N_t^2 M_t^2) and G = F F^T over the conv layers,
L = eta L_content + delta L_style, minimised over the pixels of g with Adam (clipped to [0, 1]).
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rvl_jax.core import prng
from rvl_jax.racecar.training import apply_chain

# scikit-image's bundled photographs and textures; one class per image
TRAIN_IMAGES = (
  "astronaut",
  "chelsea",
  "rocket",
  "camera",
  "brick",
  "grass",
  "gravel",
  "hubble_deep_field",
  "immunohistochemistry",
  "coins",
)


def load_image(name: str, size: Optional[int] = None) -> np.ndarray:
  """A scikit-image bundled image as float RGB in [0, 1], optionally centre-cropped and resized to
  ``size`` x ``size``."""
  import skimage.data
  import skimage.transform

  im = np.asarray(getattr(skimage.data, name)()).astype(np.float32)
  if im.max() > 1.5:
    im = im / 255.0
  if im.ndim == 2:
    im = np.repeat(im[..., None], 3, -1)
  im = im[..., :3]
  if size is not None:
    h, w = im.shape[:2]
    m = min(h, w)
    im = im[(h - m) // 2 : (h - m) // 2 + m, (w - m) // 2 : (w - m) // 2 + m]
    im = skimage.transform.resize(im, (size, size), anti_aliasing=True)
  return im.astype(np.float32)


def patch_dataset(n_per_class: int, patch: int, source_size: int, seed: int):
  """Random patches (with flips) of each training image; label = image index."""
  rng = prng.numpy_rng(seed, "patches")
  xs, ys = [], []
  for k, name in enumerate(TRAIN_IMAGES):
    im = load_image(name, source_size)
    for _ in range(n_per_class):
      i, j = rng.integers(0, source_size - patch + 1, 2)
      p = im[i : i + patch, j : j + patch]
      if rng.random() < 0.5:
        p = p[:, ::-1]
      xs.append(p)
      ys.append(k)
  x, y = np.stack(xs), np.asarray(ys)
  perm = rng.permutation(len(x))
  return x[perm], np.eye(len(TRAIN_IMAGES), dtype=np.float32)[y[perm]]


def shape_images(size: int):
  """The shape test pair: a disc (source) and a square (style), same colours and background."""
  yy, xx = np.mgrid[0:size, 0:size] / size
  bg, fg = np.array([0.9, 0.85, 0.6], np.float32), np.array([0.2, 0.3, 0.7], np.float32)
  disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2) < 0.3**2
  square = (np.abs(yy - 0.5) < 0.27) & (np.abs(xx - 0.5) < 0.27)
  mk = lambda m: np.where(m[..., None], fg, bg).astype(np.float32)
  return mk(disc), mk(square)


def gram(f):
  """[1, H, W, N] -> N x N Gram matrix F F^T (F: N filters x M positions), and M."""
  n = f.shape[-1]
  fm = f.reshape(-1, n)
  return fm.T @ fm, fm.shape[0]


def style_loss(feats_g, grams_a, weights):
  """sum_t w_t sum (G_g - G_a)^2 / (4 N_t^2 M_t^2) over the layers t (Gatys et al. 2016, eq. 4-5);
  grams_a holds (G_a, M_t) of the style image from `gram`."""
  tot = 0.0
  for fg, (ga, m), w in zip(feats_g, grams_a, weights):
    gg, _ = gram(fg)
    n = fg.shape[-1]
    tot = tot + w * jnp.sum(jnp.square(gg - ga)) / (4.0 * n**2 * m**2)
  return tot


def make_stylizer(
  state, num_layers: int, content_layer: int, learning_rate: float, num_steps: int
) -> Callable:
  """The jitted stylization of one trained chain.

  Args:
    state: the trained state of a conv chain.
    num_layers: conv layers of the chain (the style layers, equally weighted).
    content_layer: zero-based index of the content layer among d_2 .. d_{n+1}.
    learning_rate: Adam's step size on the pixels.
    num_steps: optimisation steps.

  Returns:
    ``stylize(content, style, init, eta, delta) -> (image, loss history)``.
  """

  def feats(x):
    out, _ = apply_chain(state, state.params, x[None], False, None)
    return out.ds[1:]  # the conv activations d_2 .. d_{n+1}

  w = [1.0 / num_layers] * num_layers
  cl = content_layer

  @jax.jit
  def run(content, style, init, eta, delta):
    fp = feats(content)[cl]
    ga = [gram(f) for f in feats(style)]
    tx = optax.adam(learning_rate)

    def loss(g):
      fg = feats(g)
      return eta * 0.5 * jnp.sum(jnp.square(fg[cl] - fp)) + delta * style_loss(fg, ga, w)

    def body(carry, _):
      g, opt = carry
      l, gr = jax.value_and_grad(loss)(g)
      upd, opt = tx.update(gr, opt, g)
      g = jnp.clip(optax.apply_updates(g, upd), 0.0, 1.0)
      return (g, opt), l

    (g, _), hist = jax.lax.scan(body, (init, tx.init(init)), None, length=num_steps)
    return g, hist

  return run
