# Custodia developer entry points. `make serve` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint unit install dev clean-venv locales screenshots

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

## Web interface catalogues: re-extract the messages (page texts and the domain's refusals,
## see service/web/extract.py), update ko/en, compile the .mo files.
locales: $(VENV)/.dev-installed
	$(BIN)/pybabel extract -F service/web/babel.cfg --no-location \
		--sort-output --project=Custodia -o service/web/locales/messages.pot .
	$(BIN)/pybabel update -i service/web/locales/messages.pot -d service/web/locales --no-fuzzy-matching
	$(BIN)/pybabel compile -d service/web/locales

## Screenshots of the main web pages (docs/screenshots), taken by the browser test.
screenshots: $(VENV)/.dev-installed
	CUSTODIA_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/e2e/test_browser_e2e.py -q

clean-venv:
	rm -rf $(VENV)
