# Developer commands. Each installs what it needs first (a virtualenv in .venv from the pinned requirements).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
CHECKOV_BIN := $(CHECKOV_VENV)/bin
TRANSLATED_TEMPLATE := .aws-sam/checkov/template.json
REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= $(REGION)

.PHONY: help install lint checkov schemas test unit integration e2e local demo bench build deploy clean

help:
	@echo "make demo        run the main job on the local stack (send, delivery, customer reply, events)"
	@echo "make test        lint the template and run every test (unit, integration, e2e)"
	@echo "make lint        cfn-lint, sam validate --lint and checkov over the template"
	@echo "make schemas     regenerate schemas/*.json and the template's event schemas from the models"
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

# checkov lives in its own virtualenv: its pinned dependencies clash with requirements-dev.txt.
$(CHECKOV_BIN)/python:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	echo '*' > $(CHECKOV_VENV)/.gitignore  # git ignores the whole virtualenv (as Python 3.13's venv does itself)

$(CHECKOV_VENV)/.installed: requirements-checkov.txt | $(CHECKOV_BIN)/python
	$(CHECKOV_BIN)/python -m pip install --quiet --upgrade pip
	$(CHECKOV_BIN)/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# Scans the SAM template and its translation (the roles, stage and permissions SAM generates). Skips live in the
# template, as `Metadata: checkov: skip:` on the resource, each with its reason.
checkov: install $(CHECKOV_VENV)/.installed
	$(BIN)/python -m tools.translate_template --region $(REGION) --output $(TRANSLATED_TEMPLATE)
	$(CHECKOV_BIN)/checkov -f template.yaml -f $(TRANSLATED_TEMPLATE) --framework cloudformation --quiet --compact --skip-download

lint: install checkov
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --region $(REGION)

schemas: install
	$(BIN)/python -m tools.schemas

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

# Plotting for the benchmark report only (not in requirements-dev.txt); the dev pins constrain what both share.
$(VENV)/.bench-installed: requirements-bench.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt -c requirements-dev.txt
	touch $@

bench: install $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

build: install
	PYTHON=$(abspath $(BIN)/python) $(BIN)/sam build

deploy: build
	$(BIN)/sam deploy $(if $(ENV),--config-env $(ENV),)

clean:
	rm -rf .aws-sam .wab-local .pytest_cache
