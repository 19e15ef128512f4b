# `make demo`: create .venv if missing, install rvl_jax with its test extra, run the smoke-scale
# headline experiment of every system and write demo_out/report.md.
# `make test`: the same install, then ruff (lint and format check), then the whole test suite
# (notebooks included). `make lint` runs ruff alone; `make format` rewrites the tree in its style.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rvl_installed
DEMO_DIR ?= demo_out
PYTEST_WORKERS ?= 2

.PHONY: install demo lint format test clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.demo --workdir=$(DEMO_DIR)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test: lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --durations=15 tests

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
