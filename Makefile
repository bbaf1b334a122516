# Segment Workbench: the front door. Every target creates .venv and installs the package first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml

.PHONY: report test test-fast lint format docs lab bench screenshot system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## report: run the whole pipeline on the demo config (or CONFIG=configs/x.yaml)
report: $(STAMP)
	$(BIN)/segment-workbench run $(CONFIG)

## test: lint, then the whole test suite (what CI runs)
test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## test-fast: lint, then every test that executes no notebook, browser or database (the edit loop)
test-fast: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -m "not slow"

## lint: ruff's checks and its formatting, without changing anything
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks

## format: ruff's formatting and safe fixes
format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks notebooks
	$(BIN)/ruff format src tests benchmarks notebooks

## docs: the reference in docs/, built offline with --strict into site/
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## bench: every benchmark, written to benchmarks/results.md (BENCH_ARGS="--only pipeline --run-up-to 10000000" ...)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

## screenshot: regenerate docs/owner_report.png (the README's picture) from the demo run
screenshot: report system-deps
	mkdir -p docs
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
	  --disable-sync --no-first-run --user-data-dir="$$(mktemp -d)" --hide-scrollbars --window-size=1000,2200 \
	  --screenshot=docs/owner_report.png "file://$(CURDIR)/reports/demo/owner_report.html"

## lab: JupyterLab on the notebooks
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## system-deps: Debian packages the tests use (chromium, postgresql, Java for Spark), installed when root and missing
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed:$$missing (needs root): the browser / PostgreSQL / Spark tests will be skipped"; fi; \
	fi

clean:
	rm -rf reports/*/ reports/.*.partial-* .pytest_cache .hypothesis site
