"""State dict (name -> NumPy array) to Flax variable converters for the pretrained-weight hub.

Layouts (PyTorch -> Flax): Conv2d (out, in, kh, kw) -> (kh, kw, in, out); Linear (out, in) ->
(in, out); BatchNorm weight/bias -> params scale/bias, running_mean/var -> batch_stats mean/var.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

import jax
import numpy as np


def _conv(w):
  return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def _numbered(tree: Mapping[str, Any], prefix: str):
  """Sub-module names ``<prefix>_<i>`` of a Flax tree, in index order."""
  names = [k for k in tree if re.fullmatch(rf"{re.escape(prefix)}_\d+", k)]
  return sorted(names, key=lambda k: int(k.rsplit("_", 1)[1]))


def _check_shape(name: str, value: np.ndarray, like) -> np.ndarray:
  if tuple(value.shape) != tuple(like.shape):
    raise ValueError(
      f"argument 'state_dict': {name} has shape {tuple(value.shape)}, the model "
      f"expects {tuple(like.shape)}"
    )
  return np.asarray(value, np.dtype(like.dtype))


def torchvision_resnet(state_dict: Mapping[str, np.ndarray], template: Mapping[str, Any]) -> Dict:
  """A torchvision ResNet state dict (``conv1``, ``bn1``, ``layer{1..4}.{j}.*``, ``fc``) onto the
  variables of :class:`rvl_jax.noise.models.ResNet` (ImageNet stem, basic or bottleneck blocks).

  ``template``: the Flax variables {'params', 'batch_stats'} of the target model (arrays or
  ``jax.ShapeDtypeStruct``); every converted entry must match its shape. When the classifier
  differs (a different number of classes) the template's head is kept, so it must be concrete.
  BatchNorm running statistics are converted. Raises ValueError naming a missing or mis-shaped
  entry.
  """
  sd = {
    k.replace("module.", "", 1) if k.startswith("module.") else k: np.asarray(v)
    for k, v in dict(state_dict).items()
  }
  params_t, stats_t = template["params"], template.get("batch_stats", {})
  if "Conv_0" not in params_t or "Dense_0" not in params_t:
    raise ValueError(
      "argument 'template': expected the variables of rvl_jax.noise.models.ResNet "
      f"(Conv_0 ... Dense_0), got keys {sorted(params_t)[:6]}"
    )
  params: Dict[str, Any] = {}
  stats: Dict[str, Any] = {}

  def get(key):
    if key not in sd:
      raise ValueError(
        f"argument 'state_dict': missing entry {key!r} (expected a torchvision ResNet state dict)"
      )
    return sd[key]

  def conv(torch_name, p_t, out_key, p_out):
    p_out[out_key] = {
      "kernel": _check_shape(
        f"{torch_name}.weight", _conv(get(f"{torch_name}.weight")), p_t[out_key]["kernel"]
      )
    }

  def bn(torch_name, p_t, s_t, out_key, p_out, s_out):
    p_out[out_key] = {
      "scale": _check_shape(
        f"{torch_name}.weight", get(f"{torch_name}.weight"), p_t[out_key]["scale"]
      ),
      "bias": _check_shape(f"{torch_name}.bias", get(f"{torch_name}.bias"), p_t[out_key]["bias"]),
    }
    s_out[out_key] = {
      "mean": _check_shape(
        f"{torch_name}.running_mean", get(f"{torch_name}.running_mean"), s_t[out_key]["mean"]
      ),
      "var": _check_shape(
        f"{torch_name}.running_var", get(f"{torch_name}.running_var"), s_t[out_key]["var"]
      ),
    }

  conv("conv1", params_t, "Conv_0", params)
  bn("bn1", params_t, stats_t, "BatchNorm_0", params, stats)
  blocks = _numbered(params_t, "_Bottleneck") or _numbered(params_t, "_Basic")
  main_convs = 3 if blocks and blocks[0].startswith("_Bottleneck") else 2
  stage, index, width = 0, 0, None
  for name in blocks:
    bp, bs = params_t[name], stats_t[name]
    out_width = bp[f"Conv_{main_convs - 1}"]["kernel"].shape[-1]
    if width is not None and out_width != width:
      stage, index = stage + 1, 0
    width = out_width
    prefix = f"layer{stage + 1}.{index}"
    index += 1
    p_blk: Dict[str, Any] = {}
    s_blk: Dict[str, Any] = {}
    for i in range(main_convs):
      conv(f"{prefix}.conv{i + 1}", bp, f"Conv_{i}", p_blk)
      bn(f"{prefix}.bn{i + 1}", bp, bs, f"BatchNorm_{i}", p_blk, s_blk)
    if f"Conv_{main_convs}" in bp:
      conv(f"{prefix}.downsample.0", bp, f"Conv_{main_convs}", p_blk)
      bn(f"{prefix}.downsample.1", bp, bs, f"BatchNorm_{main_convs}", p_blk, s_blk)
    params[name], stats[name] = p_blk, s_blk
  extra = sorted(k for k in sd if k.startswith(f"layer{stage + 2}."))
  if extra:
    raise ValueError(
      f"argument 'state_dict': entries {extra[:3]} have no block in the model "
      f"(the model has {stage + 1} stages)"
    )
  head_t = params_t["Dense_0"]
  fc_w, fc_b = get("fc.weight").T, get("fc.bias")
  if tuple(fc_w.shape) == tuple(head_t["kernel"].shape):
    params["Dense_0"] = {
      "kernel": np.ascontiguousarray(fc_w).astype(head_t["kernel"].dtype),
      "bias": np.asarray(fc_b, head_t["bias"].dtype),
    }
  else:
    if any(isinstance(l, jax.ShapeDtypeStruct) for l in jax.tree_util.tree_leaves(head_t)):
      raise ValueError(
        f"argument 'template': the checkpoint's classifier has {fc_w.shape[1]} "
        f"classes, the model {head_t['kernel'].shape[1]}; pass concrete variables "
        "so that the model keeps its own (freshly initialised) head"
      )
    params["Dense_0"] = jax.tree_util.tree_map(np.asarray, dict(head_t))
  return {"params": params, "batch_stats": stats}


def abs_vae(state_dict, template: Optional[Mapping[str, Any]] = None) -> Dict:
  del template
  from rvl_jax.abs import weights  # pylint: disable=import-outside-toplevel

  return weights.vae_variables_from_state_dict(state_dict)


def abs_cnn(state_dict, template: Optional[Mapping[str, Any]] = None) -> Dict:
  del template
  from rvl_jax.abs import weights  # pylint: disable=import-outside-toplevel

  return weights.cnn_variables_from_state_dict(state_dict)


def _need(template, what):
  if template is None:
    raise ValueError(
      f"argument 'template': {what} needs the target model's variables "
      "(e.g. model.init(...)); the head is kept from them"
    )
  return template


def bit_resnet(state_dict, template: Optional[Mapping[str, Any]] = None) -> Dict:
  """An official BiT ``.npz`` onto :class:`rvl_jax.benchmark.models.BiTResNet` (head kept)."""
  from rvl_jax.benchmark import models  # pylint: disable=import-outside-toplevel

  template = _need(template, "a BiT checkpoint")
  return {"params": models.load_bit_npz(state_dict, template["params"])}


def torchvision_densenet(state_dict, template: Optional[Mapping[str, Any]] = None) -> Dict:
  """A torchvision DenseNet state dict onto :class:`rvl_jax.benchmark.models.DenseNet` (head kept)."""
  from rvl_jax.benchmark import models  # pylint: disable=import-outside-toplevel

  return models.load_torchvision_densenet(state_dict, _need(template, "DenseNet-121"))
