"""Atomic file output: JSON, npz, figures. A crash never leaves a half-written file behind.

Every writer goes through :func:`atomic_write`, which writes to a temporary file in the same
directory and renames it over the target (``os.replace`` is atomic on POSIX and Windows).

In a multi-process run only process 0 writes: on the other processes the writers run (so code
paths stay identical) but write into a discarded buffer. Every process computes the same results,
and several hosts writing one file of a shared directory would only race.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import math
import os
import tempfile
from typing import Any, Dict, Iterator, Mapping

import numpy as np

from rvl_jax.core import sharding


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb", all_processes: bool = False) -> Iterator[Any]:
  """Context manager yielding a file object whose content replaces ``path`` on success.

  On a process other than 0 of a multi-process run it yields an in-memory buffer that is thrown
  away, unless ``all_processes`` (for files each process writes under its own name).

  Args:
    path: the target file (its directory is created).
    mode: ``open`` mode, ``'wb'`` or ``'w'``.
    all_processes: write on every process, not only on process 0.

  Returns:
    A context manager; the file object it yields is renamed over ``path`` when the block exits
    without an exception, and removed otherwise.
  """
  path = os.fspath(path)
  if not all_processes and not sharding.is_main_process():
    yield _io.StringIO() if "b" not in mode else _io.BytesIO()
    return
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(
    dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
  )
  try:
    with os.fdopen(fd, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def to_jsonable(obj: Any) -> Any:
  """Converts numpy/jax scalars and arrays (and nested containers) into JSON values.

  Non-finite floats become the strings "nan", "inf", "-inf" so the output is strict JSON.

  Args:
    obj: any nesting of mappings, lists, tuples, arrays and scalars.

  Returns:
    The same structure made of dicts, lists, str, int, float, bool and None (other objects as
    their ``str``).
  """
  if isinstance(obj, Mapping):
    return {str(k): to_jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [to_jsonable(v) for v in obj]
  if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
    return to_jsonable(np.asarray(obj).tolist())
  if isinstance(obj, (bool, np.bool_)):
    return bool(obj)
  if isinstance(obj, (int, np.integer)):
    return int(obj)
  if isinstance(obj, (float, np.floating)):
    value = float(obj)
    if math.isnan(value):
      return "nan"
    if math.isinf(value):
      return "inf" if value > 0 else "-inf"
    return value
  if obj is None or isinstance(obj, str):
    return obj
  return str(obj)


def write_json(path: str, obj: Any, indent: int = 2) -> None:
  """Writes ``obj`` as JSON atomically (on process 0 only).

  Args:
    path: the target file.
    obj: anything :func:`to_jsonable` accepts.
    indent: JSON indentation; keys are sorted.

  Raises:
    OSError: the directory cannot be created or the file cannot be written (the target is then
      left as it was).
  """
  text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=True)
  with atomic_write(path, "w") as f:
    f.write(text + "\n")


def read_json(path: str) -> Any:
  """Reads a JSON file.

  Args:
    path: the file.

  Returns:
    Its parsed content (``json.load``; non-finite floats written by :func:`write_json` come back
    as the strings "nan", "inf", "-inf").

  Raises:
    FileNotFoundError: ``path`` does not exist.
    json.JSONDecodeError: the file is not valid JSON.
  """
  with open(path) as f:
    return json.load(f)


def save_npz(path: str, **arrays: Any) -> None:
  """Saves arrays to an .npz file atomically (on process 0 only).

  Args:
    path: the target file, used as given (no ``.npz`` suffix is added).
    **arrays: name -> array (anything ``np.asarray`` accepts); ``np.load(path)[name]`` reads one
      back.

  Raises:
    OSError: the directory cannot be created or the file cannot be written (the target is then
      left as it was).
  """
  buffer = _io.BytesIO()
  np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
  with atomic_write(path, "wb") as f:
    f.write(buffer.getvalue())


def save_figure(fig: Any, path: str, dpi: int = 100) -> str:
  """Saves a matplotlib figure as PNG atomically (on process 0 only) and closes it.

  Args:
    fig: the figure.
    path: the target file.
    dpi: resolution.

  Returns:
    ``path``.
  """
  import matplotlib.pyplot as plt

  buffer = _io.BytesIO()
  fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  with atomic_write(path, "wb") as f:
    f.write(buffer.getvalue())
  return path


def flatten_dict(nested: Mapping[str, Any], sep: str = "/", prefix: str = "") -> Dict[str, Any]:
  """Flattens nested mappings: {'a': {'b': 1}} -> {'a/b': 1}.

  Args:
    nested: the mapping.
    sep: the separator between levels.
    prefix: a name put before every key.

  Returns:
    A flat dict.
  """
  flat: Dict[str, Any] = {}
  for key, value in nested.items():
    name = f"{prefix}{sep}{key}" if prefix else str(key)
    if isinstance(value, Mapping):
      flat.update(flatten_dict(value, sep=sep, prefix=name))
    else:
      flat[name] = value
  return flat


def replace_section(path: str, text: str, marker: str) -> None:
  """Replaces the generated section ``marker`` of a text file, keeping the rest. Atomic.

  The section lies between the HTML comments ``<!-- marker:begin -->`` and
  ``<!-- marker:end -->``; it is appended when the file (or the section) does not exist yet.

  Args:
    path: the (markdown) file; created with the section alone when it does not exist.
    text: the new content of the section (without the marker comments).
    marker: the section's name.

  Raises:
    OSError: the file cannot be read or written.
  """
  begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
  old = ""
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
  block = f"{begin}\n{text}\n{end}"
  if begin in old and end in old:
    new = old[: old.index(begin)] + block + old[old.index(end) + len(end) :]
  else:
    new = (old.rstrip() + "\n\n" if old else "") + block + "\n"
  with atomic_write(path, "w") as f:
    f.write(new)
