import json
import os

import chex
import numpy as np
import pytest

from rvl_jax.core import io as rio
from rvl_jax.core import validation, writer


def test_check_images_names_argument_shape():
  with pytest.raises(
    ValueError, match=r"argument 'images': expected shape \(N, 28, 28, 1\), got \(4, 28, 28\)"
  ):
    validation.check_images(
      "images", np.zeros((4, 28, 28), np.float32), height=28, width=28, channels=1
    )


def test_check_images_dtype_and_range():
  with pytest.raises(TypeError, match=r"argument 'x': expected dtype floating, got uint8"):
    validation.check_images("x", np.zeros((2, 4, 4, 1), np.uint8))
  with pytest.raises(
    ValueError, match=r"argument 'x': expected values in \[0.0, 1.0\], got range \[0, 255\]"
  ):
    validation.check_images(
      "x", np.full((2, 4, 4, 1), 255.0, np.float32).clip(0) * np.array([0, 1]).reshape(2, 1, 1, 1)
    )
  validation.check_images("x", np.zeros((2, 4, 4, 1), np.float32), height=4)


def test_check_array_nan():
  with pytest.raises(ValueError, match="argument 'codes': expected finite values, got 1 NaN/inf"):
    validation.check_array("codes", np.array([1.0, np.nan]), finite=True)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
  target = tmp_path / "results.json"
  rio.write_json(str(target), {"a": 1})
  with pytest.raises(RuntimeError):
    with rio.atomic_write(str(target), "w") as f:
      f.write("{half")
      raise RuntimeError("crash mid-write")
  assert json.loads(target.read_text()) == {"a": 1}
  assert sorted(os.listdir(tmp_path)) == ["results.json"]


def test_json_handles_numpy_and_nonfinite(tmp_path):
  path = str(tmp_path / "r.json")
  rio.write_json(
    path, {"x": np.float32(0.5), "n": np.int64(3), "v": np.arange(2), "bad": float("nan")}
  )
  assert rio.read_json(path) == {"x": 0.5, "n": 3, "v": [0, 1], "bad": "nan"}


def test_flatten_dict():
  assert rio.flatten_dict({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a/b": 1, "a/c/d": 2, "e": 3}


def test_crc32c_known_vector():
  assert writer.crc32c(b"123456789") == 0xE3069283


def test_metric_writer_roundtrip(tmp_path):
  with writer.MetricWriter(str(tmp_path)) as w:
    w.write_scalars(3, {"loss": 0.25, "acc": np.float32(0.5)})
  rows = writer.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert rows == [{"step": 3, "loss": 0.25, "acc": 0.5}]
  (event_file,) = os.listdir(tmp_path / "tb")
  payloads = list(writer.read_tfrecords(str(tmp_path / "tb" / event_file)))
  assert b"brain.Event:2" in payloads[0]
  assert len(payloads) == 3 and b"loss" in payloads[1] and b"acc" in payloads[2]
  # simple_value is a little-endian float32 after tag field 1 and field 2 (fixed32).
  import struct

  value = struct.unpack("<f", payloads[1][-4:])[0]
  chex.assert_trees_all_close(value, 0.25)
