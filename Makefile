# The two commands a new user needs: `make run` and `make test`.
## The distribution's Python 3.11 when it has one, with venv and headers: Debian builds it with PGO and LTO and
## links it statically, and the workers ran 10-20% faster on it than on a default pyenv or source build (shared
## libpython, no PGO); docs/benchmarks.md. `make PYTHON=<interpreter> ...` picks another.
DISTRO_PYTHON := /usr/bin/python3.11
PYTHON ?= $(shell $(DISTRO_PYTHON) -c 'import ensurepip, os, sysconfig; assert os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' >/dev/null 2>&1 && echo $(DISTRO_PYTHON) || echo python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint setup compile system-deps kafka-jars clean bench eval

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -e '.[dev,embedded,compiled]'
	touch $(STAMP)

setup: $(STAMP)

## The Cython build of the per-event modules (compiled/): incremental, a second when nothing changed.
compile: $(STAMP)
	$(PY) -m compiled.build

## System packages the tests need (Debian): promtool and prometheus, amtool (Alertmanager config check).
system-deps:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null; }

## Apache Kafka broker jars, resolved from Maven Central and cached.
kafka-jars: $(STAMP)
	$(PY) scripts/kafka_broker.py fetch

lint: $(STAMP)
	$(BIN)/ruff check models detectors streams compiled tests bench scripts dashboards schemas
	$(BIN)/ruff format --check models detectors streams compiled tests bench scripts dashboards schemas
	$(BIN)/mypy models detectors streams compiled dashboards schemas bench

test: setup compile system-deps kafka-jars lint
	$(BIN)/pytest

## Runs the monitor on the embedded Tansu broker with the built-in scenario.
run: setup
	-$(PY) -m compiled.build  # without a C compiler the demo runs as Python
	$(BIN)/opswarden demo

bench: setup compile
	$(PY) -m bench.judge
	$(PY) -m bench.detectors
	$(PY) -m bench.worst_cases

eval: setup compile
	$(BIN)/opswarden evaluate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache compiled/_build
