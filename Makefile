# The two commands: `make run` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# `make run` shows pip's own progress (the first install takes minutes); `make test` stays quiet.
PIP     = $(BIN)/python -m pip install --disable-pip-version-check --progress-bar on
PIP_Q   = $(BIN)/python -m pip install --disable-pip-version-check -q
ARGS   ?=

.PHONY: run test venv venv-all clean chromium

$(BIN)/python:
	@echo "==> Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(BIN)/python
	@echo "==> Installing Slipway and its dependencies into $(VENV) (the first time takes a few minutes)"
	$(PIP) -e .
	@echo "==> Installed; starting Slipway"
	@touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	@echo "==> Installing Slipway with every extra into $(VENV) (the first time takes several minutes)"
	$(PIP_Q) -e '.[all,dev]'
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
