# Two commands matter: `make run` and `make test`. Everything else is what they are made of.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMVENV := .venv-sam
CHECKOVVENV := .venv-checkov
ARGS   ?=
# The dashboard's browser tests drive Debian's chromium: Playwright cannot download its own here.
CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-dev browser screenshots lint typecheck unit e2e bench build layers layer-size sam-validate template-lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "batchgate needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The benchmarks' peers (polars, DuckDB, dlt, pandas): only `make bench` needs them, not the tests.
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# SAM CLI pins older boto3/click/pydantic: it gets a virtualenv of its own.
$(SAMVENV)/bin/sam:
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet aws-sam-cli

# checkov pins older boto3 and networkx than the project and cfn-lint use: a virtualenv of its own too.
$(CHECKOVVENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOVVENV)
	$(CHECKOVVENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOVVENV)/bin/pip install --quiet checkov

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(SAMVENV)/bin/sam $(CHECKOVVENV)/bin/checkov browser

## the browser for tests/e2e/test_dashboard.py: Debian's chromium, installed with apt when missing;
## without apt the dashboard's tests skip, saying why
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the dashboard's browser tests"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; \
	else \
	  echo "no $(CHROMIUM) and no apt-get: the dashboard's browser tests will be skipped (set BATCHGATE_CHROMIUM to a Chromium binary)"; \
	fi

## the dashboard's screenshots in docs/img (the README shows them), taken by its browser tests
screenshots: install-dev
	BATCHGATE_SCREENSHOTS=$(CURDIR)/docs/img $(BIN)/pytest tests/e2e/test_dashboard.py $(ARGS)

## make run: install into .venv and start the local stack (API :3000, AWS endpoint :4566)
run: install
	$(BIN)/batchgate up --data-dir .batchgate $(ARGS)

## make test: lint, type check, the whole test suite (unit, integration, e2e, template, layers);
## the template's linters (sam validate --lint, cfn-lint with informational checks, checkov) run
## as tests in tests/integration/test_deploy.py
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(CURDIR)/$(SAMVENV)/bin:$(CURDIR)/$(CHECKOVVENV)/bin:$$PATH" $(BIN)/pytest -n 2 --dist loadgroup --durations=25 $(ARGS)

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

unit: install-dev
	$(BIN)/pytest tests/unit $(ARGS)

e2e: install-dev
	$(BIN)/pytest tests/e2e $(ARGS)

## make bench: benchmarks; results land in benchmarks/results/
bench: install-dev $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks $(ARGS)

## layers for the Lambda runtime (python3.12, x86_64) without Docker, and their size
layers: install
	$(BIN)/python -m batchgate_tools.layerbuild --out build/layers

layer-size: layers
	$(BIN)/python -m batchgate_tools.layerbuild --out build/layers --report

sam-validate: $(SAMVENV)/bin/sam
	$(SAMVENV)/bin/sam validate --lint --region us-east-1

## the template's three linters by hand (make test runs them too)
template-lint: install-dev
	$(SAMVENV)/bin/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint --include-checks I -- template.yaml
	$(CHECKOVVENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

clean:
	rm -rf build .aws-sam .pytest_cache .mypy_cache .ruff_cache
