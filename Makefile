# The two commands: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip install --disable-pip-version-check -q
ARGS   ?=

.PHONY: run test venv venv-all clean chromium

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

# The dashboard's browser tests drive the distribution's Chromium; install it once when it is missing
# (CI runs this as root on a fresh machine; elsewhere the tests fail and say how to install it).
CHROMIUM = /usr/bin/chromium

test: $(VENV)/.all chromium
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q $(ARGS)

chromium:
	@test -x $(CHROMIUM) || { echo "Installing chromium (apt-get) for the dashboard's browser tests..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || echo "Could not install chromium: the dashboard's browser tests will fail." >&2; }

clean:
	rm -rf $(VENV) .pytest_cache
