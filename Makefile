# Developer commands. Each installs what it needs first (a virtualenv in .venv from the pinned requirements).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= $(REGION)

.PHONY: help install lint test unit integration e2e local demo bench build deploy clean

help:
	@echo "make demo        run the main job on the local stack (send, delivery, customer reply, events)"
	@echo "make test        lint the template and run every test (unit, integration, e2e)"
	@echo "make local       run the local stack in the foreground until Ctrl-C"
	@echo "make bench       run the benchmarks, write bench/report.md"
	@echo "make build       sam build"
	@echo "make deploy      sam deploy (see README: first deploy)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements-dev.txt layers/wab/requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --region $(REGION)

test: lint
	$(BIN)/python -m pytest -q

unit: install
	$(BIN)/python -m pytest -q tests/unit

integration: install
	$(BIN)/python -m pytest -q tests/integration

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

local: install
	$(BIN)/python -m local

demo: install
	$(BIN)/python -m local.demo

bench: install
	$(BIN)/python -m bench

build: install
	$(BIN)/sam build

deploy: build
	$(BIN)/sam deploy $(if $(ENV),--config-env $(ENV),)

clean:
	rm -rf .aws-sam .wab-local .pytest_cache
