# Developer commands. Each installs what it needs first: virtualenvs made with Python 3.13 from the pinned requirements
# (.venv: the product and its tests; .venv-sam: the SAM tooling; .venv-checkov: checkov).
PYTHON ?= $(shell tools/find-python3.13)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM_BIN := $(SAM_VENV)/bin
CHECKOV_VENV := .venv-checkov
CHECKOV_BIN := $(CHECKOV_VENV)/bin
TRANSLATED_TEMPLATE := .aws-sam/checkov/template.json
# The offline checks need a region to build ARNs with; `make deploy` uses REGION only when given, else the AWS
# profile's own region (AWS_REGION, AWS_DEFAULT_REGION or the profile's config).
CHECK_REGION := eu-west-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help install lint checkov schemas test unit integration emulator bench-smoke e2e local demo bench build deploy clean

help:
	@echo "make demo        run the main job on the local stack (send, delivery, customer reply, events)"
	@echo "make test        lint, then every test tier (unit, integration, emulator, bench-smoke, e2e)"
	@echo "make unit        the pure-logic tests, in seconds (also: integration, emulator, bench-smoke, e2e)"
	@echo "make lint        ruff (lint, format) and mypy over the code; cfn-lint, sam validate, checkov over the template"
	@echo "make schemas     regenerate schemas/*.json and the template's event schemas from the models"
	@echo "make local       run the local stack in the foreground until Ctrl-C"
	@echo "make bench       run the benchmarks, write bench/report.md"
	@echo "make build       sam build"
	@echo "make deploy      sam deploy [ENV=prod] [REGION=…] [PARAMS=\"Name=Value …\"] (docs/deploying.md)"

# A virtualenv is (re)made when it has no python3.13 (a missing one, or one left by an older Python). Its marker names
# the Python version, so a marker left by an older Python never passes for a fresh install.
%/bin/python3.13:
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: install it, or pass PYTHON=/path/to/python3.13" >&2; exit 1; }
	$(PYTHON) -m venv --clear $*

$(VENV)/.installed-py3.13: requirements-dev.txt layers/wab/requirements.txt | $(BIN)/python3.13
	@echo "installing the gateway's libraries and test tools into $(VENV) (once; about a minute)…"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# aws-sam-cli pins older boto3 and pydantic than the layer ships, so the SAM tooling has a virtualenv of its own.
$(SAM_VENV)/.installed-py3.13: requirements-sam.txt | $(SAM_BIN)/python3.13
	@echo "installing the SAM tooling into $(SAM_VENV) (once; about a minute)…"
	$(SAM_BIN)/python -m pip install --quiet --upgrade pip
	$(SAM_BIN)/python -m pip install --quiet -r requirements-sam.txt
	touch $@

# checkov pins boto3, networkx and packaging against both of the others: a virtualenv of its own too.
$(CHECKOV_VENV)/.installed-py3.13: requirements-checkov.txt | $(CHECKOV_BIN)/python3.13
	@echo "installing checkov into $(CHECKOV_VENV) (once)…"
	$(CHECKOV_BIN)/python -m pip install --quiet --upgrade pip
	$(CHECKOV_BIN)/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

install: $(VENV)/.installed-py3.13 $(SAM_VENV)/.installed-py3.13

# Scans the SAM template and its translation (the roles, stage and permissions SAM generates). Skips live in the
# template, as `Metadata: checkov: skip:` on the resource, each with its reason.
checkov: install $(CHECKOV_VENV)/.installed-py3.13
	$(BIN)/python -m tools.translate_template --region $(CHECK_REGION) --output $(TRANSLATED_TEMPLATE)
	$(CHECKOV_BIN)/checkov -f template.yaml -f $(TRANSLATED_TEMPLATE) --framework cloudformation --quiet --compact --skip-download

# ruff and mypy read their settings (and mypy its files) from pyproject.toml.
lint: install checkov
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(SAM_BIN)/cfn-lint template.yaml examples/*/template.yaml
	# Every resource type the stack uses must exist in every region it may be deployed to (or sit behind a condition).
	$(SAM_BIN)/cfn-lint --regions ALL_REGIONS -- template.yaml
	$(SAM_BIN)/sam validate --lint --region $(CHECK_REGION)
	for example in examples/*/template.yaml; do $(SAM_BIN)/sam validate --lint --region $(CHECK_REGION) -t $$example || exit 1; done

schemas: install
	$(BIN)/python -m tools.schemas

test: lint
	$(BIN)/python -m pytest -q

# The test tiers, cheapest first; `make test` runs them all after the linters.
unit: install  # pure logic, in seconds
	$(BIN)/python -m pytest -q tests/unit

integration: install  # the handlers against moto in-process
	$(BIN)/python -m pytest -q tests/integration

emulator: install  # the local stack's own parts: template translation, the provider simulator
	$(BIN)/python -m pytest -q tests/emulator

bench-smoke: install  # `make bench` in miniature: structure and call-for-call parity, never times
	$(BIN)/python -m pytest -q tests/bench

e2e: install  # the whole local stack over HTTP
	$(BIN)/python -m pytest -q tests/e2e

local: install
	$(BIN)/python -m local $(ARGS)

demo: install
	$(BIN)/python -m local.demo

# Plotting for the benchmark report only (not in requirements-dev.txt); the dev pins constrain what both share.
$(VENV)/.bench-installed: requirements-bench.txt $(VENV)/.installed-py3.13
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt -c requirements-dev.txt
	touch $@

bench: install $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# sam build looks for the runtime's python3.13 on PATH, and the layer's Makefile runs $(PYTHON).
build: install
	PATH="$(abspath $(SAM_BIN)):$$PATH" PYTHON=$(abspath $(SAM_BIN)/python3.13) $(SAM_BIN)/sam build

# `make deploy [ENV=prod] [REGION=eu-west-1] [PARAMS="WindowPolicy=enforce NumberRatePerSecond=250"]`: PARAMS replaces the
# environment's parameter_overrides in samconfig.toml for this deploy.
deploy: build
	$(SAM_BIN)/sam deploy $(if $(ENV),--config-env $(ENV),) $(if $(REGION),--region $(REGION),) \
		$(if $(PARAMS),--parameter-overrides $(PARAMS),)

clean:
	rm -rf .aws-sam .wab-local .pytest_cache .mypy_cache .ruff_cache
