# PhoneGraph — the two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: serve test lint migrate schema install install-test clean migration migrations-squash assets

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "PhoneGraph needs Python 3.11 or newer (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Installs the project (and re-installs when pyproject.toml changes).
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# GraphiQL's browser files (and the Node tools some tests use) from the npm registry, at
# the versions package-lock.json pins, then the served files copied into
# app/static/graphiql/vendor/ (no package's own install scripts run). Re-run when the
# lock file changes.
NPM    ?= npm
NODE   ?= node
ASSETS := app/static/graphiql/vendor/versions.json

$(ASSETS): package.json package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error && \
		$(NODE) app/static/install-graphiql-assets.mjs; \
	else \
		echo "npm not found: GraphiQL will not be available (the API works)." \
		     "Install Node.js 20 and npm, then run: make assets" >&2; \
	fi

assets: $(ASSETS)

serve: $(VENV)/.installed $(ASSETS)
	$(PY) -m app serve

migrate: $(VENV)/.installed
	$(PY) -m app migrate

test: $(VENV)/.installed-test $(ASSETS)
	$(PY) -m pytest $(PYTEST_ARGS)

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
