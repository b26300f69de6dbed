# Two commands set everything up on a fresh machine: `make bench` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= minilm
TASKS ?=
CONDITIONS ?=
RESULTS ?= results

.PHONY: install bench test test-slow check lint types perf clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(BIN)/harness run --model "$(MODEL)" $(if $(TASKS),--tasks "$(TASKS)") $(if $(CONDITIONS),--conditions "$(CONDITIONS)") --results "$(RESULTS)"
	$(BIN)/harness aggregate --results "$(RESULTS)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check harness tests

types: $(STAMP)
	$(BIN)/mypy harness

check: lint types test

clean:
	rm -rf $(VENV) .cache
