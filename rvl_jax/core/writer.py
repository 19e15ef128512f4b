"""Metric logging: JSON lines plus TensorBoard event files, without TensorFlow.

TensorBoard reads TFRecord files of ``Event`` protocol buffers. The two messages we need are
tiny, so they are encoded by hand here (varint/fixed64/length-delimited fields) together with
the masked CRC32C that TFRecord framing uses. Only scalar summaries are written.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from typing import Any, Mapping, Optional

import numpy as np

from rvl_jax.core import io as rio
from rvl_jax.core import sharding


def _crc32c_table():
  table = []
  for i in range(256):
    crc = i
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """Computes the CRC32C (Castagnoli) checksum TFRecord uses.

  Args:
    data: the bytes.

  Returns:
    The checksum as an unsigned 32-bit int.
  """
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


def _field(number: int, wire_type: int) -> bytes:
  return _varint((number << 3) | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
  return _field(number, 2) + _varint(len(payload)) + payload


def encode_scalar_event(step: int, tag: str, value: float, wall_time: float) -> bytes:
  """Serialises a TensorBoard Event{wall_time, step, summary{value{tag, simple_value}}}.

  Args:
    step: the training step.
    tag: the scalar's name.
    value: the scalar (stored as float32).
    wall_time: seconds since the epoch.

  Returns:
    The protocol-buffer bytes of the event.
  """
  summary_value = _length_delimited(1, tag.encode()) + _field(2, 5) + struct.pack("<f", value)
  summary = _length_delimited(1, summary_value)
  return (
    _field(1, 1)
    + struct.pack("<d", wall_time)
    + _field(2, 0)
    + _varint(int(step))
    + _length_delimited(5, summary)
  )


def encode_file_version_event(wall_time: float) -> bytes:
  """Serialises the Event that opens every TensorBoard events file
  (Event{wall_time, file_version="brain.Event:2"}).

  Args:
    wall_time: seconds since the epoch.

  Returns:
    The protocol-buffer bytes of the event (not yet framed; see :func:`tfrecord_frame`).
  """
  return _field(1, 1) + struct.pack("<d", wall_time) + _length_delimited(3, b"brain.Event:2")


def tfrecord_frame(payload: bytes) -> bytes:
  """Frames ``payload`` as one TFRecord: its length, the masked CRC32C of the length, the payload,
  the masked CRC32C of the payload.

  Args:
    payload: one record (e.g. a serialised Event).

  Returns:
    The framed bytes, ``16 + len(payload)`` of them (little-endian uint64 length, two uint32
    CRCs), as :func:`read_tfrecords` reads them back.
  """
  header = struct.pack("<Q", len(payload))
  return (
    header
    + struct.pack("<I", _masked_crc(header))
    + payload
    + struct.pack("<I", _masked_crc(payload))
  )


def read_tfrecords(path: str):
  """Reads a TFRecord file, checking both CRCs of every record.

  Args:
    path: the file.

  Returns:
    A generator over the record payloads (bytes).

  Raises:
    ValueError: a header or payload CRC does not match.
  """
  with open(path, "rb") as f:
    data = f.read()
  offset = 0
  while offset < len(data):
    header = data[offset : offset + 8]
    (length,) = struct.unpack("<Q", header)
    (header_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
    if header_crc != _masked_crc(header):
      raise ValueError(f"corrupt TFRecord header in {path} at byte {offset}")
    payload = data[offset + 12 : offset + 12 + length]
    (payload_crc,) = struct.unpack("<I", data[offset + 12 + length : offset + 16 + length])
    if payload_crc != _masked_crc(payload):
      raise ValueError(f"corrupt TFRecord payload in {path} at byte {offset}")
    yield payload
    offset += 16 + length


class MetricWriter:
  """Writes scalar metrics to ``<logdir>/metrics.jsonl`` and TensorBoard events in ``<logdir>/tb``.

  ``enabled=None`` (default): only process 0 of a multi-process run writes; the others accept and
  drop the scalars. The events are written directly in TensorBoard's TFRecord format, so no
  TensorFlow import is needed.

  Args:
    logdir: Folder for ``metrics.jsonl`` and the ``tb`` event folder (created if missing).
    enabled: Whether this process writes; ``None`` means "only the main process".
  """

  def __init__(self, logdir: str, enabled: Optional[bool] = None):
    self.logdir = logdir
    self.enabled = enabled = sharding.is_main_process() if enabled is None else enabled
    self._jsonl = None
    self._events = None
    if not enabled:
      return
    os.makedirs(os.path.join(logdir, "tb"), exist_ok=True)
    self._jsonl = open(os.path.join(logdir, "metrics.jsonl"), "a")
    now = time.time()
    name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}"
    self._events = open(os.path.join(logdir, "tb", name), "ab")
    self._events.write(tfrecord_frame(encode_file_version_event(now)))

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Appends one metrics.jsonl row and one TensorBoard event per scalar (if enabled)."""
    if not self.enabled:
      return
    now = time.time()
    clean = {k: float(np.asarray(v)) for k, v in scalars.items()}
    self._jsonl.write(json.dumps(rio.to_jsonable({"step": int(step), **clean})) + "\n")
    self._jsonl.flush()
    for tag, value in clean.items():
      self._events.write(tfrecord_frame(encode_scalar_event(step, tag, value, now)))
    self._events.flush()

  def close(self) -> None:
    """Closes both files (idempotent)."""
    for f in (self._jsonl, self._events):
      if f is not None:
        f.close()
    self._jsonl = self._events = None

  def __enter__(self) -> "MetricWriter":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def read_jsonl(path: str, step: Optional[int] = None):
  """Reads metrics.jsonl back.

  Args:
    path: the metrics.jsonl file.
    step: keep only the rows of this step (default: all rows).

  Returns:
    A list of dicts, one per row.
  """
  rows = []
  with open(path) as f:
    for line in f:
      row = json.loads(line)
      if step is None or row["step"] == step:
        rows.append(row)
  return rows
