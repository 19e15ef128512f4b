"""E6 - CIFAR-10 -> CIFAR-100 transfer with a VGG-style 13-conv racecar chain and the full reverse
pass (Xie & Thuerey, appendix C.2). On CPU the default runs on a generated stand-in (class-dependent
oriented colour gratings + noise, 32x32x3); real data via tfds / files / .npz
(`config.data_source`). The protocol (regularised phase -> fine-tune on A -> transfer to B, plus
Std from scratch on B) is `rvl_jax.racecar.cifar_transfer.run_transfer`.
"""

from __future__ import annotations

from rvl_jax.racecar import cifar_transfer, data
from rvl_jax.racecar.training import RegConfig


def load_tasks(c):
  """Tasks A and B of the config, and CIFAR-10.1 when `config.cifar10_1_path` is set."""

  def task(which, classes):
    return cifar_transfer.load_task(
      which,
      classes,
      c.data_source,
      c.standin_train,
      c.standin_test,
      c[f"path_{which.lower()}"] or None,
      c.data_dir or None,
    )

  c101 = data.load_cifar10_1(c.cifar10_1_path) if c.cifar10_1_path else None
  return task("A", c.classes_a), task("B", c.classes_b), c101


def run(c, workdir: str, arch) -> dict:
  """The transfer protocol of `arch` with the config's schedule, methods and regulariser."""
  task_a, task_b, c101 = load_tasks(c)
  results = cifar_transfer.run_transfer(
    arch,
    cifar_transfer.Schedule(**c.schedule),
    task_a,
    task_b,
    c.methods,
    lambda m: RegConfig(m, **c.reg),
    c.seeds,
    workdir,
    c.classes_a,
    c.classes_b,
    c101,
  )
  return {"data_source": c.data_source, **results}


def train_and_evaluate(c, workdir: str) -> dict:
  arch = cifar_transfer.ChainArch(
    c.widths, c.convs_per_stage, c.hidden, RegConfig("rr", **c.reg).output_activation
  )
  return run(c, workdir, arch)
