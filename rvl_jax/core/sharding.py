"""Data parallelism with jax.sharding: one code path for 1 CPU, a GPU box or a multi-host pod.

The mesh has one axis, ``'data'``. Batches are split along their leading axis over it, parameters
and optimizer state are replicated. With several processes (hosts, or one process per GPU) call
:func:`initialize_distributed` first (``experiment.launch`` does, from its flags, the
``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` environment or a cluster
launcher's environment); every process then feeds its own slice of the global batch, and only
process 0 (:func:`is_main_process`) writes files.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rvl_jax.core import validation

DATA_AXIS = "data"

# The plain-environment launch this library honours on any machine (JAX itself only reads the
# coordinator address): every process gets the same address and count, and its own id.
ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID = (
  "JAX_COORDINATOR_ADDRESS",
  "JAX_NUM_PROCESSES",
  "JAX_PROCESS_ID",
)


def _backends_started(private_api: bool = True) -> bool:
  """True once this process has created its XLA backends (its first JAX computation).

  JAX has no public query for this, and the library needs it twice: settings such as the CPU
  device count and ``jax.distributed.initialize`` only take effect before the backends exist, and
  :func:`is_main_process` must not create them as a side effect. So this one function is the only
  place that reads JAX's private ``xla_bridge.backends_are_initialized``. If a JAX release moves
  it, the public fallback asks the ``jax_num_cpu_devices`` option, which JAX refuses to change
  once the backends exist: it changes it and restores it at once, leaving the setting as it was.

  Args:
    private_api: ask JAX's private function first (False: only the public fallback; tests).

  Returns:
    Whether this process's XLA backends are initialised.
  """
  if private_api:
    try:
      from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top

      return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
      pass
  current = jax.config.jax_num_cpu_devices
  try:
    jax.config.update("jax_num_cpu_devices", current + 1 if current > 0 else 1)
  except RuntimeError:
    return True
  jax.config.update("jax_num_cpu_devices", current)
  return False


def _env_int(name: str) -> Optional[int]:
  value = os.environ.get(name, "").strip()
  if not value:
    return None
  try:
    return int(value)
  except ValueError:
    raise ValueError(f"environment variable {name}: expected an integer, got {value!r}") from None


def _cluster_says_multiprocess() -> bool:
  """True when a cluster launcher's environment (which JAX's auto-detection reads) describes more
  than one process; a one-task SLURM job or a single-host TPU is not a multi-process launch."""
  if "SLURM_STEP_NODELIST" in os.environ and (_env_int("SLURM_NTASKS") or 1) > 1:
    return True  # inside `srun` with several tasks
  if (_env_int("OMPI_COMM_WORLD_SIZE") or 1) > 1:
    return True
  if "," in os.environ.get("TPU_WORKER_HOSTNAMES", ""):
    return True
  return "MEGASCALE_COORDINATOR_ADDRESS" in os.environ


def distributed_settings(
  coordinator_address: Optional[str] = None,
  num_processes: Optional[int] = None,
  process_id: Optional[int] = None,
) -> Tuple[Optional[str], Optional[int], Optional[int]]:
  """Resolves (coordinator_address, num_processes, process_id) for ``jax.distributed``.

  Each value comes from the argument when given, else from ``JAX_COORDINATOR_ADDRESS`` /
  ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``; what stays None is left to JAX's cluster
  auto-detection (SLURM, Open MPI, Cloud TPU, Kubernetes).

  Args:
    coordinator_address: ``'host:port'`` of process 0.
    num_processes: number of processes.
    process_id: this process's id in ``[0, num_processes)``.

  Returns:
    The resolved ``(coordinator_address, num_processes, process_id)``.

  Raises:
    ValueError: a malformed value (the message names the argument or variable).
  """
  if coordinator_address is None:
    coordinator_address = os.environ.get(ENV_COORDINATOR) or None
  if num_processes is None:
    num_processes = _env_int(ENV_NUM_PROCESSES)
  if process_id is None:
    process_id = _env_int(ENV_PROCESS_ID)
  if coordinator_address is not None:
    host, _, port = str(coordinator_address).rpartition(":")
    if not host or not port.isdigit():
      raise ValueError(
        "argument 'coordinator_address': expected 'host:port' (e.g. "
        f"'10.0.0.1:1234'), got {coordinator_address!r}"
      )
  if num_processes is not None:
    validation.check_positive_int("num_processes", num_processes)
  if process_id is not None:
    if (
      not isinstance(process_id, (int, np.integer))
      or isinstance(process_id, bool)
      or process_id < 0
      or (num_processes is not None and process_id >= num_processes)
    ):
      raise ValueError(
        f"argument 'process_id': expected an integer in [0, num_processes="
        f"{num_processes}), got {process_id!r}"
      )
  return coordinator_address, num_processes, process_id


def initialize_distributed(
  coordinator_address: Optional[str] = None,
  num_processes: Optional[int] = None,
  process_id: Optional[int] = None,
  force: bool = False,
) -> bool:
  """Joins a multi-process JAX run (``jax.distributed.initialize``).

  It runs when the resolved settings (see :func:`distributed_settings`) name a coordinator or
  more than one process (then all three must be known), when a cluster launcher's environment
  describes several processes (``srun`` with several tasks, ``mpirun``, a multi-host TPU slice), or
  when ``force`` is set (JAX then auto-detects everything it is not given). A single process with
  none of these does nothing, so one-machine runs never open a port. On CPU the cross-process
  collectives use gloo. Must run before the first JAX computation of the process.

  Args:
    coordinator_address: ``'host:port'`` of process 0 (default: environment).
    num_processes: number of processes (default: environment).
    process_id: this process's id (default: environment).
    force: initialise even without any multi-process setting (JAX's auto-detection).

  Returns:
    True if this process is (now) part of a multi-process run, False for a single process.
  """
  coordinator_address, num_processes, process_id = distributed_settings(
    coordinator_address, num_processes, process_id
  )
  if jax.distributed.is_initialized():
    return True
  cluster = _cluster_says_multiprocess()
  if num_processes == 1 or not (force or cluster or num_processes or coordinator_address):
    return False
  if not (force or cluster):  # a plain launch: nothing can fill in what is missing
    given = dict(
      coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )
    for name, value in given.items():
      if value is None:
        raise ValueError(
          f"argument '{name}': expected a value (flag --{name} or environment "
          f"variable JAX_{name.upper()}) for a multi-process run, got none "
          f"(given: {given})"
        )
  if _backends_started():
    raise RuntimeError(
      "initialize_distributed must run before the first JAX computation (the "
      "backends of this process are already initialised)"
    )
  # Cross-process collectives on CPU (gloo is JAX's default in recent releases; older ones had
  # none, and a multi-process CPU run would fail at its first all-reduce).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
    coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
  )
  return True


def cpu_has_avx512() -> bool:
  """Whether the host CPU has AVX-512 (used by :func:`configure_cpu` to pick XLA's vector width).

  Returns:
    True when a ``flags`` line of ``/proc/cpuinfo`` lists ``avx512f``; False otherwise,
    including on hosts without ``/proc/cpuinfo`` (not Linux).
  """
  try:
    with open("/proc/cpuinfo") as f:
      return any(line.startswith("flags") and " avx512f" in line for line in f)
  except OSError:
    return False


def configure_cpu(num_devices: Optional[int] = None, wide_vectors: bool = True) -> None:
  """Sets up XLA's CPU backend; call it before the first JAX computation.

  Args:
    num_devices: XLA host devices (``jax_num_cpu_devices``; 0 = one per core, None = leave JAX's
      default of one).
    wide_vectors: on CPUs with AVX-512, let XLA vectorise its fused loops with 512-bit registers
      (``--xla_cpu_prefer_vector_width=512``; LLVM's default is 256 bits): about 10 % faster ABS
      inference on an AVX-512 machine.

  Raises:
    RuntimeError: the CPU backend is already initialised (the settings would silently not apply).
  """
  if _backends_started():
    raise RuntimeError(
      "configure_cpu must run before the first JAX computation (the CPU "
      "backend is already initialised)"
    )
  if wide_vectors and cpu_has_avx512():
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_prefer_vector_width" not in flags:
      os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_prefer_vector_width=512").strip()
  if num_devices is not None:
    jax.config.update("jax_num_cpu_devices", num_devices or os.cpu_count() or 1)


def make_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """Builds the 1-D data-parallel mesh.

  Args:
    devices: the mesh's devices (default: all devices of all processes).

  Returns:
    A ``Mesh`` with one axis named ``'data'``.
  """
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """The sharding of a data-parallel batch.

  Args:
    mesh: a mesh with a ``'data'`` axis (see :func:`make_mesh`).

  Returns:
    ``NamedSharding(mesh, P('data'))``: the leading axis is split over the ``'data'`` axis, the
    other axes are whole on every device.
  """
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
  """The sharding of replicated values (parameters, optimizer state).

  Args:
    mesh: the device mesh.

  Returns:
    ``NamedSharding(mesh, P())``: a full copy on every device of ``mesh``.
  """
  return NamedSharding(mesh, P())


def replicate(tree: Any, mesh: Mesh, copy: bool = False) -> Any:
  """Places every array leaf of ``tree`` on all devices of the mesh (replicated).

  Args:
    tree: a pytree of arrays.
    mesh: the mesh.
    copy: never alias the input buffers (the training loop donates its state, and must not
      invalidate the caller's arrays).

  Returns:
    The replicated pytree.
  """
  return jax.device_put(tree, replicated_sharding(mesh), may_alias=False if copy else None)


def _check_divisible(batch: Any, n: int) -> None:
  for path, leaf in jax.tree_util.tree_leaves_with_path(batch):
    shape = np.shape(leaf)
    if not shape or shape[0] % n:
      raise ValueError(
        f"argument 'batch{jax.tree_util.keystr(path)}': expected a leading batch axis divisible by "
        f"the {n} devices of the mesh, got shape {shape}"
      )


def shard_batch(batch: Any, mesh: Mesh) -> Any:
  """Splits the global batch along axis 0 over the mesh's 'data' axis.

  Single process: the whole global batch is given and device_put with the batch sharding.
  Several processes: every process passes the same global batch (it is a deterministic function of
  the step) and contributes its own contiguous slice.

  Args:
    batch: a pytree of numpy arrays with a leading axis divisible by the number of devices.
    mesh: the mesh.

  Returns:
    The pytree of global ``jax.Array`` s sharded along axis 0.
  """
  sharding = batch_sharding(mesh)
  _check_divisible(batch, mesh.devices.size)
  if jax.process_count() == 1:
    return jax.device_put(batch, sharding)
  pid, count = jax.process_index(), jax.process_count()

  def local(leaf):
    leaf = np.asarray(leaf)
    per = leaf.shape[0] // count
    return jax.make_array_from_process_local_data(
      sharding, leaf[pid * per : (pid + 1) * per], leaf.shape
    )

  return jax.tree_util.tree_map(local, batch)


def global_batch_from_local(local_batch: Any, mesh: Mesh) -> Any:
  """Assembles the global batch from every process's local batch.

  Args:
    local_batch: this process's batch (numpy pytree), e.g. the output of an input pipeline that
      reads only this process's slice.
    mesh: the mesh.

  Returns:
    The pytree of global ``jax.Array`` s whose leading axis is the local one times
    ``jax.process_count()``.
  """
  sharding = batch_sharding(mesh)
  count = jax.process_count()

  def put(leaf):
    leaf = np.asarray(leaf)
    return jax.make_array_from_process_local_data(
      sharding, leaf, (leaf.shape[0] * count,) + leaf.shape[1:]
    )

  global_shapes = jax.tree_util.tree_map(
    lambda x: jax.ShapeDtypeStruct((np.shape(x)[0] * count,) + np.shape(x)[1:], np.uint8),
    local_batch,
  )
  _check_divisible(global_shapes, mesh.devices.size)
  return jax.tree_util.tree_map(put, local_batch)


def sync_processes(name: str) -> None:
  """Waits until every process of a multi-process run reaches the same point.

  Returns at once with one process.

  Args:
    name: the barrier's name (the same on every process).
  """
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

    multihost_utils.sync_global_devices(name)


def is_main_process() -> bool:
  """Tells whether this process writes results, plots and logs.

  Does not start a JAX backend when none is running yet.

  Returns:
    False only on a process other than 0 of a multi-process run.
  """
  if not jax.distributed.is_initialized() and not _backends_started():
    return True
  return jax.process_index() == 0
