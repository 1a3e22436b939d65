# PhoneGraph — the two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: serve test lint migrate schema install install-test clean migration migrations-squash

$(VENV)/bin/python:
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

serve: $(VENV)/.installed
	$(PY) -m app serve

migrate: $(VENV)/.installed
	$(PY) -m app migrate

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check app tests bench

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
