"""The one shape every system follows: a registry per system, the same main.py, thin experiment
modules, and comments that cite papers rather than documents outside the repository."""

import ast
import pathlib
import re

import pytest

from rvl_jax.core import experiment
from tests.conftest import REPO_ROOT

ROOT = pathlib.Path(REPO_ROOT)
SYSTEMS = sorted(p.parent.name for p in (ROOT / "experiments").glob("*/main.py"))


def test_every_system_has_a_main():
  assert {"abs", "benchmark", "mnist_classifier", "noise", "racecar", "slowvae"} <= set(SYSTEMS)


@pytest.mark.parametrize("system", SYSTEMS)
def test_registry_resolves_and_main_dispatches(system):
  module = __import__(f"experiments.{system}", fromlist=["EXPERIMENTS"])
  registry = module.EXPERIMENTS
  assert registry, system
  for name in registry:
    assert callable(experiment.resolve(registry, name)), (system, name)
  source = (ROOT / "experiments" / system / "main.py").read_text()
  assert "experiment.run(EXPERIMENTS)" in source, system


def test_experiment_modules_are_thin():
  too_long = {}
  for path in (ROOT / "experiments").rglob("*.py"):
    if "configs" in path.parts:
      continue
    n = len(path.read_text().splitlines())
    if n > 220:
      too_long[str(path.relative_to(ROOT))] = n
  assert not too_long, too_long


def test_no_command_line_parsing_in_the_library():
  offenders = []
  for path in (ROOT / "rvl_jax").rglob("*.py"):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
        if "argparse" in names:
          offenders.append(str(path.relative_to(ROOT)))
  assert not offenders, offenders


_SPEC_CITATION = re.compile(r"\bspec(ification)? ?(§|section )?\d|\[[GM]\]")


def test_no_citations_of_documents_outside_the_repository():
  offenders = []
  for top in ("rvl_jax", "experiments", "tests", "docs"):
    for path in (ROOT / top).rglob("*"):
      if path.suffix not in (".py", ".md") or path.name == "test_repo_shape.py":
        continue
      for i, line in enumerate(path.read_text().splitlines(), 1):
        if _SPEC_CITATION.search(line):
          offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()[:80]}")
  assert not offenders, "\n".join(offenders[:40])
