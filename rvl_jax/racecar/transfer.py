"""Transfer helpers for racecar-trained generators (Xie & Thuerey, appendix D.2: an autoencoder's
encoder initialised from the generator's reverse pass, its decoder from the forward pass).

A racecar generator chain G (low-res -> high-res) also owns a reverse pass (high-res -> low-res) made of the
transposes of the very same weights. An autoencoder whose decoder has G's architecture and whose encoder
is G's reverse pass (`RacecarChain.reverse_from`) can therefore be initialised from G twice over:

* the decoder from G's forward weights,
* the encoder from G's reverse-pass weights (the same kernels and biases; once copied the two are trained
  independently).

`stack_output_channels` tiles the last layer's kernel/bias along the output channels (x3 for RGB, the
paper's initialisation of the ScalarFlow decoder from a grey-density generator).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from rvl_jax.core import validation


def _last_layer(params: Mapping[str, Any]) -> str:
  names = sorted((k for k in params if k.startswith("layer")), key=lambda k: int(k[5:]))
  if not names:
    raise ValueError(
      "argument 'params': expected racecar chain params with 'layer<i>' entries, got "
      f"{sorted(params)}"
    )
  return names[-1]


def stack_output_channels(
  params: Mapping[str, Any], times: int = 3, layer: str = None, kind: str = "conv"
) -> dict:
  """Copy of chain params whose last (or the named) layer has its output channels tiled `times` times.
  kind: 'conv' / 'dense' (output = last kernel axis) or 'deconv' (kernels laid out [kh, kw, C_out, C_in])."""
  validation.check_in_choices("kind", kind, ("conv", "dense", "deconv"))
  params = dict(params)
  name = layer or _last_layer(params)
  p = dict(params[name])
  k = p["kernel"]
  p["kernel"] = jnp.concatenate([k] * times, axis=-2 if kind == "deconv" else -1)
  if "bias" in p:
    p["bias"] = jnp.concatenate([p["bias"]] * times, axis=-1)
  params[name] = p
  return params


def copy_matching(target: Mapping[str, Any], source: Mapping[str, Any]) -> dict:
  """`target` with every leaf replaced by `source`'s leaf of the same path and shape (others kept)."""
  flat_s = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(source)}

  def pick(path, leaf):
    v = flat_s.get(jax.tree_util.keystr(path))
    return v if v is not None and v.shape == leaf.shape else leaf

  return jax.tree_util.tree_map_with_path(pick, target)
