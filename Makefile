# Segment Workbench: the front door. Every target creates .venv and installs the package first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= configs/demo.yaml

.PHONY: report test lab bench screenshot system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## report: run the whole pipeline on the demo config (or CONFIG=configs/x.yaml)
report: $(STAMP)
	$(BIN)/workbench run $(CONFIG)

## test: the whole test suite (what CI runs)
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup

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

## system-deps: Debian packages the tests use (chromium, postgresql), installed when root and missing
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed:$$missing (needs root): the browser / PostgreSQL tests will be skipped"; fi; \
	fi

clean:
	rm -rf reports/*/ reports/.*.partial-* .pytest_cache .hypothesis
