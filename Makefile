# The two commands: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip install --disable-pip-version-check -q
ARGS   ?=

.PHONY: run test venv venv-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[all,dev]'
	@touch $@ $(VENV)/.core

venv: $(VENV)/.core
venv-all: $(VENV)/.all

run: $(VENV)/.core
	$(BIN)/slipway up --demo $(ARGS)

test: $(VENV)/.all
	$(BIN)/python -m pytest -n 2 -q $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
