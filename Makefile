# Two entry points on a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs. Everything else here is a building block of those two.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The SAM CLI pins its own boto3, older than the runtime's: it gets a virtualenv of its own.
SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI_VERSION := 1.170.0

.PHONY: demo demo-replication test unit integration bench lint emulator clean venv sam build-ConnectCoreLayer

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $(SAM_STAMP)

venv: $(STAMP)

sam: $(SAM_STAMP)

demo: $(STAMP)
	$(PY) -m connect_core.local.demo $(ARGS)

test: $(STAMP) $(SAM_STAMP) postgres
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

bench: $(STAMP)
	$(PY) bench/pipeline_overhead.py

lint: $(STAMP) $(SAM_STAMP)
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint

emulator: $(STAMP)
	$(PY) -m connect_core.local.emulator

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .hypothesis .aws-sam .demo build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Called by `sam build` (BuildMethod: makefile) with ARTIFACTS_DIR set.
build-ConnectCoreLayer:
	$(MAKE) -f layers/connect_core/Makefile layer ARTIFACTS_DIR="$(ARTIFACTS_DIR)"

# Two local RocketMQ 5.x clusters (A and B) from Maven Central jars, in the background: name servers,
# proxies with embedded brokers, test topics; endpoints and PIDs in .rocketmq/clusters.json.
# Needs Java 11+ and Maven (the jars are cached in .rocketmq/ after the first run).
# ARGS=--secure: TLS enforced and ACL 2.0 on; the CA and the test users' credentials in clusters.json.
.PHONY: rocketmq-up rocketmq-down

rocketmq-up: $(STAMP)
	$(PY) -m connect_core.rocketmq.broker up $(ARGS)

# Stops exactly the PIDs recorded by rocketmq-up (if they are still those JVMs). Standard library only.
rocketmq-down:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m connect_core.rocketmq.broker down

# The RocketMQ demo: clusters A and B, template.yaml's Replicator and rocketmq-source/-sink between them.
demo-replication: $(STAMP)
	$(PY) -m connect_core.local.demo_replication $(ARGS)

# PostgreSQL server binaries for tests/jdbc (Debian's package), installed only when none are found.
# The tests start their own server on a free loopback port; the package's own cluster is not used.
.PHONY: postgres
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || { \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql; }
