# Two commands matter: `make dev` runs the example app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/reactor dev .

test: $(STAMP)
	$(BIN)/ruff check reactor tests
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check reactor tests

clean:
	rm -rf $(VENV) .reactor
