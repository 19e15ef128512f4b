"""Progress reporting for long work: a tqdm bar (rate and ETA) on terminals and notebooks,
periodic log lines with rate and ETA otherwise. ``RVL_QUIET=1`` silences both."""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Optional

from absl import logging
from tqdm.auto import tqdm


def quiet() -> bool:
  """Whether progress reporting is silenced.

  Returns:
    True when the environment variable ``RVL_QUIET`` is exactly ``"1"`` (then :class:`Progress`
    shows no bar and logs no progress lines); read at every call.
  """
  return os.environ.get("RVL_QUIET", "0") == "1"


class Progress:
  """Tracks ``n`` of ``total`` units; shows a bar or logs every ``log_seconds``.

  On a terminal or in a notebook it draws a tqdm bar; otherwise (batch jobs, CI) it logs a line
  with the rate and ETA at most every ``log_seconds``. ``RVL_QUIET=1`` silences both.

  Args:
    total: Number of units the work has in all.
    desc: Label shown before the bar and in the log lines.
    initial: Units already done (e.g. the step a resumed run starts at); the rate counts from it.
    unit: Name of one unit in the rate ("it", "step", "img", ...).
    log_seconds: Least time between two log lines when no bar is shown.
  """

  def __init__(
    self, total: int, desc: str = "", initial: int = 0, unit: str = "it", log_seconds: float = 30.0
  ):
    self.total, self.desc, self.n, self.unit = total, desc, initial, unit
    self._start_n, self._t0, self._last_log = initial, time.time(), time.time()
    self._log_seconds = log_seconds
    self._bar = None
    self._postfix = ""
    if not quiet() and (sys.stderr.isatty() or "ipykernel" in sys.modules):
      self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)

  def rate(self) -> float:
    """Returns the units per second since the start."""
    elapsed = max(time.time() - self._t0, 1e-9)
    return (self.n - self._start_n) / elapsed

  def eta_seconds(self) -> float:
    """Returns the estimated seconds to ``total`` at the current rate (inf before any unit)."""
    rate = self.rate()
    return (self.total - self.n) / rate if rate > 0 else float("inf")

  def set_postfix(self, text: str) -> None:
    """Sets the text shown after the bar (e.g. the latest loss)."""
    self._postfix = text
    if self._bar is not None:
      self._bar.set_postfix_str(text, refresh=False)

  def update(self, k: int = 1) -> None:
    """Advances by ``k`` units; logs a line every ``log_seconds`` when there is no bar."""
    self.n += k
    if self._bar is not None:
      self._bar.update(k)
    elif not quiet() and (
      time.time() - self._last_log >= self._log_seconds or self.n >= self.total
    ):
      self._last_log = time.time()
      logging.info(
        "%s %d/%d (%.1f%%) %.2f %s/s ETA %s %s",
        self.desc,
        self.n,
        self.total,
        100.0 * self.n / max(self.total, 1),
        self.rate(),
        self.unit,
        format_seconds(self.eta_seconds()),
        self._postfix,
      )

  def close(self) -> None:
    """Closes the bar (idempotent)."""
    if self._bar is not None:
      self._bar.close()
      self._bar = None

  def __enter__(self) -> "Progress":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def format_seconds(seconds: float) -> str:
  """Formats a duration for progress lines.

  Args:
    seconds: the duration; fractions are dropped (``int``), hours are not wrapped at 24.

  Returns:
    ``'h:mm:ss'`` (e.g. ``3725`` -> ``'1:02:05'``), or ``'?'`` for ``float('inf')`` (an ETA
    before any unit is done).
  """
  if seconds == float("inf"):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress(
  iterable: Optional[Iterable] = None, total: Optional[int] = None, desc: str = "", unit: str = "it"
):
  """Wraps an iterable with progress reporting (bar or periodic log lines).

  Args:
    iterable: what to iterate over; None returns a bare :class:`Progress` of ``total`` units.
    total: number of items (default: ``len(iterable)`` when it has one).
    desc: name shown in the bar or log line.
    unit: name of one item.

  Returns:
    A generator over ``iterable``'s items, or a :class:`Progress` when ``iterable`` is None.
  """
  if iterable is None:
    return Progress(total or 0, desc=desc, unit=unit)
  if total is None and hasattr(iterable, "__len__"):
    total = len(iterable)

  def generator():
    with Progress(total or 0, desc=desc, unit=unit) as bar:
      for item in iterable:
        yield item
        bar.update(1)

  return generator()


class _DropLibraryInfo:
  """A logging filter that hides INFO chatter of third-party libraries (orbax) in run logs."""

  def __init__(self, markers=("/orbax/",)):
    self.markers = markers

  def filter(self, record) -> bool:
    import logging as py_logging

    if record.levelno >= py_logging.WARNING:
      return True
    return not any(marker in record.pathname for marker in self.markers)


def quiet_library_logs() -> None:
  """Hides orbax's per-checkpoint INFO lines (warnings and errors still show). Idempotent.

  Adds, once, a filter to absl's logging handler that drops records below WARNING whose source
  file lies under an ``orbax`` package directory; other libraries' and this package's INFO lines
  are kept.
  """
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _DropLibraryInfo) for f in handler.filters):
    handler.addFilter(_DropLibraryInfo())
