"""Multi-process training on one machine: two JAX processes (one CPU device each, gloo collectives)
against one process with two devices.

Each test starts its processes with ``_mp_worker.py`` (a free port, logs in files, a timeout per
launch, every process still alive SIGKILLed on the way out). The worker records, with a Python audit
hook, which files each process creates in the shared output directory, so "only process 0 writes
results, plots and logs" is checked per process, not just by looking at the directory afterwards.
"""

import glob
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from rvl_jax.core import experiment, sharding
from rvl_jax.core import io as rio
from rvl_jax.core import writer as writer_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKER = pathlib.Path(__file__).with_name("_mp_worker.py")
# Seconds for one launch (its processes run at once). About 30 s on two idle cores; the bound is
# for a hang, and leaves room for a heavily shared machine.
LAUNCH_TIMEOUT = 600
_LAUNCH_ENV = (
  "JAX_COORDINATOR_ADDRESS",
  "JAX_NUM_PROCESSES",
  "JAX_PROCESS_ID",
  "XLA_FLAGS",
  "JAX_COORDINATOR_PORT",
  "SLURM_JOB_ID",
  "SLURM_STEP_NODELIST",
  "SLURM_NTASKS",
  "SLURM_PROCID",
  "SLURM_LOCALID",
  "OMPI_COMM_WORLD_SIZE",
  "OMPI_MCA_orte_hnp_uri",
  "TPU_WORKER_HOSTNAMES",
  "MEGASCALE_COORDINATOR_ADDRESS",
)


def _die_with_parent():
  """Runs in the child before exec: the kernel SIGKILLs it if the test process dies first (a
  killed pytest worker skips its fixtures' clean-up). Linux only; elsewhere a no-op."""
  if sys.platform.startswith("linux"):
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Launcher:
  """Starts worker processes and guarantees none outlives the test."""

  def __init__(self, tmp_path: pathlib.Path):
    self.out = tmp_path / "out"
    self.watch = tmp_path / "w"
    self.out.mkdir()
    self.watch.mkdir()
    self.procs = {}

  def _start(self, tag, args, extra_env, extra_argv=()):
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH_ENV}
    env.update(
      RVL_QUIET="1",
      JAX_PLATFORMS="cpu",
      PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    env.update(extra_env)
    log = open(self.out / f"log_{tag}.txt", "w")
    self.procs[tag] = subprocess.Popen(
      [sys.executable, str(WORKER), str(self.out), str(self.watch), tag, *args, *extra_argv],
      cwd=REPO,
      env=env,
      stdout=log,
      stderr=subprocess.STDOUT,
      preexec_fn=_die_with_parent,
    )
    log.close()

  def pair(self, name, args, how="env"):
    """Two processes ``<name>0``, ``<name>1`` of one run. ``how``: 'env' (JAX_COORDINATOR_ADDRESS,
    JAX_NUM_PROCESSES, JAX_PROCESS_ID), 'flags' (an experiment's --coordinator_address,
    --num_processes, --process_id) or 'slurm' (the variables ``srun`` sets for two tasks on one
    node, read by JAX's auto-detection; the port comes from JAX_COORDINATOR_PORT)."""
    port = _free_port()
    for i in range(2):
      env, argv = {}, ()
      if how == "env":
        env = {
          "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
          "JAX_NUM_PROCESSES": "2",
          "JAX_PROCESS_ID": str(i),
        }
      elif how == "slurm":
        env = {
          "SLURM_JOB_ID": "4242",
          "SLURM_STEP_NODELIST": "localhost",
          "SLURM_NTASKS": "2",
          "SLURM_PROCID": str(i),
          "SLURM_LOCALID": str(i),
          "JAX_COORDINATOR_PORT": str(port),
        }
      else:
        argv = (f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}")
      self._start(f"{name}{i}", args, env, argv)

  def single(self, tag, args, devices=2):
    """One process with ``devices`` CPU devices."""
    self._start(tag, args, {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"})

  def _failure(self, what):
    tails = []
    for tag in self.procs:
      text = (self.out / f"log_{tag}.txt").read_text(errors="replace")
      tails.append(f"--- {tag} (exit {self.procs[tag].poll()}):\n{text[-2500:]}")
    return f"{what}\n" + "\n".join(tails)

  def wait(self, *tags):
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    for tag in tags:
      try:
        code = self.procs[tag].wait(timeout=max(deadline - time.monotonic(), 1))
      except subprocess.TimeoutExpired:
        pytest.fail(self._failure(f"process {tag} still running after {LAUNCH_TIMEOUT} s"))
      if code != 0:
        pytest.fail(self._failure(f"process {tag} exited with {code}"))

  def wait_for(self, paths, tags):
    """Waits until every file of ``paths`` exists while the processes ``tags`` keep running."""
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while not all(p.exists() for p in paths):
      dead = [t for t in tags if self.procs[t].poll() is not None]
      if dead or time.monotonic() > deadline:
        pytest.fail(self._failure(f"waiting for {[p.name for p in paths]}: exited {dead}"))
      time.sleep(0.2)

  def kill(self, *tags):
    for tag in tags:
      proc = self.procs[tag]
      if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
      proc.wait()

  def close(self):
    self.kill(*self.procs)

  def record(self, tag):
    return json.loads((self.out / f"writes_{tag}.json").read_text())

  def writes(self, tag):
    return [tuple(x) for x in self.record(tag)["writes"]]


@pytest.fixture
def launcher(tmp_path):
  runner = Launcher(tmp_path)
  try:
    yield runner
  finally:
    runner.close()


def _is_checkpoint_work(watch, event, rel):
  """Paths every process may touch: orbax checkpoints, and the run directories they live in."""
  if "checkpoints" in pathlib.Path(rel).parts:
    return True
  return event == "os.mkdir" and (watch / rel / "checkpoints").is_dir()


def _assert_only_process0_wrote(launcher, tag0, tag1, workdir_rel, expected):
  """``expected``: paths (relative to the workdir) process 0 must have written."""
  watch = launcher.watch
  by_1 = [
    w for w in launcher.writes(tag1) if w[1] != workdir_rel and not _is_checkpoint_work(watch, *w)
  ]
  assert by_1 == [], f"process 1 wrote outside its checkpoints: {by_1}"
  by_0 = {rel for _, rel in launcher.writes(tag0)}
  for path in expected:
    assert any(
      rel == f"{workdir_rel}/{path}" or rel.startswith(f"{workdir_rel}/{path}/") for rel in by_0
    ), f"process 0 did not write {path}: {sorted(by_0)}"
  # TensorBoard files carry the writer's pid in their name: all of them are process 0's (one per
  # launch of a resumed run); and no metrics row appears twice.
  process0_pids = {str(p.pid) for tag, p in launcher.procs.items() if not tag.endswith("1")}
  workdir = watch / workdir_rel
  for jsonl in glob.glob(str(workdir / "**" / "metrics.jsonl"), recursive=True):
    events = glob.glob(os.path.join(os.path.dirname(jsonl), "tb", "events.*"))
    assert events and {e.rsplit(".", 1)[1] for e in events} <= process0_pids, events
    keys = [(r["step"], tuple(sorted(r))) for r in writer_lib.read_jsonl(jsonl)]
    assert len(keys) == len(set(keys)), f"duplicated metric rows in {jsonl}"


def _load(out, name):
  with np.load(out / f"{name}.npz") as z:
    params = {k: z[k] for k in z.files}
  return params, json.loads((out / f"{name}.json").read_text())


def _assert_params_close(a, b, rtol, atol):
  assert sorted(a) == sorted(b)
  for k in a:
    np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def _experiment_args(module, config, workdir, overrides):
  return [
    "module",
    module,
    f"--config={config}",
    f"--workdir={workdir}",
    *[f"--config.{k}={v}" for k, v in overrides.items()],
  ]


MNIST = "experiments.mnist_classifier.main"


def _mnist_job(workdir):
  """The worked example's smoke run (8 steps) as a job of ``_mp_worker.py``'s jobs mode."""
  overrides = {"num_steps": 8, "log_every": 4, "checkpoint_every": 4}
  args = _experiment_args(
    MNIST, "experiments/mnist_classifier/configs/default.py:smoke", workdir, overrides
  )
  return {"module": MNIST, "argv": args[2:]}


def test_two_processes_match_two_devices_resume_after_sigkill_and_run_the_example(launcher):
  """One launch, several checks (each process starts JAX once for all of them):

  * the shared loop on 2 processes x 1 device (started from the JAX_* environment) against
    1 process x 2 devices; a second 2-process run is SIGKILLed after its step-4 checkpoint and
    restarted (as SLURM's ``srun`` would start it) to finish with the uninterrupted parameters;
  * the worked example end to end, ``python -m experiments.mnist_classifier.main`` in the same
    two environment-started processes (before their loop runs), against the same 2-device process.
  """
  w = launcher.watch
  run = lambda name, **kw: {"name": name, "workdir": str(w / name), "steps": 6, **kw}  # noqa: E731
  launcher.pair(
    "a",
    [
      "jobs",
      json.dumps([_mnist_job(w / "two"), {"loop": [run("full"), run("killed", pause_at=4)]}]),
    ],
  )
  launcher.single("ref", ["jobs", json.dumps([{"loop": [run("ref")]}, _mnist_job(w / "one")])])
  launcher.wait_for(
    [launcher.out / "paused_killed_a0", launcher.out / "paused_killed_a1"], ["a0", "a1"]
  )
  launcher.kill("a0", "a1")  # SIGKILL both, right after the step-4 checkpoint
  steps_after_kill = sorted(
    int(p.name) for p in (w / "killed" / "checkpoints").iterdir() if p.name.isdigit()
  )
  launcher.pair("b", ["loop", json.dumps([run("killed")])], how="slurm")  # as `srun` starts it
  launcher.wait("ref", "b0", "b1")

  full0, info0 = _load(launcher.out, "params_full_a0")
  full1, info1 = _load(launcher.out, "params_full_a1")
  ref, info_ref = _load(launcher.out, "params_ref_ref")
  assert [
    (i["process_index"], i["process_count"], i["devices"], i["local_devices"])
    for i in (info0, info1, info_ref)
  ] == [(0, 2, 2, 1), (1, 2, 2, 1), (0, 1, 2, 2)]
  _assert_params_close(full1, full0, 0, 0)  # both processes hold the same replicated state
  _assert_params_close(full0, ref, 1e-5, 1e-6)  # 2 processes x 1 device == 1 process x 2 devices
  assert info0["moved"] > 0.05 and abs(info0["loss"] - info_ref["loss"]) < 1e-5

  assert steps_after_kill == [2, 4]
  for tag in ("b0", "b1"):
    resumed, info = _load(launcher.out, f"params_killed_{tag}")
    assert (info["resumed_from"], info["process_count"]) == (4, 2)
    _assert_params_close(resumed, full0, 1e-6, 1e-7)  # same as the uninterrupted 2-process run

  for tag0, tag1 in (("a0", "a1"), ("b0", "b1")):
    _assert_only_process0_wrote(launcher, tag0, tag1, "killed", ["metrics.jsonl", "tb"])
  rows = writer_lib.read_jsonl(str(w / "killed" / "metrics.jsonl"))
  assert [r["step"] for r in rows] == [2, 4, 6]

  # The worked example: two processes against one process with two devices.
  two = rio.read_json(w / "two" / "results.json")
  one = rio.read_json(w / "one" / "results.json")
  assert two["steps"] == one["steps"] == 8
  assert two["test_accuracy"] == one["test_accuracy"]
  np.testing.assert_allclose(two["train_loss"], one["train_loss"], rtol=1e-5)
  rows_two = writer_lib.read_jsonl(str(w / "two" / "metrics.jsonl"))
  rows_one = writer_lib.read_jsonl(str(w / "one" / "metrics.jsonl"))
  assert [r["step"] for r in rows_two] == [r["step"] for r in rows_one] == [4, 8, 8]
  np.testing.assert_allclose(
    [r.get("loss", 0) for r in rows_two], [r.get("loss", 0) for r in rows_one], rtol=1e-5
  )
  assert rows_two[0]["loss"] - rows_two[1]["loss"] > 1e-3  # it trained
  _assert_only_process0_wrote(
    launcher,
    "a0",
    "a1",
    "two",
    [
      "config.json",
      "results.json",
      "metrics.jsonl",
      "tb",
      "plots/training.png",
      "plots/predictions.png",
    ],
  )
  # launch() returns on every process only once process 0's results are on disk.
  assert "two/results.json" in launcher.record("a1")["files_after"][MNIST]


def test_benchmark_smoke_on_two_processes_from_flags(launcher):
  """One system's smoke config (the generalization benchmark, CNN on dSprites) on two processes
  started with --coordinator_address/--num_processes/--process_id."""
  overrides = {
    "num_steps": 4,
    "log_every": 2,
    "checkpoint_every": 2,
    "eval_test": 64,
    "eval_train": 32,
  }
  launcher.pair(
    "b",
    _experiment_args(
      "experiments.benchmark.main",
      "experiments/benchmark/configs/default.py:smoke",
      launcher.watch / "bench",
      overrides,
    ),
    how="flags",
  )
  launcher.wait("b0", "b1")
  res = rio.read_json(launcher.watch / "bench" / "results.json")
  assert res["iterations"] == 4 and np.isfinite(res["final_train_loss"])
  _assert_only_process0_wrote(
    launcher,
    "b0",
    "b1",
    "bench",
    ["config.json", "results.json", "predictions.npz", "plots", "train/metrics.jsonl", "train/tb"],
  )


# In-process checks of the settings and of the process-0 gating (no second process needed).


@pytest.fixture
def clean_env(monkeypatch):
  for name in _LAUNCH_ENV:
    monkeypatch.delenv(name, raising=False)
  return monkeypatch


def test_distributed_settings_come_from_arguments_then_environment(clean_env):
  assert sharding.distributed_settings() == (None, None, None)
  clean_env.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
  clean_env.setenv("JAX_NUM_PROCESSES", "4")
  clean_env.setenv("JAX_PROCESS_ID", "3")
  assert sharding.distributed_settings() == ("10.0.0.1:1234", 4, 3)
  assert sharding.distributed_settings("h:99", 2, 1) == ("h:99", 2, 1)
  clean_env.setenv("JAX_NUM_PROCESSES", "four")
  with pytest.raises(ValueError, match="JAX_NUM_PROCESSES: expected an integer, got 'four'"):
    sharding.distributed_settings()


@pytest.mark.parametrize(
  "kwargs, message",
  [
    ({"coordinator_address": "10.0.0.1"}, "argument 'coordinator_address': expected 'host:port'"),
    ({"num_processes": 0}, "argument 'num_processes': expected a positive integer, got 0"),
    ({"num_processes": 2, "process_id": 2}, r"argument 'process_id': expected an integer in \[0"),
    (
      {"num_processes": 2, "process_id": 0},
      "argument 'coordinator_address': expected a value .* for a multi-process run",
    ),
    (
      {"coordinator_address": "h:1", "num_processes": 2},
      "argument 'process_id': expected a value .*JAX_PROCESS_ID",
    ),
    (
      {"coordinator_address": "h:1", "process_id": 0},
      "argument 'num_processes': expected a value .*JAX_NUM_PROCESSES",
    ),
  ],
)
def test_initialize_distributed_rejects_bad_settings(clean_env, kwargs, message):
  with pytest.raises(ValueError, match=message):
    sharding.initialize_distributed(**kwargs)


def test_initialize_distributed_is_noop_for_one_process(clean_env):
  assert sharding.initialize_distributed() is False
  assert sharding.initialize_distributed(num_processes=1) is False
  assert sharding.initialize_distributed("127.0.0.1:1234", num_processes=1, process_id=0) is False
  clean_env.setenv("SLURM_JOB_ID", "7")  # a one-task SLURM job is not a multi-process launch
  clean_env.setenv("SLURM_STEP_NODELIST", "node1")
  clean_env.setenv("SLURM_NTASKS", "1")
  assert sharding.initialize_distributed() is False


def test_only_process_zero_writes_files(tmp_path, monkeypatch):
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  def write_all(directory):
    rio.write_json(directory / "results.json", {"a": 1})
    rio.save_npz(str(directory / "arrays.npz"), x=np.zeros(2))
    rio.save_figure(plt.figure(), str(directory / "fig.png"))
    with writer_lib.MetricWriter(str(directory / "log")) as w:
      w.write_scalars(1, {"loss": 0.5})
    experiment.plots_dir(str(directory))
    with rio.atomic_write(directory / "own.txt", "w", all_processes=True) as f:
      f.write("x")

  main, other = tmp_path / "main", tmp_path / "other"
  write_all(main)
  monkeypatch.setattr(sharding, "is_main_process", lambda: False)
  write_all(other)
  assert sorted(os.listdir(main)) == [
    "arrays.npz",
    "fig.png",
    "log",
    "own.txt",
    "plots",
    "results.json",
  ]
  assert sorted(os.listdir(main / "log")) == ["metrics.jsonl", "tb"]
  assert sorted(os.listdir(other)) == ["own.txt"]
