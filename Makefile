# PhoneGraph — the two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: serve test bench lint migrate schema install install-test clean migration migrations-squash assets

# Each set-up stage says what it does in one line (they run the first time only); pip
# is asked to print errors only (-qq), not its notices and build-backend warnings.
$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "PhoneGraph needs Python 3.11 or newer (PYTHON=$(PYTHON))" >&2; exit 1; }
	@echo "make: creating the virtual environment $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --quiet --disable-pip-version-check --upgrade pip

# Installs the project (and re-installs when pyproject.toml changes).
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	@echo "make: installing PhoneGraph and its Python packages into $(VENV) (about a minute the first time)"
	@$(PIP) install --quiet --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	@echo "make: installing PhoneGraph with its test tools into $(VENV) (about a minute the first time)"
	@$(PIP) install --quiet --quiet --disable-pip-version-check -e '.[test]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# GraphiQL's browser files (GraphiQL, React, ReactDOM) at the versions package-lock.json
# pins, copied into app/static/graphiql/vendor/ where the server serves them. With npm:
# `npm ci` of the packages the page needs (no devDependencies, no install scripts), then
# the copy. Without npm: app/static/install_graphiql_assets.py fetches those three
# packages from the addresses in the lock and checks their hashes (Python only). Either
# way the API works without them. Re-run when the lock file changes.
NPM    ?= npm
NODE   ?= node
ASSETS := app/static/graphiql/vendor/versions.json

$(ASSETS): package.json package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
		echo "make: fetching GraphiQL's browser files with npm (pinned in package-lock.json)"; \
		{ { [ node_modules/.package-lock.json -nt package-lock.json ] && [ -d node_modules/graphiql ]; } \
		  || $(NPM) ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null; } \
		&& $(NODE) app/static/install-graphiql-assets.mjs >/dev/null; \
	else \
		echo "make: fetching GraphiQL's browser files from the npm registry with Python (npm not found; pinned in package-lock.json)"; \
		$(PYTHON) app/static/install_graphiql_assets.py --quiet; \
	fi || echo "make: GraphiQL's files are not installed (the API works without them); retry with: make assets" >&2

assets: $(ASSETS)

# The Node.js tools some tests use (playwright-core drives the browser test, graphql-http
# audits GraphQL over HTTP): package.json's devDependencies, for `make test` only.
DEV_TOOLS := node_modules/.phonegraph-test-tools

$(DEV_TOOLS): package.json package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
		echo "make: installing the Node.js test tools with npm (playwright-core, graphql-http)"; \
		$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && touch $@; \
	else \
		echo "make: npm not found: the browser and graphql-http tests will be skipped" >&2; \
	fi

serve: $(VENV)/.installed $(ASSETS)
	$(PY) -m app serve

migrate: $(VENV)/.installed
	$(PY) -m app migrate

# The test tools first: their `npm ci` also brings what GraphiQL's files are copied from.
# The suite runs on TEST_WORKERS processes (pytest-xdist; default: one per CPU; `0` runs
# it in this process). Each worker has a PostgreSQL database of its own (see tests/conftest.py).
TEST_WORKERS ?= auto
test: $(VENV)/.installed-test $(DEV_TOOLS) $(ASSETS)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Benchmarks are not tests: `make bench` runs the GraphQL layer against a hand-written
# endpoint on PostgreSQL (BENCH_DATABASE_URL: created if missing, and emptied).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/bench_graphql
bench: $(VENV)/.installed-test
	$(PY) bench/graphql_vs_handwritten.py --database-url $(BENCH_DATABASE_URL) $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/lint-imports

# Regenerate schema.graphql after changing the GraphQL types.
schema: $(VENV)/.installed
	$(PY) -m app export-schema > schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache

# Developers: write a migration after changing models (both SQLite and PostgreSQL SQL).
migration: $(VENV)/.installed
	$(PY) -m app make-migration $(or $(NAME),update)

# Before the first release only: regenerate the single initial migration from the models.
migrations-squash: $(VENV)/.installed
	flock migrations/.lock $(PY) -m app make-migration init --squash
