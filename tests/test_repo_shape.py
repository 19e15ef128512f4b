"""The one shape every system follows: a registry per system, the same main.py, thin experiment
modules, and comments that cite papers rather than documents outside the repository."""

import ast
import io
import pathlib
import re
import tokenize

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


def _code_lines(source: str) -> int:
  """Lines holding code: blank lines, comments and docstrings do not count."""
  lines, prev = set(), None
  skip = (
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
  )
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type in skip:
      prev = tok if tok.type != tokenize.COMMENT else prev
      continue
    statement_start = prev is None or prev.type in (
      tokenize.NEWLINE,
      tokenize.INDENT,
      tokenize.DEDENT,
      tokenize.NL,
    )
    if not (tok.type == tokenize.STRING and statement_start):
      lines.update(range(tok.start[0], tok.end[0] + 1))
    prev = tok
  return len(lines)


def test_code_line_counter():
  assert (
    _code_lines('"""Doc."""\n\n# comment\nx = 1\n\n\ndef f():\n  """Doc."""\n  return x\n') == 3
  )


# Experiment modules read a config, call the library and write results.
MAX_EXPERIMENT_CODE_LINES = 200


def test_experiment_modules_are_thin():
  too_long = {}
  for path in (ROOT / "experiments").rglob("*.py"):
    if "configs" in path.parts:
      continue
    n = _code_lines(path.read_text())
    if n > MAX_EXPERIMENT_CODE_LINES:
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
