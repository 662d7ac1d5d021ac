# regscan: `make run` starts the app (web + worker); `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export REGSCAN_GENERATE_SECRETS ?= 1

.PHONY: run test test-fast bench lint install install-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) scripts/run.py

test: install
	bash scripts/test.sh

test-fast: install
	bash scripts/test.sh -m "not slow"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) data test-output
