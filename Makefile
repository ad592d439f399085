# Two entry points on a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs. Everything else here is a building block of those two.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test unit integration bench lint emulator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m connect_core.local.demo

test: $(STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

bench: $(STAMP)
	$(PY) bench/pipeline_overhead.py

lint: $(STAMP)
	$(VENV)/bin/cfn-lint template.yaml

emulator: $(STAMP)
	$(PY) -m connect_core.local.emulator

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .aws-sam .demo build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Called by `sam build` (BuildMethod: makefile) with ARTIFACTS_DIR set.
build-ConnectCoreLayer:
	$(MAKE) -f layers/connect_core/Makefile layer ARTIFACTS_DIR="$(ARTIFACTS_DIR)"
