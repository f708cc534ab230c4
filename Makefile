# fnproxy - two commands do all the set-up on a fresh machine:
#   make run    start fnproxy locally (SQLite, sample functions, no cloud account)
#   make test   run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

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

lint: $(STAMP)
	$(BIN)/ruff check core handlers tests bench

clean:
	rm -rf $(VENV) .fnproxy .pytest_cache
