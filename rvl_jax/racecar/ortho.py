"""Orthogonality baselines: SRIP (Bansal et al. 2018, in the form of the racecar reference code)
and the Frobenius form (Xie & Thuerey, eq. 1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def kernel_matrix(kernel):
  """Dense [in, out] as is; conv HWIO -> [kh*kw*cin, cout]."""
  if kernel.ndim == 2:
    return kernel
  if kernel.ndim == 4:
    return kernel.reshape(-1, kernel.shape[-1])
  raise ValueError(f"argument 'kernel': expected a 2-D or 4-D kernel, got shape {kernel.shape}")


def gram_minus_identity(kernel):
  """K^T K - I on the smaller side (K K^T - I when out > in)."""
  w = kernel_matrix(kernel)
  if w.shape[1] > w.shape[0]:
    w = w.T
  g = w.T @ w
  return g - jnp.eye(g.shape[0], dtype=g.dtype)


def _normalize(v, eps):
  return v / (jnp.linalg.norm(v) + eps)


def srip(
  kernel,
  key,
  power_iters: int = 1,
  squared: bool = True,
  stop_grad_vectors: bool = False,
  eps: float = 1e-12,
):
  """SRIP: a power-iteration estimate of the spectral norm of A = K^T K - I (reference code form).

  u ~ N(0, I) fresh (from `key`), v = n(A^T u), u = n(A v) repeated `power_iters` times,
  sigma = |u^T A v|.

  Args:
    kernel: a dense [in, out] or conv [kh, kw, cin, cout] kernel (Gram on the smaller side).
    key: the key of the random start vector.
    power_iters: power iterations (at least 1).
    squared: return sigma^2 (the reference code) instead of sigma (the paper's eq. 27).
    stop_grad_vectors: no gradient through u and v.
    eps: normalisation guard.

  Returns:
    sigma^2 or sigma (a scalar).
  """
  a = gram_minus_identity(kernel)
  u = _normalize(jax.random.normal(key, (a.shape[0],), a.dtype), eps)
  v = u
  for _ in range(max(int(power_iters), 1)):
    v = _normalize(a.T @ u, eps)
    u = _normalize(a @ v, eps)
  if stop_grad_vectors:
    u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  sigma = jnp.abs(u @ (a @ v))
  return sigma**2 if squared else sigma


def ortho_frobenius(kernel):
  """Frobenius orthogonality (Xie & Thuerey, eq. 1), the data-independent counterpart of racecar.

  Args:
    kernel: a dense or conv kernel.

  Returns:
    ||K^T K - I||_F^2 on the smaller side.
  """
  return jnp.sum(jnp.square(gram_minus_identity(kernel)))


def collect_kernels(params, include=None):
  """All 2-D/4-D leaves named 'kernel' in a params tree (optionally only paths containing `include`
  substrings), in tree order."""
  out = []
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, leaf in flat:
    names = [getattr(p, "key", getattr(p, "name", str(p))) for p in path]
    if names and names[-1] == "kernel" and leaf.ndim in (2, 4):
      joined = "/".join(str(n) for n in names)
      if include is None or any(s in joined for s in include):
        out.append(leaf)
  return out


def srip_penalty(params, key, beta: float = 0.1, include=None, **kw):
  """The Ort (SRIP) penalty of a network.

  Args:
    params: the params tree.
    key: split into one start vector per kernel.
    beta: the penalty weight.
    include: substrings of the kernel paths to penalise (None = every kernel).
    **kw: options of `srip`.

  Returns:
    beta * sum over kernels of srip(kernel).
  """
  ks = collect_kernels(params, include)
  keys = jax.random.split(key, max(len(ks), 1))
  return beta * sum(srip(k, kk, **kw) for k, kk in zip(ks, keys))


def frobenius_penalty(params, beta: float = 1.0, include=None):
  """The Frobenius orthogonality penalty of a network.

  Args:
    params: the params tree.
    beta: the penalty weight.
    include: substrings of the kernel paths to penalise (None = every kernel).

  Returns:
    beta * sum over kernels of `ortho_frobenius`.
  """
  return beta * sum(ortho_frobenius(k) for k in collect_kernels(params, include))


def srip_schedule(epoch, base: float = 0.01):
  """Bansal et al.'s (2018) SRIP coefficient schedule for the ResNet comparison.

  Args:
    epoch: the epoch (array or int).
    base: the initial coefficient.

  Returns:
    base, base x1e-3 after 20, x1e-4 after 50, x1e-6 after 70 epochs, 0 after 120.
  """
  epoch = jnp.asarray(epoch)
  return jnp.where(
    epoch > 120,
    0.0,
    jnp.where(
      epoch > 70,
      base * 1e-6,
      jnp.where(epoch > 50, base * 1e-4, jnp.where(epoch > 20, base * 1e-3, base)),
    ),
  )
