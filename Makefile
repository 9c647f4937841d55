# Set-up is part of every target: a fresh machine needs python3 (>= 3.11) and make. With a Rust
# toolchain (cargo, from https://rustup.rs) the native matching engine in native/ is built too;
# without one, matching runs in Python (several times slower) and the Rust tests are skipped.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= $(shell PATH="$(PATH)" command -v cargo 2>/dev/null)
# Named for what it holds, so installing cargo later builds the engine on the next make.
STAMP := $(VENV)/.installed-$(if $(CARGO),native,python)
NATIVE := native/Cargo.toml native/Cargo.lock native/pyproject.toml native/monitor_native.pyi $(wildcard native/src/*.rs)
# The suite runs on three workers (pytest-xdist) a core: most tests wait on processes, servers
# and brokers, not on the CPU (on 2 cores the tests take about 1,900 s of time but 600 s of
# CPU), so six workers keep both cores busy. Each worker that runs a Kafka test starts its own
# broker. The tests marked `long` start first and an idle worker takes work from a busy one
# (worksteal), so all finish together.
TEST_WORKERS ?= $(shell echo $$((3 * $$(nproc 2>/dev/null || echo 1))))
NO_CARGO := no cargo here, so the native matching engine is not built (install Rust from \
https://rustup.rs and run make again)

.PHONY: run demo test test-fast test-tools screenshot check lint fmt clean kafka kafka-stop bench fuzz

$(STAMP): pyproject.toml $(NATIVE)
	@echo "== setting up $(VENV): Python packages (about a minute and a half the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
ifneq ($(CARGO),)
	@echo "== building the native matching engine with cargo (about a minute the first time)"
	$(BIN)/pip install --quiet ./native
endif
	@echo "== installing the project and its test tools"
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/monitor check --config monitor.yaml
	$(BIN)/monitor run --config monitor.yaml

# The monitor on bundled sample feeds served from 127.0.0.1: an alert, a folded copy and the
# status page in seconds, without a network. Ctrl-C to stop.
demo: $(STAMP)
	$(BIN)/monitor demo

# A single-node Apache Kafka (KRaft) on 127.0.0.1, from Maven Central jars (cached in .cache/).
kafka: $(STAMP)
	$(BIN)/python -m tools.kafka_harness start

kafka-stop: $(STAMP)
	$(BIN)/python -m tools.kafka_harness stop

# Benchmarks (not part of `make test`): about 25 minutes plus a 10-minute memory soak (SOAK_S,
# SOAK_RATE and SOAK_MAX_ARTICLES set its length, rate and bound); results in
# bench/results/<date>.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# The fuzz tests of the parsers, the rule loader, the story index, the digest settings, the
# channel templates (and their render budget), the page extractor, `monitor feeds` (OPML, pages,
# the feeds.yaml writer), the listener's Host check, the bus record decoder and a feed's `kind:`,
# with many more examples than `make test` gives them (FUZZ_EXAMPLES=N to choose how many; about
# 4 minutes at the default).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-3000} $(BIN)/pytest -o timeout=1800 -p no:cacheprovider \
		tests/property/test_parse_fuzz.py tests/property/test_rules_fuzz.py \
		tests/matching/test_regexes.py tests/hostile/test_source_kind.py \
		tests/property/test_yaml_fast_path.py tests/property/test_story_index.py \
		tests/property/test_timing_fuzz.py tests/property/test_template_fuzz.py \
		tests/property/test_feed_health_properties.py tests/property/test_feed_list_fuzz.py \
		tests/property/test_host_check_fuzz.py tests/property/test_record_fuzz.py \
		tests/test_extract.py::test_any_bytes_extract_without_error

lint: $(STAMP)
	@echo "== lint: ruff, mypy (strict), the import layers"
	$(BIN)/ruff format --check monitor tests tools bench
	$(BIN)/ruff check monitor tests tools bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Under CI (CI=true) the Rust tests must run: without cargo, make test fails there.
test: lint
ifeq ($(CARGO),)
	@echo "RUST TESTS NOT RUN: $(NO_CARGO)" >&2
	@test "$$CI" != true || { echo "CI=true: cargo is required" >&2; exit 1; }
else
	@echo "== the matching engine's Rust tests"
	cd native && $(CARGO) test --release --quiet
endif
	$(BIN)/python -m tests.support.prepare
	@echo "== the test suite on $(TEST_WORKERS) workers (about 6 minutes; each worker that runs a" \
		"Kafka test starts its own broker, about 10 s)"
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

# The tools the suite needs beyond Python, each announced as it is prepared (or why it is not):
# Chromium and promtool (apt-get, as root), and the Kafka broker's jars (Maven Central, once).
test-tools: $(STAMP)
	$(BIN)/python -m tests.support.prepare

# The README's status-page picture (docs/images/status-page.png): `monitor demo`'s page in a real
# headless chromium, taken by the test that checks it shows what the README's alt text says; and
# operations.md's console pictures (docs/images/console*.png), taken by the console's test.
screenshot: $(STAMP)
	UPDATE_SCREENSHOT=1 $(BIN)/pytest -p no:cacheprovider tests/status/test_demo_page.py tests/status/test_console_service.py

# The inner loop, about a minute: no lint, no Rust tests, and none of the tests that need a
# broker (kafka), start a program (process: monitor itself, chromium, ...) or a browser, or take
# half a minute (long); tests/conftest.py marks them. The property tests run 20 examples each
# (FUZZ_EXAMPLES=N for another count; `make test` runs their full count). `make test` runs all.
test-fast: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-20} $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal \
		-m "not kafka and not process and not browser and not long"

fmt: $(STAMP)
	$(BIN)/ruff format monitor tests tools bench
	$(BIN)/ruff check --fix monitor tests tools bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
