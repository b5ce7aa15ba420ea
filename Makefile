# The two commands of the README: `make demo` and `make test`. Both create the virtual
# environment when it is missing and (re)install the project when pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration bench bench-emulator bench-connector clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/crmsync demo

test: lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests -m unit

integration: $(STAMP)
	$(BIN)/pytest tests -m integration

bench: bench-emulator bench-connector

bench-emulator: $(STAMP)
	$(BIN)/python -m bench.emulator_read

bench-connector: $(STAMP)
	$(BIN)/python -m bench.connector_read

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
