"""One model interface for every system of the library.

A trained model of any system becomes a :class:`StudyModel`: its predictions (class logits or
factor regressions), its representation (penultimate features or latents) and whether a
differentiable input gradient exists. Every scenario of the study consumes only this interface.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rvl_jax.core import batched, validation

TASKS = ("classify", "regress")


@dataclasses.dataclass(frozen=True)
class StudyModel:
  """A trained model as the study sees it.

  Attributes:
    name: the model's name in the study ('vanilla', 'ant_1x1', 'cnn', ...).
    predict: x float32 (N, H, W, C) in [0, 1] -> (N, K) logits or (N, F) factor regressions;
      jax-traceable (and differentiable in x when ``differentiable``).
    represent: x -> (N, D) penultimate features or latents (defaults to ``predict``).
    differentiable: whether gradient attacks may use ``jax.grad`` through ``predict``.
    task: 'classify' (logits) or 'regress' (normalised factors).
    batch_size: images per compiled call when evaluating many images.
    jit: whether ``predict`` is jax-traceable (False: a host function, e.g. nearest neighbour).
    binary: the model binarizes its input (attacks post-process their adversarials).
  """

  name: str
  predict: Callable[[Any], Any]
  represent: Optional[Callable[[Any], Any]] = None
  differentiable: bool = True
  task: str = "classify"
  batch_size: int = 250
  jit: bool = True
  binary: bool = False

  def __post_init__(self):
    validation.check_in_choices("task", self.task, TASKS)
    if not callable(self.predict):
      raise ValueError(f"argument 'predict': expected a callable, got {type(self.predict)}")

  def outputs(self, images) -> np.ndarray:
    """``predict`` over many images in fixed-size batches (one compile)."""
    fn = jax.jit(self.predict) if self.jit else self.predict
    return np.asarray(batched.batched_apply(fn, np.asarray(images, np.float32), self.batch_size))

  def features(self, images) -> np.ndarray:
    """``represent`` over many images (``predict`` when the model has no representation)."""
    fn = self.represent or self.predict
    fn = jax.jit(fn) if self.jit else fn
    return np.asarray(batched.batched_apply(fn, np.asarray(images, np.float32), self.batch_size))

  def input_grad(self, loss: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """x -> d loss(predict(x)) / dx; raises for a model without a usable input gradient."""
    if not self.differentiable:
      raise ValueError(
        f"argument 'model': {self.name!r} has no differentiable input gradient "
        "(expected a model with differentiable=True)"
      )
    return jax.grad(lambda x: loss(self.predict(x)))


def _layers_in_call_order(tree: Mapping[str, Any], out: list) -> list:
  for value in tree.values():
    if isinstance(value, Mapping):
      if "__call__" in value:
        out.extend(value["__call__"])
      _layers_in_call_order({k: v for k, v in value.items() if k != "__call__"}, out)
  return out


def penultimate_fn(apply_fn: Callable, variables, **kwargs) -> Callable[[Any], Any]:
  """x -> the (flattened) output of the last Conv/Dense layer before the output layer.

  The layers are captured in call order with Flax's ``capture_intermediates``; the output is the
  pre-activation of that layer.

  Args:
    apply_fn: a Flax ``apply`` function, ``apply_fn(variables, x, **kwargs)``.
    variables: the model's variables.
    **kwargs: passed to every ``apply_fn`` call (e.g. ``train=False``).

  Returns:
    A jax-traceable function x -> (N, D) float array: the output of the second-to-last
    ``nn.Dense``/``nn.Conv`` call, flattened per example. Calling it raises ValueError when the
    model makes fewer than two such calls.
  """

  def is_layer(module, method_name):
    return method_name == "__call__" and isinstance(module, (nn.Dense, nn.Conv))

  def fn(x):
    _, state = apply_fn(
      variables, x, capture_intermediates=is_layer, mutable=["intermediates"], **kwargs
    )
    layers = _layers_in_call_order(state["intermediates"], [])
    if len(layers) < 2:
      raise ValueError(
        "argument 'apply_fn': expected a model with at least two Dense/Conv "
        f"layers for a penultimate representation, got {len(layers)}"
      )
    h = layers[-2]
    return jnp.reshape(h, (h.shape[0], -1))

  return fn


def from_flax(
  name: str,
  apply_fn: Callable,
  variables,
  *,
  task: str = "classify",
  preprocess: Optional[Callable] = None,
  **kwargs,
) -> StudyModel:
  """A differentiable StudyModel from a Flax ``apply_fn`` and its variables (eval mode: the
  keyword arguments, e.g. ``train=False``, pass through).

  Args:
    name: the model's name in the study.
    apply_fn: a Flax ``apply`` function, ``apply_fn(variables, x, **kwargs)``.
    variables: the model's variables.
    task: ``'classify'`` (the output is logits) or ``'regress'`` (factor regressions).
    preprocess: applied to the [0, 1] images before the model (e.g. a normalisation); None: none.
    **kwargs: passed to every ``apply_fn`` call.

  Returns:
    A :class:`StudyModel` whose ``predict`` is the model's output and whose ``represent`` is
    :func:`penultimate_fn` of the same model (both after ``preprocess``), with
    ``differentiable=True``.

  Raises:
    ValueError: ``task`` is not one of ``TASKS``.
  """
  pre = preprocess or (lambda x: x)
  feats = penultimate_fn(apply_fn, variables, **kwargs)
  return StudyModel(
    name=name,
    predict=lambda x: apply_fn(variables, pre(x), **kwargs),
    represent=lambda x: feats(pre(x)),
    differentiable=True,
    task=task,
  )
