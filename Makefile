# Two commands on a fresh Debian machine with the Swift toolchain:
#   make run    build (release) and run a node on ./sundial-data
#   make test   unit tests (swift test) and the integration suite (real processes, real clients)
# Both install what is missing (Debian packages, the Python venv) themselves.

SHELL := /bin/bash
SWIFT ?= swift
DATA_DIR ?= ./sundial-data
VENV := integration/.venv
PYTHON := $(VENV)/bin/python
BUILD_LOG := .build/build-log.txt

.PHONY: run test unit integration release deps venv bench fuzz clean

run: release
	.build/release/sundial serve --data-dir $(DATA_DIR)

test: unit integration

deps:
	@scripts/ensure-system-packages.sh

venv: $(VENV)/.installed

$(VENV)/.installed: integration/requirements.txt | deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r integration/requirements.txt
	touch $@

release: deps
	@mkdir -p .build
	@scripts/release-sources.sh check
	$(SWIFT) build -c release 2>&1 | tee $(BUILD_LOG).release; test $${PIPESTATUS[0]} -eq 0
	scripts/check-warnings.sh $(BUILD_LOG).release
	@scripts/release-sources.sh record

unit: deps
	@mkdir -p .build
	@scripts/release-sources.sh check-debug
	$(SWIFT) build --build-tests 2>&1 | tee $(BUILD_LOG); test $${PIPESTATUS[0]} -eq 0
	scripts/check-warnings.sh $(BUILD_LOG)
	@scripts/release-sources.sh record-debug
	$(SWIFT) test --skip-build --parallel

integration: release venv
	$(PYTHON) -m pytest integration -q -p no:cacheprovider

# Storage benchmarks (issue 3), ILP ingestion against PostgreSQL COPY (issue 4), queries
# (issue 5), PG wire throughput against PostgreSQL (issue 6) and replication against PostgreSQL
# streaming replication (issue 7); results go
# to Docs/benchmarks.md by hand, with the command. BENCH_ROWS=1000000 for a quicker ILP run.
bench: release venv
	scripts/ensure-system-packages.sh --bench
	.build/release/sundial-storage-bench run --directory /tmp/sundial-storage-bench
	$(PYTHON) integration/bench/tsbs_generate.py --rows $${BENCH_ROWS:-10000000}
	.build/release/sundial-storage-bench ilp-parse --file /tmp/sundial-tsbs/cpu-1000h-$${BENCH_ROWS:-10000000}r.ilp
	$(PYTHON) integration/bench/ilp_bench.py --rows $${BENCH_ROWS:-10000000}
	$(PYTHON) integration/bench/query_bench.py --rows $${BENCH_ROWS:-10000000}
	$(PYTHON) integration/bench/pgwire_bench.py --rows $${BENCH_ROWS:-10000000}
	$(PYTHON) integration/bench/replication_bench.py --rows 10000000
	$(PYTHON) integration/bench/failover_bench.py

# The ILP and PG wire parsers under libFuzzer + AddressSanitizer, FUZZ_SECONDS (default 300)
# each; its own build directory, .build-fuzz (RELIABILITY §5.1).
fuzz: deps
	scripts/fuzz.sh

clean:
	rm -rf .build .build-fuzz $(VENV)
