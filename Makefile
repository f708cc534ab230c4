# fnproxy - two commands do all the set-up on a fresh machine:
#   make run    start fnproxy locally (SQLite, sample functions, no cloud account)
#   make test   run the test suite
#   make build         the deployable artifacts: build/aws/fnproxy-lambda.zip, build/gcp/source/
#   make deploy-check  the offline deployment checks (terraform fmt, serverless package,
#                      cfn-lint, checkov, hadolint); docs/deploy.md
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean build deploy-check screenshots

# Lambda's python3.12 compiles the Lambda zip's bytecode (deploy/build.py) and runs the zip in
# bench/aws_cold_start.py: pyenv's, when there is one, else python3.12 on PATH; without either
# the zip ships without bytecode (the build says so).
LAMBDA_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12))
export LAMBDA_PYTHON

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fnproxy serve

test: $(STAMP)
	$(BIN)/ruff check core handlers tests
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# the dashboard's pictures in docs/images/ (README), taken in Debian's Chromium
screenshots: $(STAMP)
	$(BIN)/python -m docs.screenshots

build: $(STAMP)
	$(BIN)/python -m deploy.build

# checkov lives in its own venv (it replaces python-hcl2's `hcl2` module); the Serverless
# Framework v3 comes from package-lock.json.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP := node_modules/.installed

$(CHECKOV_STAMP): deploy/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	echo '*' > $(CHECKOV_VENV)/.gitignore  # the venv ignores itself (as Python >= 3.13 does)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r deploy/requirements-checkov.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deploy-check: build $(CHECKOV_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check deploy
	$(BIN)/python -m deploy.checks

lint: $(STAMP)
	$(BIN)/ruff check core handlers tests bench

clean:
	rm -rf $(VENV) .fnproxy .pytest_cache build $(CHECKOV_VENV) node_modules .serverless
