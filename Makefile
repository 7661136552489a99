# Custodia developer entry points. `make serve` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint unit install dev clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

## Install, initialise ./data on first run (prints the admin's one-time password), serve.
serve: $(VENV)/.installed
	CUSTODIA_DATA_DIR=$(DATA_DIR) $(BIN)/custodia serve --init-if-needed --host $(HOST) --port $(PORT)

## Static checks: lint, strict typing, layering contract, generated schema in step.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check service cli verifier
	$(BIN)/ruff format --check service cli verifier
	$(BIN)/mypy --strict service cli verifier
	$(BIN)/lint-imports
	$(BIN)/custodia schema export --check

## The whole suite on SQLite and PostgreSQL (127.0.0.1:5432), after the static checks.
test: lint
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
