# The two commands of the README: `make demo` and `make test`. Both create the virtual
# environment when it is missing and (re)install the project when pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The SOQL parser used by the jobs tests (npm soql-parser-js), installed when node exists.
JS_TESTS := tests/integration/jobs/js

.PHONY: js-deps bench-queue bench-failover bench-embedded bench-salesforce bench-inbound bench-latency bench-export bench-twoway demo test lint typecheck unit integration bench bench-emulator bench-connector clean bench-pg-write bench-emulator-scale bench-scaleout

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The benchmarks' own extra (dlt, compared with in bench-inbound).
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/crmsync demo

# TEST_WORKERS=N runs the suite in N processes side by side (pytest-xdist); one process by
# default: on two cores the emulators and subprocesses of the integration tests keep both busy.
TEST_WORKERS ?= 0

test: lint typecheck js-deps
	$(BIN)/pytest -n $(TEST_WORKERS)

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

bench-inbound: $(BENCH_STAMP)
	$(BIN)/python -m bench.inbound_load --contacts 1000000

bench-queue: $(STAMP)
	$(BIN)/python -m bench.queue_throughput --messages 1000 --changes 1000

bench-embedded: $(STAMP)
	$(BIN)/python -m bench.embedded_load --contacts 200000 --rounds 3

bench-pg-write: $(STAMP)
	$(BIN)/python -m bench.pg_write --rows 200000 --rounds 2

# Seeds a data file once (kept in bench/results/, reused by later runs), then reads it in full.
bench-emulator-scale: $(STAMP)
	mkdir -p bench/results
	$(BIN)/python -m bench.emulator_scale --contacts 15000000 --data bench/results/dataverse-15m.db

bench-salesforce: $(STAMP)
	$(BIN)/python -m bench.inbound_salesforce --contacts 1000000

bench-latency: $(BENCH_STAMP)
	$(BIN)/python -m bench.inbound_latency --contacts 10000 --changes 50

js-deps:
	@if command -v npm >/dev/null 2>&1; then cd $(JS_TESTS) && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the SOQL parser test will be skipped"; fi

bench-failover: $(STAMP)
	$(BIN)/python -m bench.failover --contacts 2000 --trials 5

bench-scaleout: $(STAMP)
	$(BIN)/python -m bench.scaleout --contacts 1000000 --writers 1,2,3

bench-export: $(STAMP)
	$(BIN)/python -m bench.export_jobs

bench-twoway: $(STAMP)
	$(BIN)/python -m bench.twoway --contacts 10000 --changes 50 --edits 1000 --load-contacts 100000

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
