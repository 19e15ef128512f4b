"""`make demo`: runs the smoke-scale headline experiment of every system present and writes
<workdir>/report.md with their figures.

Each system contributes `experiments/<system>/demo*.py` modules with `run(workdir) -> markdown`.
Sections run in a fixed order (unknown ones after), each in `<workdir>/<section>`; a failing section
is reported in the report with its error and makes the command exit non-zero.

    python -m experiments.demo --workdir=demo_out [--only=racecar,abs]
"""

from __future__ import annotations

import datetime
import importlib
import os
import pkgutil
import platform
import time
import traceback

import jax
from absl import app
from absl import flags
from absl import logging

from rvl_jax.core import experiment
from rvl_jax.core import io as rio

_WORKDIR = experiment.define_flag(flags.DEFINE_string, "workdir", "demo_out",
                                  "Output directory for report.md and runs.")
_ONLY = experiment.define_flag(flags.DEFINE_list, "only", [],
                               "Run only these sections (e.g. racecar,abs).")

ORDER = ("mnist_classifier", "racecar", "abs", "abs_robustness", "disentanglement", "slowvae",
         "benchmark", "noise")


def discover():
  """Returns [(section name, module name)] for every experiments/<system>/demo*.py."""
  root = os.path.dirname(os.path.abspath(__file__))
  found = []
  for entry in sorted(os.listdir(root)):
    package_dir = os.path.join(root, entry)
    if not os.path.isfile(os.path.join(package_dir, "__init__.py")):
      continue
    for module in pkgutil.iter_modules([package_dir]):
      if module.name == "demo" or module.name.startswith("demo_"):
        suffix = module.name[len("demo"):]
        found.append((entry + suffix, f"experiments.{entry}.{module.name}"))
  rank = {name: i for i, name in enumerate(ORDER)}
  return sorted(found, key=lambda item: (rank.get(item[0], len(ORDER)), item[0]))


def write_report(workdir: str, sections, started: float) -> str:
  header = [
      "# rvl_jax demo report",
      "",
      f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} on "
      f"{platform.node() or 'this machine'}: JAX {jax.__version__}, devices "
      f"{', '.join(str(d) for d in jax.devices())}, {os.cpu_count()} CPU cores. Smoke-scale "
      "settings: the figures show the pipelines work end to end and the headline effects at a tiny "
      "scale; the default and paper configs reproduce the papers' numbers.",
      "",
      "| section | status | seconds |",
      "|---|---|---|",
  ]
  for name, status, seconds, _ in sections:
    header.append(f"| {name} | {status} | {seconds:.1f} |")
  header.append(f"| **total** | | {time.time() - started:.1f} |")
  body = []
  for name, status, seconds, text in sections:
    body += ["", text if status == "ok" else f"## {name}\n\nFAILED:\n\n```\n{text}\n```"]
  path = os.path.join(workdir, "report.md")
  with rio.atomic_write(path, "w") as f:
    f.write("\n".join(header + body) + "\n")
  return path


def main(argv):
  del argv
  workdir = os.path.abspath(_WORKDIR.value)
  os.makedirs(workdir, exist_ok=True)
  started = time.time()
  sections = []
  failed = False
  for name, module_name in discover():
    if _ONLY.value and name not in _ONLY.value:
      continue
    logging.info("demo section %s (%s)", name, module_name)
    t0 = time.time()
    try:
      module = importlib.import_module(module_name)
      text = module.run(os.path.join(workdir, name))
      sections.append((name, "ok", time.time() - t0, text))
    except Exception:  # pylint: disable=broad-except
      failed = True
      sections.append((name, "FAILED", time.time() - t0, traceback.format_exc()))
      logging.error("demo section %s failed:\n%s", name, traceback.format_exc())
    path = write_report(workdir, sections, started)
  print(f"report: {os.path.join(workdir, 'report.md')} ({time.time() - started:.1f} s)")
  if failed:
    raise SystemExit(1)


if __name__ == "__main__":
  app.run(main)
