"""Shared pytest fixtures.

`shared_dir`: the reference data/weights released with the papers, expected next to the repository
(`<repo>/../shared`) or at $RVL_SHARED_DIR; tests using it are skipped when it is absent (the
package itself never needs it).
"""

import os
import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("RVL_QUIET", "1")
if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))


def find_shared_dir():
  candidates = [os.environ.get("RVL_SHARED_DIR", ""), str(REPO_ROOT.parent / "shared")]
  for path in candidates:
    if path and os.path.isdir(path):
      return pathlib.Path(path)
  return None


@pytest.fixture(scope="session")
def shared_dir():
  path = find_shared_dir()
  if path is None:
    pytest.skip("reference data directory ../shared not found (set RVL_SHARED_DIR)")
  return path


@pytest.fixture(scope="session")
def repo_root():
  return REPO_ROOT
