# Two commands matter: `make run` and `make test`. Everything else is what they are made of.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMVENV := .venv-sam
ARGS   ?=

.PHONY: run test install install-dev lint typecheck unit e2e bench build layers layer-size sam-validate clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "batchgate needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# SAM CLI pins older boto3/click/pydantic: it gets a virtualenv of its own.
$(SAMVENV)/bin/sam:
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet aws-sam-cli

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(SAMVENV)/bin/sam

## make run: install into .venv and start the local stack (API :3000, AWS endpoint :4566)
run: install
	$(BIN)/batchgate up --data-dir .batchgate $(ARGS)

## make test: lint, type check, the whole test suite (unit, integration, e2e, template, layers)
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(CURDIR)/$(SAMVENV)/bin:$$PATH" $(BIN)/pytest -n 2 --dist loadgroup $(ARGS)

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

unit: install-dev
	$(BIN)/pytest tests/unit $(ARGS)

e2e: install-dev
	$(BIN)/pytest tests/e2e $(ARGS)

## make bench: benchmarks; results land in benchmarks/results/
bench: install-dev
	$(BIN)/python -m benchmarks $(ARGS)

## layers for the Lambda runtime (python3.12, x86_64) without Docker, and their size
layers: install
	$(BIN)/python -m batchgate_tools.layerbuild --out build/layers

layer-size: layers
	$(BIN)/python -m batchgate_tools.layerbuild --out build/layers --report

sam-validate: $(SAMVENV)/bin/sam
	$(SAMVENV)/bin/sam validate --lint --region us-east-1

clean:
	rm -rf build .aws-sam .pytest_cache .mypy_cache .ruff_cache
