"""Every colabs/*.ipynb runs top to bottom on the smoke settings (RVL_SMOKE=1)."""

import os
import pathlib

import pytest

from tests.conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "colabs").glob("*.ipynb"))


def execute_notebook(path: pathlib.Path, timeout: int = 600):
  import nbformat
  from nbclient import NotebookClient

  nb = nbformat.read(str(path), as_version=4)
  os.environ["RVL_SMOKE"] = "1"
  os.environ["RVL_QUIET"] = "1"
  client = NotebookClient(
    nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}
  )
  client.execute()
  return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
  nb = execute_notebook(path)
  errors = [
    o
    for c in nb.cells
    if c.cell_type == "code"
    for o in c.get("outputs", [])
    if o.get("output_type") == "error"
  ]
  assert not errors


def test_quickstart_present():
  assert (REPO_ROOT / "colabs" / "quickstart.ipynb") in NOTEBOOKS
